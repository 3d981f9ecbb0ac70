// The Function app on Flex Consumption (Python 3.11) and its app settings: exactly the settings the code reads
// (tests/infra/test_settings_consistency.py compares them with shared/config.py and the bindings). Every
// connection is identity-based (<connection>__<service endpoint> + __credential + __clientId): no keys. Flex takes
// the runtime from functionAppConfig, so FUNCTIONS_WORKER_RUNTIME is not (and must not be) an app setting.
param name string
param planName string
param location string
param tags object
@description('azd deploys the code to the service that carries this tag (azure.yaml services)')
param serviceName string
param identityId string
param identityClientId string
param applicationInsightsConnectionString string
param storageBlobEndpoint string
param storageQueueEndpoint string
param storageTableEndpoint string
param deploymentContainer string
@allowed([512, 2048, 4096])
param instanceMemoryMB int
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

param incomingContainer string
param workContainer string
param queueNames object
param serviceBusNamespace string
param maxDeliveryCount int
param duplicateDetectionWindowSeconds int
@allowed(['cosmos', 'postgres'])
param jobStore string
param cosmosEndpoint string
param cosmosDatabase string
param postgresDsn string
param searchEndpoint string
param searchSemantic bool
param openAIEndpoint string
param embeddingDeployment string
param chatDeployment string
@description('The chat deployment\'s quota: what every worker together may reserve per minute')
param chatTokensPerMinute int
param embeddingDimension int
param documentIntelligenceEndpoint string
param neo4jUri string
param neo4jUser string
param neo4jDatabase string
param neo4jPasswordReference string
@description('Completion notifications (empty: off); the Event Grid topic is reached with the app\'s identity')
param notifyWebhookUrl string = ''
param notifyEventGridEndpoint string = ''
@allowed(['all', 'failed'])
param notifyEvents string = 'all'

// The worker's thread pool: host.json's serviceBus.maxConcurrentCalls (8) times the six queue functions
// (shared/config.py WORKER_THREADS; a test keeps the two equal).
var workerThreads = '48'

// The Functions platform: host storage, telemetry, and the identity DefaultAzureCredential picks.
var platformSettings = {
  AzureWebJobsStorage__blobServiceUri: storageBlobEndpoint
  AzureWebJobsStorage__queueServiceUri: storageQueueEndpoint
  // Durable Functions' task hub (the bulk orchestrations): queues and tables on the host storage.
  AzureWebJobsStorage__tableServiceUri: storageTableEndpoint
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // The Python worker configures the Azure Monitor distro itself (with host.json's telemetryMode OpenTelemetry);
  // shared/telemetry then adds the app's spans and metrics to it instead of configuring a second pipeline.
  PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY: 'true'
  // A DefaultAzureCredential built without a client id (the Document Intelligence reader) finds the user-assigned
  // identity by this variable; an app with only a user-assigned identity has no default one.
  AZURE_CLIENT_ID: identityClientId
  PYTHON_THREADPOOL_THREAD_COUNT: workerThreads
}

// The app's connections (shared/config.py), identity-based.
var connectionSettings = {
  ServiceBusConnection__fullyQualifiedNamespace: serviceBusNamespace
  ServiceBusConnection__credential: 'managedidentity'
  ServiceBusConnection__clientId: identityClientId
  SearchConnection__endpoint: searchEndpoint
  SearchConnection__credential: 'managedidentity'
  SearchConnection__clientId: identityClientId
  OpenAIConnection__endpoint: openAIEndpoint
  OpenAIConnection__credential: 'managedidentity'
  OpenAIConnection__clientId: identityClientId
}

