// Deploys the backup service into the current resource group; infra/terraform creates the same resources.
targetScope = 'resourceGroup'

@description('Prefix of every resource name; storage accounts are <prefix>pri, <prefix>sec and <prefix>fn, so it must be globally unique enough.')
@minLength(3)
@maxLength(18)
param namePrefix string

@description('Region of the Function App, Cosmos DB and the primary storage account.')
param primaryRegion string = resourceGroup().location

@description('Region of the paired storage account that GRS vaults replicate to, e.g. northeurope.')
param pairedRegion string

@description('Redundancy of a vault created without --redundancy (DEFAULT_REDUNDANCY).')
@allowed([
  'LRS'
  'GRS'
])
param defaultRedundancy string = 'GRS'

@description('flex: Flex Consumption (FC1); premium: Elastic Premium (EP1).')
@allowed([
  'flex'
  'premium'
])
param hostingPlan string = 'flex'

@description('serverless, or autoscale (provisioned autoscale throughput shared by the database\'s containers).')
@allowed([
  'serverless'
  'autoscale'
])
param cosmosThroughputMode string = 'serverless'

@description('Maximum RU/s of the database when cosmosThroughputMode is autoscale (a multiple of 1000).')
@minValue(1000)
param cosmosAutoscaleMaxThroughput int = 1000

@description('Hex SHA-256 of the operator key (bko_...); the key itself never reaches Azure (OPERATOR_KEY_SHA256).')
@secure()
@minLength(64)
@maxLength(64)
param operatorKeySha256 string

@description('Backup sessions one machine may hold open at once (INSTANCE_MAX_OPEN_SESSIONS; 0: no limit; a vault\'s own limits override it).')
@minValue(0)
param instanceMaxOpenSessions int = 4

@description('Backups one machine may commit per hour (INSTANCE_MAX_COMMITS_PER_HOUR; 0: no limit).')
@minValue(0)
param instanceMaxCommitsPerHour int = 60

@description('Bytes a vault may store before new backups are refused (VAULT_QUOTA_BYTES, a decimal string so that no JSON number rounding can change it; 0: no quota). Default 16 PiB.')
param vaultQuotaBytes string = '18014398509481984'

@description('Price table as a JSON string (PRICE_TABLE).')
param priceTable string = '{"currency":"USD","instance_tiers":[{"up_to_gb":50,"monthly_fee":5},{"up_to_gb":500,"monthly_fee":10}],"increment_gb":500,"increment_fee":10,"storage_gb_month":{"LRS":0.0224,"GRS":0.0448}}'

@description('NCRONTAB schedule of the daily retention timer (RETENTION_SCHEDULE).')
param retentionSchedule string = '0 30 2 * * *'

@description('Hours a condemned pack waits before it is swept (GC_GRACE_HOURS); must exceed backupSessionHours or the app refuses to start.')
@minValue(1)
param gcGraceHours int = 48

@description('Lifetime of a backup session and its SAS (BACKUP_SESSION_HOURS).')
@minValue(1)
param backupSessionHours int = 12

@description('Blob and container soft-delete retention on the data accounts.')
@minValue(1)
@maxValue(365)
param blobSoftDeleteDays int = 14

@description('0: off. N > 0: account-level version-level WORM on the data accounts, every blob version immutable for N days (Unlocked policy). Only takes effect on accounts created with it.')
@minValue(0)
@maxValue(146000)
param immutabilityDays int = 0

@description('Lock the immutability policy (irreversible: its period can then only grow). Azure creates a policy Unlocked, so set this on a later deployment.')
param immutabilityLocked bool = false

@description('Where the poison-queue alert is mailed; empty: the alert fires without a mail receiver.')
param alertEmail string = ''

@description('Retention of the Log Analytics workspace.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 90

@description('Tags applied to every resource.')
param tags object = {}

var allTags = union({
  service: 'cloud-backup'
}, tags)

// Queue names are app settings (%COMMIT_QUEUE% ...); the host moves a message that failed
// maxDequeueCount times to "<queue>-poison".
var commitQueue = 'commits'
var replicationQueue = 'replication'
var meteringQueue = 'metering'
var workQueues = [
  commitQueue
  replicationQueue
  meteringQueue
]

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${namePrefix}-id'
  location: primaryRegion
  tags: allTags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    namePrefix: namePrefix
    location: primaryRegion
    retentionDays: logRetentionDays
    principalId: identity.properties.principalId
    tags: allTags
  }
}

module primaryStorage 'modules/dataStorage.bicep' = {
  name: 'primary-storage'
  params: {
    accountName: '${namePrefix}pri'
    location: primaryRegion
    queueNames: workQueues
    softDeleteDays: blobSoftDeleteDays
    immutabilityDays: immutabilityDays
    immutabilityLocked: immutabilityLocked
    principalId: identity.properties.principalId
    workspaceId: monitoring.outputs.workspaceId
    tags: allTags
  }
}

module secondaryStorage 'modules/dataStorage.bicep' = {
  name: 'secondary-storage'
  params: {
    accountName: '${namePrefix}sec'
    location: pairedRegion
    queueNames: []
    softDeleteDays: blobSoftDeleteDays
    immutabilityDays: immutabilityDays
    immutabilityLocked: immutabilityLocked
    principalId: identity.properties.principalId
    workspaceId: monitoring.outputs.workspaceId
    tags: allTags
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  params: {
    accountName: '${namePrefix}-cosmos'
    location: primaryRegion
    throughputMode: cosmosThroughputMode
    autoscaleMaxThroughput: cosmosAutoscaleMaxThroughput
    principalId: identity.properties.principalId
    tags: allTags
  }
}

module functionApp 'modules/functionApp.bicep' = {
  name: 'function-app'
  params: {
    namePrefix: namePrefix
    location: primaryRegion
    hostingPlan: hostingPlan
    identityId: identity.id
    identityClientId: identity.properties.clientId
    identityPrincipalId: identity.properties.principalId
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    primaryBlobEndpoint: primaryStorage.outputs.blobEndpoint
    primaryQueueEndpoint: primaryStorage.outputs.queueEndpoint
    secondaryBlobEndpoint: secondaryStorage.outputs.blobEndpoint
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabase: cosmos.outputs.databaseName
    commitQueue: commitQueue
    replicationQueue: replicationQueue
    meteringQueue: meteringQueue
    retentionSchedule: retentionSchedule
    operatorKeySha256: operatorKeySha256
    gcGraceHours: gcGraceHours
    backupSessionHours: backupSessionHours
    defaultRedundancy: defaultRedundancy
    priceTable: priceTable
    instanceMaxOpenSessions: instanceMaxOpenSessions
    instanceMaxCommitsPerHour: instanceMaxCommitsPerHour
    vaultQuotaBytes: vaultQuotaBytes
    tags: allTags
  }
}

module poisonAlert 'modules/poisonAlert.bicep' = {
  name: 'poison-alert'
  params: {
    namePrefix: namePrefix
    location: primaryRegion
    workspaceId: monitoring.outputs.workspaceId
    alertEmail: alertEmail
    tags: allTags
  }
}

output functionAppName string = functionApp.outputs.name
output apiUrl string = 'https://${functionApp.outputs.defaultHostName}'
output deploymentContainerUrl string = functionApp.outputs.deploymentContainerUrl
output primaryStorageAccount string = primaryStorage.outputs.name
output secondaryStorageAccount string = secondaryStorage.outputs.name
output cosmosEndpoint string = cosmos.outputs.endpoint
output identityClientId string = identity.properties.clientId
