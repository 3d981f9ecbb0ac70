// Service Bus (Standard) and one queue per stage. Every queue detects duplicates (each message's MessageId is
// deterministic, so a resend is dropped), dead-letters after maxDeliveryCount deliveries (the same parameter the app
// reads as TRIBUTARY_MAX_DELIVERY_COUNT, so the job store and the queue agree on when a message is lost) and on
// expiry.
param name string
param location string
param tags object
param identityPrincipalId string
@description('Stage name to queue name (the app settings TRIBUTARY_QUEUE_* read the same object)')
param queueNames object
param maxDeliveryCount int
param lockDuration string
param duplicateDetectionWindow string = 'PT10M'
param messageTimeToLive string = 'P14D'

var azureServiceBusDataReceiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
var azureServiceBusDataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'

resource namespace 'Microsoft.ServiceBus/namespaces@2021-11-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    minimumTlsVersion: '1.2'
    disableLocalAuth: true
  }
}

resource queues 'Microsoft.ServiceBus/namespaces/queues@2021-11-01' = [
  for queue in items(queueNames): {
    parent: namespace
    name: queue.value
    properties: {
      requiresDuplicateDetection: true
      duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
      maxDeliveryCount: maxDeliveryCount
      lockDuration: lockDuration
      deadLetteringOnMessageExpiration: true
      defaultMessageTimeToLive: messageTimeToLive
      maxSizeInMegabytes: 1024
      requiresSession: false
      enablePartitioning: false
    }
  }
]

resource receiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(namespace.id, identityPrincipalId, azureServiceBusDataReceiver)
  scope: namespace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', azureServiceBusDataReceiver)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource sender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(namespace.id, identityPrincipalId, azureServiceBusDataSender)
  scope: namespace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', azureServiceBusDataSender)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output id string = namespace.id
output name string = namespace.name
// serviceBusEndpoint is https://<name>.servicebus.windows.net:443/ (or a sovereign cloud's suffix): the host name
output fullyQualifiedNamespace string = split(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':')[0]