// TRIBUTARY_* settings (shared/config.Settings). Literal values are the code's defaults unless the deployment
// needs another (the backends); a test keeps them equal to the code's defaults.
var tributarySettings = {
  TRIBUTARY_INCOMING_CONTAINER: incomingContainer
  TRIBUTARY_WORK_CONTAINER: workContainer
  TRIBUTARY_QUEUE_ENRICH: queueNames.enrich
  TRIBUTARY_QUEUE_EXTRACT: queueNames.extract
  TRIBUTARY_QUEUE_GRAPH: queueNames.graph
  TRIBUTARY_QUEUE_VECTOR: queueNames.vector
  TRIBUTARY_QUEUE_CLEANUP: queueNames.cleanup
  TRIBUTARY_QUEUE_DELETE: queueNames.delete
  TRIBUTARY_JOB_STORE: jobStore
  TRIBUTARY_FILE_MAX_BYTES: '1073741824'
  TRIBUTARY_CHUNK_TOKENS: '512'
  TRIBUTARY_CHUNK_OVERLAP_TOKENS: '64'
  TRIBUTARY_CHUNK_TOKENIZER: 'cl100k_base'
  TRIBUTARY_CHUNK_MAX_CHARS: '8000'
  TRIBUTARY_BATCH_MAX_CHUNKS: '64'
  TRIBUTARY_CLAIM_CHECK_BYTES: '192000'
  TRIBUTARY_MAX_DELIVERY_COUNT: string(maxDeliveryCount)
  TRIBUTARY_DUPLICATE_DETECTION_WINDOW_SECONDS: string(duplicateDetectionWindowSeconds)
  TRIBUTARY_EMBEDDING_DIMENSION: string(embeddingDimension)
  // Empty: the YAML files packaged with the app.
  TRIBUTARY_EXTRACTION_SCHEMA: ''
  TRIBUTARY_INGESTION_CONFIG: ''
  TRIBUTARY_MAX_ISSUES_PER_FILE: '1000'
  TRIBUTARY_BUS: 'servicebus'
  TRIBUTARY_GRAPH: 'neo4j'
  TRIBUTARY_VECTORS: 'aisearch'
  TRIBUTARY_SEARCH_INDEX: 'tributary-chunks'
  // Empty unless the optional Document Intelligence account is deployed (enableOcr).
  TRIBUTARY_DOCUMENT_INTELLIGENCE_ENDPOINT: documentIntelligenceEndpoint
  TRIBUTARY_SEARCH_SEMANTIC: searchSemantic ? 'true' : 'false'
  TRIBUTARY_EMBEDDER: 'azure_openai'
  TRIBUTARY_AZURE_OPENAI_EMBEDDING_DEPLOYMENT: embeddingDeployment
  TRIBUTARY_AZURE_OPENAI_API_VERSION: '2024-10-21'
  TRIBUTARY_AZURE_OPENAI_BATCH_INPUTS: '2048'
  TRIBUTARY_AZURE_OPENAI_BATCH_TOKENS: '300000'
  TRIBUTARY_AZURE_OPENAI_MAX_RETRIES: '4'
  TRIBUTARY_AZURE_OPENAI_TIMEOUT_SECONDS: '60.0'
  // The LLM extractor on the chat deployment, within its quota, falling back to the rules when it is spent or down.
  TRIBUTARY_EXTRACTOR: 'llm'
  TRIBUTARY_AZURE_OPENAI_CHAT_DEPLOYMENT: chatDeployment
  TRIBUTARY_LLM_TOKENS_PER_MINUTE: string(chatTokensPerMinute)
  TRIBUTARY_LLM_TOKENS_PER_JOB: '1000000'
  TRIBUTARY_LLM_REQUEST_TOKENS: '16000'
  TRIBUTARY_LLM_OUTPUT_TOKENS: '4096'
  TRIBUTARY_LLM_FALLBACK_EXTRACTOR: 'rules'
  TRIBUTARY_LLM_TIMEOUT_SECONDS: '120.0'
  TRIBUTARY_TELEMETRY: 'auto'
  TRIBUTARY_BULK_PAGE_SIZE: '500'
  TRIBUTARY_BULK_BATCH_SIZE: '16'
  TRIBUTARY_BULK_COMMUNITIES: 'True'
  TRIBUTARY_BULK_SETTLE_POLL_SECONDS: '30'
  TRIBUTARY_BULK_SETTLE_TIMEOUT_SECONDS: '7200'
  TRIBUTARY_COMMUNITY_RESOLUTION: '1.0'
  TRIBUTARY_COMMUNITY_MAX_LEVELS: '4'
  TRIBUTARY_COMMUNITY_MIN_SIZE: '2'
  TRIBUTARY_COMMUNITY_SUMMARY_MAX_TOKENS: '600'
  TRIBUTARY_NEO4J_URI: neo4jUri
  TRIBUTARY_NEO4J_USER: neo4jUser
  TRIBUTARY_NEO4J_PASSWORD: neo4jPasswordReference
  TRIBUTARY_NEO4J_DATABASE: neo4jDatabase
  TRIBUTARY_NOTIFY_WEBHOOK_URL: notifyWebhookUrl
  TRIBUTARY_NOTIFY_EVENTGRID_ENDPOINT: notifyEventGridEndpoint
  TRIBUTARY_NOTIFY_EVENTS: notifyEvents
  TRIBUTARY_NOTIFY_TIMEOUT_SECONDS: '5.0'
  TRIBUTARY_NOTIFY_RETRIES: '3'
}

// What only one job store reads.
var cosmosSettings = {
  CosmosConnection__accountEndpoint: cosmosEndpoint
  CosmosConnection__credential: 'managedidentity'
  CosmosConnection__clientId: identityClientId
  TRIBUTARY_COSMOS_DATABASE: cosmosDatabase
}
var postgresSettings = {
  TRIBUTARY_POSTGRES_DSN: postgresDsn
  TRIBUTARY_POSTGRES_AUTH: 'entra'
  TRIBUTARY_POSTGRES_CLIENT_ID: identityClientId
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references resolve with the user-assigned identity (the default would be a system-assigned one).
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainer}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// The whole set, replacing whatever was there: a setting removed here is removed from the app.
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(
    platformSettings,
    connectionSettings,
    tributarySettings,
    jobStore == 'cosmos' ? cosmosSettings : postgresSettings
  )
}

output id string = site.id
output name string = site.name
output defaultHostName string = site.properties.defaultHostName
