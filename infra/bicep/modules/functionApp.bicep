// The Function App (Flex Consumption or Elastic Premium), its plan, its host storage and app settings.

param namePrefix string
param location string
@allowed([
  'flex'
  'premium'
])
param hostingPlan string
param identityId string
param identityClientId string
param identityPrincipalId string
param appInsightsConnectionString string
param primaryBlobEndpoint string
param primaryQueueEndpoint string
param secondaryBlobEndpoint string
param cosmosEndpoint string
param cosmosDatabase string
param commitQueue string
param replicationQueue string
param meteringQueue string
param retentionSchedule string
@secure()
param operatorKeySha256 string
param gcGraceHours int
param backupSessionHours int
param defaultRedundancy string
param priceTable string
param instanceMaxOpenSessions int
param instanceMaxCommitsPerHour int
param vaultQuotaBytes string
param tags object

var isFlex = hostingPlan == 'flex'
var deploymentContainer = 'app-package'
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'

// Every SETTING_NAMES entry tagged "azure" or "both" in shared/settings.py, identity-based:
// no key or connection string (tests/infra/test_settings_match_templates.py keeps this true).
var serviceSettings = [
  {
    name: 'PRIMARY_STORAGE__blobServiceUri'
    value: primaryBlobEndpoint
  }
  {
    name: 'PRIMARY_STORAGE__queueServiceUri'
    value: primaryQueueEndpoint
  }
  {
    name: 'PRIMARY_STORAGE__credential'
    value: 'managedidentity'
  }
  {
    name: 'PRIMARY_STORAGE__clientId'
    value: identityClientId
  }
  {
    name: 'SECONDARY_STORAGE__blobServiceUri'
    value: secondaryBlobEndpoint
  }
  {
    name: 'SECONDARY_STORAGE__clientId'
    value: identityClientId
  }
  {
    name: 'COSMOS__accountEndpoint'
    value: cosmosEndpoint
  }
  {
    name: 'COSMOS__clientId'
    value: identityClientId
  }
  {
    name: 'COSMOS_DATABASE'
    value: cosmosDatabase
  }
  {
    name: 'COMMIT_QUEUE'
    value: commitQueue
  }
  {
    name: 'REPLICATION_QUEUE'
    value: replicationQueue
  }
  {
    name: 'METERING_QUEUE'
    value: meteringQueue
  }
  {
    name: 'RETENTION_SCHEDULE'
    value: retentionSchedule
  }
  {
    name: 'OPERATOR_KEY_SHA256'
    value: operatorKeySha256
  }
  {
    name: 'GC_GRACE_HOURS'
    value: string(gcGraceHours)
  }
  {
    name: 'BACKUP_SESSION_HOURS'
    value: string(backupSessionHours)
  }
  {
    name: 'DEFAULT_REDUNDANCY'
    value: defaultRedundancy
  }
  {
    name: 'PRICE_TABLE'
    value: priceTable
  }
  {
    name: 'INSTANCE_MAX_OPEN_SESSIONS'
    value: string(instanceMaxOpenSessions)
  }
  {
    name: 'INSTANCE_MAX_COMMITS_PER_HOUR'
    value: string(instanceMaxCommitsPerHour)
  }
  {
    name: 'VAULT_QUOTA_BYTES'
    value: vaultQuotaBytes
  }
]

// What the Functions host itself reads: its own storage and telemetry, through the identity.
var hostSettings = [
  {
    name: 'AzureWebJobsStorage__accountName'
    value: deploymentStorage.name
  }
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'AzureWebJobsStorage__clientId'
    value: identityClientId
  }
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: appInsightsConnectionString
  }
  {
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'ClientId=${identityClientId};Authorization=AAD'
  }
]

// Premium names its runtime in settings (Flex in functionAppConfig) and mounts the package that
// docs/deploy.md uploads to the deployment container, read with the identity.
var premiumHostSettings = [
  {
    name: 'FUNCTIONS_EXTENSION_VERSION'
    value: '~4'
  }
  {
    name: 'FUNCTIONS_WORKER_RUNTIME'
    value: 'python'
  }
  {
    name: 'WEBSITE_RUN_FROM_PACKAGE'
    value: '${deploymentStorage.properties.primaryEndpoints.blob}${deploymentContainer}/released-package.zip'
  }
  {
    name: 'WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID'
    value: identityId
  }
]

var appSettings = concat(hostSettings, isFlex ? [] : premiumHostSettings, serviceSettings)

resource deploymentStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_206: Holds the deployment package and host leases only; both are recreated by a redeploy, so LRS is enough.
  // checkov:skip=CKV_AZURE_59: The Function App has no virtual network integration; it reaches its host storage over the public endpoint with Entra ID.
  // checkov:skip=CKV_AZURE_35: Same reason as CKV_AZURE_59; shared key is off, so only the app's identity gets in.
  // checkov:skip=CKV_AZURE_43: The name is <namePrefix>fn, built from a parameter checkov cannot evaluate; namePrefix is 3-18 lowercase letters or digits.
  name: '${namePrefix}fn'
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
    allowSharedKeyAccess: false // AzureWebJobsStorage and the package use the identity
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
      sasExpirationPeriod: '1.00:00:00'
      expirationAction: 'Log'
    }
  }
}

resource deploymentBlobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: deploymentStorage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource packageContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: deploymentBlobService
  name: deploymentContainer
  properties: {
    publicAccess: 'None'
  }
}

// Host storage (AzureWebJobsStorage: leases, timers, keys) and the deployment package.
resource hostStorageOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deploymentStorage.id, identityPrincipalId, storageBlobDataOwner)
  scope: deploymentStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: Zone redundancy is not offered for FC1 here and triples EP1's minimum cost; an outage delays queue processing but loses nothing.
  name: '${namePrefix}-plan'
  location: location
  kind: isFlex ? 'functionapp' : 'elastic'
  tags: tags
  sku: isFlex ? {
    name: 'FC1'
    tier: 'FlexConsumption'
  } : {
    name: 'EP1'
    tier: 'ElasticPremium'
  }
  properties: {
    reserved: true // Linux
    maximumElasticWorkerCount: isFlex ? null : 20
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: Backup agents on customer machines call the API from the internet; every request carries a bearer credential.
  // checkov:skip=CKV_AZURE_17: Agents authenticate with bearer tokens (instance, vault and operator keys), not client certificates.
  // checkov:skip=CKV_AZURE_212: One instance is the floor: Flex scales from zero and EP1 adds instances on demand; queue messages survive an instance loss.
  // checkov:skip=CKV_AZURE_213: No platform health check: /api/health probes Cosmos DB and storage, and recycling instances cannot fix their outage; Application Insights shows failures.
  name: '${namePrefix}-func'
  location: location
  kind: 'functionapp,linux'
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: 'Enabled'
    keyVaultReferenceIdentity: identityId
    functionAppConfig: isFlex ? {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${deploymentStorage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: 40
        instanceMemoryMB: 2048
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    } : null
    siteConfig: {
      linuxFxVersion: isFlex ? null : 'Python|3.11'
      minimumElasticInstanceCount: isFlex ? null : 1
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      http20Enabled: true
      ftpsState: 'Disabled'
      appSettings: appSettings
    }
  }
  dependsOn: [
    hostStorageOwner
    packageContainer
  ]
}

// No publishing passwords: deployments authenticate with Entra ID.
resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName
output deploymentContainerUrl string = '${deploymentStorage.properties.primaryEndpoints.blob}${deploymentContainer}'
