// Tributary on Azure, deployed by `azd up` (azure.yaml at the repository root): a resource group holding the
// Function app on Flex Consumption and everything it connects to, each reached with one user-assigned identity.
// The Event Grid subscriptions need the app's extension keys, which exist only after the code is deployed: the
// postdeploy hook deploys eventgrid-subscriptions.bicep then (hooks/postdeploy.sh).
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name: names the resource group and seeds the resource names')
param environmentName string

@minLength(1)
@description('Region of every resource (Flex Consumption and the OpenAI models must be offered there)')
param location string

@allowed(['cosmos', 'postgres'])
@description('Job store: Cosmos DB serverless, or PostgreSQL Flexible Server with Entra authentication')
param jobStore string = 'cosmos'

@allowed([512, 2048, 4096])
@description('Memory of one Flex Consumption instance (MB)')
param instanceMemoryMB int = 2048

@minValue(1)
@maxValue(1000)
@description('Most instances Flex Consumption scales the app out to')
param maximumInstanceCount int = 100

@minValue(1)
@description('Deliveries before a stage message is dead-lettered: the queues\' maxDeliveryCount and the app\'s TRIBUTARY_MAX_DELIVERY_COUNT')
param maxDeliveryCount int = 10

@description('Peek-lock duration of the stage queues (ISO 8601, at most PT5M); the host renews it while a function runs')
param queueLockDuration string = 'PT1M'

@description('Duplicate detection window of the stage queues in seconds: the queues\' duplicateDetectionHistoryTimeWindow and the app\'s TRIBUTARY_DUPLICATE_DETECTION_WINDOW_SECONDS (a dead-letter replay waits this long after a message\'s enqueue, or its resend would be dropped)')
@minValue(20)
@maxValue(604800)
param duplicateDetectionWindowSeconds int = 600

@description('Bolt URI of the Neo4j graph (Aura: neo4j+s://<id>.databases.neo4j.io)')
param neo4jUri string

@description('Neo4j user')
param neo4jUser string = 'neo4j'

@secure()
@description('Neo4j password, stored in Key Vault')
param neo4jPassword string

@description('Neo4j database (empty: the server\'s default)')
param neo4jDatabase string = ''

@description('Webhook a CloudEvents event is POSTed to when a job or bulk run ends (empty: none). A URL holding a key: pass a Key Vault reference, @Microsoft.KeyVault(SecretUri=...)')
param notifyWebhookUrl string = ''

@description('Event Grid topic endpoint the same events go to (empty: none); grant the app\'s identity EventGrid Data Sender on the topic')
param notifyEventGridEndpoint string = ''

@allowed(['all', 'failed'])
@description('Which ends are announced: all, or only failures')
param notifyEvents string = 'all'

@allowed(['free', 'basic', 'standard'])
@description('Azure AI Search tier')
param searchSku string = 'basic'

@description('Rerank hybrid searches with the semantic ranker (billed per query)')
param searchSemantic bool = false

param embeddingModel string = 'text-embedding-3-small'
param embeddingModelVersion string = '1'
@description('Embedding deployment capacity, thousands of tokens per minute')
param embeddingCapacity int = 120
@description('Dimension of every vector (the embedding requests and the search index)')
param embeddingDimension int = 256
param chatModel string = 'gpt-4o-mini'
param chatModelVersion string = '2024-07-18'
@description('Chat deployment capacity, thousands of tokens per minute')
param chatCapacity int = 30

@description('Deploy Azure AI Document Intelligence for the OCR of PDFs without a text layer')
param enableOcr bool = false

@description('E-mail address for the alerts (empty: alerts show in the portal only)')
param alertEmail string = ''

@description('Active messages in one stage queue that count as a backlog')
param backlogThreshold int = 1000

@description('Failed function executions in 5 minutes that raise an alert')
param failureThreshold int = 5

@description('Percent of the files ended in 15 minutes that failed, above which an alert is raised')
param failureRatePercent int = 10

@description('Age in seconds of a stage message at dequeue above which an alert is raised')
param queueAgeSeconds int = 900

@description('Percent of extracted chunks in an hour left to the offline fallback, above which an alert is raised')
param llmFallbackPercent int = 20

var token = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var containers = {
  incoming: 'incoming'
  work: 'work'
  deployment: 'app-package-${token}'
  deadLetter: 'eventgrid-deadletter'
}
// Stage name to queue name: Service Bus creates these queues and the app reads them as TRIBUTARY_QUEUE_*.
var queueNames = {
  enrich: 'enrich'
  extract: 'extract'
  graph: 'graph'
  vector: 'vector'
  cleanup: 'cleanup'
  delete: 'delete'
}
var cosmosDatabase = 'tributary'
var postgresDatabase = 'tributary'
var embeddingDeployment = 'embedding'
var chatDeployment = 'chat'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-${token}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${token}'
    applicationInsightsName: 'appi-${token}'
    location: location
    tags: tags
    identityPrincipalId: identity.outputs.principalId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${token}'
    location: location
    tags: tags
    identityPrincipalId: identity.outputs.principalId
    incomingContainer: containers.incoming
    workContainer: containers.work
    deploymentContainer: containers.deployment
    deadLetterContainer: containers.deadLetter
    systemTopicName: 'evgt-${token}'
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  scope: rg
  params: {
    name: 'sb-${token}'
    location: location
    tags: tags
    identityPrincipalId: identity.outputs.principalId
    queueNames: queueNames
    maxDeliveryCount: maxDeliveryCount
    lockDuration: queueLockDuration
    duplicateDetectionWindow: 'PT${duplicateDetectionWindowSeconds}S'
  }
}

