// The catalog: Cosmos DB account, database `backup`, the containers of docs/design.md, data role.

param accountName string
param location string
@allowed([
  'serverless'
  'autoscale'
])
param throughputMode string
param autoscaleMaxThroughput int
param principalId string
param tags object

var databaseName = 'backup'
// docs/design.md, "Cosmos DB containers": every container is partitioned by /vault_id.
var cosmosContainers = [
  'vaults'
  'instances'
  'recovery_points'
  'packs'
  'sessions'
  'usage'
]
// Seconds; expired sessions disappear on their own (7 days).
var containerTtls = {
  sessions: 604800
}
var dataContributorRole = '00000000-0000-0000-0000-000000000002' // Cosmos DB Built-in Data Contributor

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  // checkov:skip=CKV_AZURE_99: No virtual network exists to filter on; the 0.0.0.0 IP rule limits access to Azure datacenters and every request needs Entra ID.
  // checkov:skip=CKV_AZURE_101: Reached by the Function App over the public endpoint; the 0.0.0.0 IP rule admits Azure datacenters only and local auth is off.
  name: accountName
  location: location
  kind: 'GlobalDocumentDB'
  tags: tags
  properties: {
    databaseAccountOfferType: 'Standard'
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    disableLocalAuth: true // Entra ID only: no account keys to leak
    disableKeyBasedMetadataWriteAccess: true
    publicNetworkAccess: 'Enabled'
    ipRules: [
      {
        ipAddressOrRange: '0.0.0.0' // requests from within Azure datacenters only
      }
    ]
    minimalTlsVersion: 'Tls12'
    capabilities: throughputMode == 'serverless' ? [
      {
        name: 'EnableServerless'
      }
    ] : []
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
    // Provisioned mode: one autoscale budget shared by every container of the database.
    options: throughputMode == 'autoscale' ? {
      autoscaleSettings: {
        maxThroughput: autoscaleMaxThroughput
      }
    } : {}
  }
}

resource containers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = [for container in cosmosContainers: {
  parent: database
  name: container
  properties: {
    resource: union({
      id: container
      partitionKey: {
        paths: [
          '/vault_id'
        ]
        kind: 'Hash'
        version: 2
      }
    }, contains(containerTtls, container) ? {
      defaultTtl: containerTtls[container]
    } : {})
  }
}]

// Data plane read/write, no control plane rights.
resource dataRole 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = {
  parent: account
  name: guid(account.id, principalId, dataContributorRole)
  properties: {
    roleDefinitionId: '${account.id}/sqlRoleDefinitions/${dataContributorRole}'
    principalId: principalId
    scope: account.id
  }
}

output endpoint string = account.properties.documentEndpoint
output databaseName string = database.name
