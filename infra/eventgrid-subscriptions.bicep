// The storage account's Event Grid subscriptions, deployed by the postdeploy hook (hooks/postdeploy.sh) once the
// code is on the app: their webhook URLs carry the blob and Event Grid extensions' system keys, which the host
// creates when it first indexes a function of that trigger, and Event Grid validates a webhook when the
// subscription is created. The keys are read here with listKeys, so they never pass through a shell or a log.
//   BlobCreated -> the blob trigger `ingest` (source=EventGrid): runtime/webhooks/blobs?functionName=Host.Functions.ingest
//   BlobDeleted -> the Event Grid trigger `blob_deleted`:       runtime/webhooks/eventgrid?functionName=blob_deleted
// Both only for the incoming container, both dead-lettering undeliverable events into a container of the account.
param functionAppName string
param systemTopicName string
param storageAccountName string
param incomingContainer string
param deadLetterContainer string

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

// The host's keys (POST .../host/default/listkeys, the Microsoft.Web API version of the site).
var systemKeys = listKeys('${site.id}/host/default', '2024-04-01').systemKeys
var baseUrl = 'https://${site.properties.defaultHostName}/runtime/webhooks'
var incomingSubject = '/blobServices/default/containers/${incomingContainer}/'

// Retry for a day, then dead-letter: the blob stays in the container, so a dead-lettered event can be replayed by
// re-uploading the blob (or `POST /api/bulk`) once the cause is fixed.
var retryPolicy = {
  maxDeliveryAttempts: 30
  eventTimeToLiveInMinutes: 1440
}
var deadLetter = {
  identity: {
    type: 'SystemAssigned'
  }
  deadLetterDestination: {
    endpointType: 'StorageBlob'
    properties: {
      resourceId: account.id
      blobContainerName: deadLetterContainer
    }
  }
}

resource blobCreated 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: systemTopic
  name: 'ingest-blob-created'
  properties: {
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: '${baseUrl}/blobs?functionName=Host.Functions.ingest&code=${systemKeys.blobs_extension}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.Storage.BlobCreated'
      ]
      subjectBeginsWith: incomingSubject
      isSubjectCaseSensitive: true
    }
    eventDeliverySchema: 'EventGridSchema'
    retryPolicy: retryPolicy
    deadLetterWithResourceIdentity: deadLetter
  }
}

resource blobDeleted 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: systemTopic
  name: 'blob-deleted'
  properties: {
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: '${baseUrl}/eventgrid?functionName=blob_deleted&code=${systemKeys.eventgrid_extension}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.Storage.BlobDeleted'
      ]
      subjectBeginsWith: incomingSubject
      isSubjectCaseSensitive: true
    }
    eventDeliverySchema: 'EventGridSchema'
    retryPolicy: retryPolicy
    deadLetterWithResourceIdentity: deadLetter
  }
}