module cosmos 'modules/cosmos.bicep' = if (jobStore == 'cosmos') {
  name: 'cosmos'
  scope: rg
  params: {
    name: 'cosmos-${token}'
    location: location
    tags: tags
    identityPrincipalId: identity.outputs.principalId
    databaseName: cosmosDatabase
  }
}

module postgres 'modules/postgres.bicep' = if (jobStore == 'postgres') {
  name: 'postgres'
  scope: rg
  params: {
    name: 'psql-${token}'
    location: location
    tags: tags
    identityPrincipalId: identity.outputs.principalId
    identityName: identity.outputs.name
    databaseName: postgresDatabase
  }
}

module search 'modules/search.bicep' = {
  name: 'search'
  scope: rg
  params: {
    name: 'srch-${token}'
    location: location
    tags: tags
    identityPrincipalId: identity.outputs.principalId
    sku: searchSku
    semantic: searchSemantic
  }
}

module openAI 'modules/openai.bicep' = {
  name: 'openai'
  scope: rg
  params: {
    name: 'oai-${token}'
    location: location
    tags: tags
    identityPrincipalId: identity.outputs.principalId
    embeddingDeploymentName: embeddingDeployment
    embeddingModel: embeddingModel
    embeddingModelVersion: embeddingModelVersion
    embeddingCapacity: embeddingCapacity
    chatDeploymentName: chatDeployment
    chatModel: chatModel
    chatModelVersion: chatModelVersion
    chatCapacity: chatCapacity
  }
}

module documentIntelligence 'modules/docintel.bicep' = if (enableOcr) {
  name: 'docintel'
  scope: rg
  params: {
    name: 'di-${token}'
    location: location
    tags: tags
    identityPrincipalId: identity.outputs.principalId
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-${token}'
    location: location
    tags: tags
    identityPrincipalId: identity.outputs.principalId
    neo4jPassword: neo4jPassword
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    name: 'func-${token}'
    planName: 'plan-${token}'
    location: location
    tags: tags
    serviceName: 'api'
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    storageBlobEndpoint: storage.outputs.blobEndpoint
    storageQueueEndpoint: storage.outputs.queueEndpoint
    storageTableEndpoint: storage.outputs.tableEndpoint
    deploymentContainer: containers.deployment
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    incomingContainer: containers.incoming
    workContainer: containers.work
    queueNames: queueNames
    serviceBusNamespace: serviceBus.outputs.fullyQualifiedNamespace
    maxDeliveryCount: maxDeliveryCount
    duplicateDetectionWindowSeconds: duplicateDetectionWindowSeconds
    jobStore: jobStore
    cosmosEndpoint: jobStore == 'cosmos' ? cosmos.outputs.endpoint : ''
    cosmosDatabase: cosmosDatabase
    postgresDsn: jobStore == 'postgres' ? postgres.outputs.dsn : ''
    searchEndpoint: search.outputs.endpoint
    searchSemantic: searchSemantic
    openAIEndpoint: openAI.outputs.endpoint
    embeddingDeployment: openAI.outputs.embeddingDeployment
    chatDeployment: openAI.outputs.chatDeployment
    chatTokensPerMinute: chatCapacity * 1000
    embeddingDimension: embeddingDimension
    documentIntelligenceEndpoint: enableOcr ? documentIntelligence.outputs.endpoint : ''
    neo4jUri: neo4jUri
    neo4jUser: neo4jUser
    neo4jDatabase: neo4jDatabase
    neo4jPasswordReference: keyVault.outputs.neo4jPasswordReference
    notifyWebhookUrl: notifyWebhookUrl
    notifyEventGridEndpoint: notifyEventGridEndpoint
    notifyEvents: notifyEvents
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    namePrefix: 'tributary-${token}'
    tags: tags
    serviceBusNamespaceId: serviceBus.outputs.id
    queueNames: map(items(queueNames), queue => queue.value)
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    storageQueueServiceId: storage.outputs.queueServiceId
    systemTopicId: storage.outputs.systemTopicId
    backlogThreshold: backlogThreshold
    failureThreshold: failureThreshold
    alertEmail: alertEmail
    location: location
    failureRatePercent: failureRatePercent
    queueAgeSeconds: queueAgeSeconds
    llmFallbackPercent: llmFallbackPercent
  }
}

// azd stores outputs in the environment (.azure/<env>/.env); the postdeploy hook reads them.
output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_EVENTGRID_SYSTEM_TOPIC_NAME string = storage.outputs.systemTopicName
output TRIBUTARY_INCOMING_CONTAINER string = containers.incoming
output TRIBUTARY_EVENTGRID_DEADLETTER_CONTAINER string = containers.deadLetter
output AZURE_SERVICEBUS_NAMESPACE string = serviceBus.outputs.name
output AZURE_OPENAI_CHAT_DEPLOYMENT string = openAI.outputs.chatDeployment
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
