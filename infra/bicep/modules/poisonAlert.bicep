// Alerts operators when a queue message lands in a poison queue (from the queue write logs in Log Analytics).

param namePrefix string
param location string
param workspaceId string
param alertEmail string
param tags object

// A message moved to "<queue>-poison" is a PutMessage on that queue. Replays (`backup-admin
// poison replay`) delete from the poison queue and never match.
var poisonQuery = '''
StorageQueueLogs
| where OperationName == "PutMessage" and StatusCode between (200 .. 299)
| extend QueueName = tostring(split(trim_start("/", tostring(parse_url(Uri).Path)), "/")[0])
| where QueueName endswith "-poison"
| summarize Messages = count() by QueueName
'''

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: '${namePrefix}-ops'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'backupops'
    enabled: true
    emailReceivers: empty(alertEmail) ? [] : [
      {
        name: 'operators'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

resource poisonMessages 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: '${namePrefix}-poison-messages'
  location: location
  tags: tags
  properties: {
    description: 'A queue message failed maxDequeueCount times and was moved to a poison queue: list it with `backup-admin poison list`, fix the cause, replay it.'
    severity: 2
    enabled: true
    scopes: [
      workspaceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    autoMitigate: false
    criteria: {
      allOf: [
        {
          query: poisonQuery
          timeAggregation: 'Total'
          metricMeasureColumn: 'Messages'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'QueueName'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}
