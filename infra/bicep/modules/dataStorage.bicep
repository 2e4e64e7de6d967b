// One data storage account (primary with queues, or paired region without) and the app identity's roles on it.

param accountName string
param location string
@description('Queues to create, each with its "<name>-poison" twin; empty: no queue service role either.')
param queueNames array
param softDeleteDays int
@description('0: off; N: version-level WORM, each blob version immutable for N days.')
param immutabilityDays int
@description('Lock the immutability policy (irreversible).')
param immutabilityLocked bool
param principalId string
@description('Log Analytics workspace receiving the queue write logs (the poison-queue alert reads them).')
param workspaceId string
param tags object

var withQueues = !empty(queueNames)
var poisonQueues = [for queue in queueNames: '${queue}-poison']
var allQueues = concat(queueNames, poisonQueues)

// Least privilege on exactly this account: blob data for the service (it includes
// generateUserDelegationKey, the key that signs the clients' SAS: no Storage Blob Delegator role);
// queue data only where the queues live.
var blobRoles = [
  'ba92f5b4-2d11-453d-a403-e96b0029c9fe' // Storage Blob Data Contributor
]
var queueRoles = [
  '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Storage Queue Data Contributor
]
var roles = withQueues ? concat(blobRoles, queueRoles) : blobRoles

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_206: LRS by design: GRS vaults are copied to the paired-region account by the replication function, which records the replication state per recovery point.
  // checkov:skip=CKV_AZURE_59: Backup agents on customer machines upload and restore over the public endpoint with short-lived user delegation SAS.
  // checkov:skip=CKV_AZURE_35: Default action Allow for the same reason: agents connect from arbitrary customer networks; every request needs Entra ID or a user delegation SAS.
  // checkov:skip=CKV_AZURE_43: The name is a parameter (checkov cannot evaluate it): main.bicep passes <namePrefix>pri or <namePrefix>sec.
  name: accountName
  location: location
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  tags: tags
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false // the service signs user delegation SAS with its identity
    defaultToOAuthAuthentication: true
    isLocalUserEnabled: false
    allowCrossTenantReplication: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
        }
        file: {
          enabled: true
        }
      }
    }
    sasPolicy: {
      // Applies to account-key SAS only (there are none); user delegation SAS lasts a session.
      sasExpirationPeriod: '1.00:00:00'
      expirationAction: 'Log'
    }
    immutableStorageWithVersioning: immutabilityDays > 0 ? {
      enabled: true
      immutabilityPolicy: {
        immutabilityPeriodSinceCreationInDays: immutabilityDays
        state: immutabilityLocked ? 'Locked' : 'Unlocked'
        allowProtectedAppendWrites: false
      }
    } : null
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    isVersioningEnabled: true
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
  }
}

// Versioning keeps a deleted blob as a previous version: expire those once the soft-delete
// window is over, or garbage-collected packs would be billed forever.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'expire-previous-versions'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
            }
            actions: {
              version: {
                delete: {
                  daysAfterCreationGreaterThan: softDeleteDays
                }
              }
            }
          }
        }
      ]
    }
  }
  dependsOn: [
    blobService
  ]
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = if (withQueues) {
  parent: account
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for queue in allQueues: {
  parent: queueService
  name: queue
}]

resource queueLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (withQueues) {
  name: 'queue-logs'
  scope: queueService
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'StorageWrite'
        enabled: true
      }
      {
        category: 'StorageDelete'
        enabled: true
      }
    ]
  }
}

resource roleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in roles: {
  name: guid(account.id, principalId, role)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}]

output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
