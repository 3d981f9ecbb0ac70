// Alert rules on platform metrics: dead letters per stage queue, a backlog per queue, failed function executions,
// poison blobs and Event Grid dead letters; and on the app's own metrics (shared/telemetry/names.py, the names
// checked like the workbook's): the share of files that failed, the age of stage messages at dequeue, and the share
// of chunks the LLM extractor left to its offline fallback (budget spent, throttling, outages).
param namePrefix string
param location string
param tags object
param serviceBusNamespaceId string
param queueNames array
param applicationInsightsId string
param storageQueueServiceId string
param systemTopicId string
@description('Active messages in one queue that count as a backlog')
param backlogThreshold int
@description('Failed executions in 5 minutes that raise an alert')
param failureThreshold int
@description('E-mail address for the alerts; empty: alerts show in the portal only')
param alertEmail string
@description('Percent of the files ended in 15 minutes that failed, above which an alert is raised')
param failureRatePercent int
@description('Age in seconds of a stage message at dequeue above which an alert is raised (the pipeline lags)')
param queueAgeSeconds int
@description('Percent of extracted chunks in an hour read by the offline fallback instead of the LLM, above which an alert is raised')
param llmFallbackPercent int

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: '${namePrefix}-ops'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'tributary'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var actions = empty(alertEmail) ? [] : [
  {
    actionGroupId: actionGroup.id
  }
]
var queryActions = empty(alertEmail) ? [] : [
  actionGroup.id
]

// One rule per metric, split by queue (EntityName): each queue alerts on its own.
resource deadLetters 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-dead-letters'
  location: 'global'
  tags: tags
  properties: {
    description: 'A stage queue holds dead-lettered messages: replay or inspect them (infra/README.md).'
    severity: 2
    enabled: true
    scopes: [
      serviceBusNamespaceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeadletteredMessages'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: queueNames
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
    autoMitigate: true
    actions: actions
  }
}

resource backlog 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-backlog'
  location: 'global'
  tags: tags
  properties: {
    description: 'A stage queue is not keeping up: its active messages stayed above the threshold for 15 minutes.'
    severity: 3
    enabled: true
    scopes: [
      serviceBusNamespaceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'ActiveMessages'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'ActiveMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: queueNames
            }
          ]
          operator: 'GreaterThan'
          threshold: backlogThreshold
          timeAggregation: 'Minimum'
        }
      ]
    }
    autoMitigate: true
    actions: actions
  }
}

// Function executions are requests in Application Insights; a failed one is a failed request.
resource failures 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-function-failures'
  location: 'global'
  tags: tags
  properties: {
    description: 'Function executions are failing (Application Insights failed requests).'
    severity: 2
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'FailedRequests'
          metricNamespace: 'Microsoft.Insights/components'
          metricName: 'requests/failed'
          operator: 'GreaterThan'
          threshold: failureThreshold
          timeAggregation: 'Count'
        }
      ]
    }
    autoMitigate: true
    actions: actions
  }
}

// The blob trigger's poison queue is the only queue in the account, so any queue message is a poison blob.
// Storage reports queue capacity metrics about once an hour.
resource poisonBlobs 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-poison-blobs'
  location: 'global'
  tags: tags
  properties: {
    description: 'Blobs failed ingest 5 times and sit in webjobs-blobtrigger-poison.'
    severity: 2
    enabled: true
    scopes: [
      storageQueueServiceId
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'PT1H'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'QueueMessageCount'
          metricNamespace: 'Microsoft.Storage/storageAccounts/queueServices'
          metricName: 'QueueMessageCount'
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Average'
        }
      ]
    }
    autoMitigate: true
    actions: actions
  }
}

resource eventDeadLetters 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-event-dead-letters'
  location: 'global'
  tags: tags
  properties: {
    description: 'Event Grid could not deliver blob events to the app and dead-lettered them.'
    severity: 2
    enabled: true
    scopes: [
      systemTopicId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeadLetteredCount'
          metricNamespace: 'Microsoft.EventGrid/systemTopics'
          metricName: 'DeadLetteredCount'
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
        }
      ]
    }
    autoMitigate: true
    actions: actions
  }
}

// Log alerts on the app's metrics in Application Insights (customMetrics, written by the Azure Monitor distro).
resource failureRate 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-failure-rate'
  location: location
  tags: tags
  properties: {
    displayName: '${namePrefix}: files failing'
    description: 'Too many of the files that ended in the last 15 minutes failed; the workbook lists them by reason code.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: 'customMetrics | where name == "tributary.files" | extend state = tostring(customDimensions["tributary.job.state"]) | summarize failed = sumif(valueSum, state == "failed"), ended = sum(valueSum) | extend rate = iff(ended == 0, 0.0, 100.0 * failed / ended)'
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'rate'
          operator: 'GreaterThan'
          threshold: failureRatePercent
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: queryActions
    }
  }
}

resource queueAge 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-queue-age'
  location: location
  tags: tags
  properties: {
    displayName: '${namePrefix}: pipeline lagging'
    description: 'Stage messages wait too long before a worker takes them: the pipeline is not keeping up.'
    severity: 3
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: 'customMetrics | where name == "tributary.queue.age" | summarize worst = max(valueMax)'
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'worst'
          operator: 'GreaterThan'
          threshold: queueAgeSeconds
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: queryActions
    }
  }
}

resource llmFallback 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-llm-fallback'
  location: location
  tags: tags
  properties: {
    displayName: '${namePrefix}: LLM extraction falling back'
    description: 'The offline extractor read too many chunks instead of the chat model (budget spent, throttled or down); the workbook shows the reasons.'
    severity: 3
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT1H'
    criteria: {
      allOf: [
        {
          query: 'customMetrics | where name == "tributary.llm.chunks" | extend source = tostring(customDimensions["tributary.llm.chunk_source"]) | summarize fallback = sumif(valueSum, source == "fallback"), all = sum(valueSum) | extend rate = iff(all == 0, 0.0, 100.0 * fallback / all)'
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'rate'
          operator: 'GreaterThan'
          threshold: llmFallbackPercent
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: queryActions
    }
  }
}
