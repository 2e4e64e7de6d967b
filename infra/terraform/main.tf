# The backup service in one resource group: names, the managed identity and monitoring.
# Storage, Cosmos DB, the Function App and the poison-queue alert have a file each.

data "azurerm_resource_group" "main" {
  name = var.resource_group_name
}

locals {
  tags = merge({ service = "cloud-backup" }, var.tags)

  # Queue names are app settings (%COMMIT_QUEUE% ...); the Functions host moves a message that
  # failed maxDequeueCount times to "<queue>-poison".
  queues        = { commit = "commits", replication = "replication", metering = "metering" }
  poison_queues = [for queue in values(local.queues) : "${queue}-poison"]

  cosmos_database = "backup"
  # docs/design.md, "Cosmos DB containers": every container is partitioned by /vault_id.
  cosmos_containers = {
    vaults          = { default_ttl = null }
    instances       = { default_ttl = null }
    recovery_points = { default_ttl = null }
    packs           = { default_ttl = null }
    sessions        = { default_ttl = 604800 } # 7 days: expired sessions disappear on their own
    usage           = { default_ttl = null }
  }

  names = {
    identity           = "${var.name_prefix}-id"
    log_workspace      = "${var.name_prefix}-logs"
    app_insights       = "${var.name_prefix}-appi"
    primary_storage    = "${var.name_prefix}pri"
    secondary_storage  = "${var.name_prefix}sec"
    deployment_storage = "${var.name_prefix}fn"
    cosmos             = "${var.name_prefix}-cosmos"
    plan               = "${var.name_prefix}-plan"
    function_app       = "${var.name_prefix}-func"
    action_group       = "${var.name_prefix}-ops"
    poison_alert       = "${var.name_prefix}-poison-messages"
  }
}

resource "azurerm_user_assigned_identity" "app" {
  name                = local.names.identity
  resource_group_name = data.azurerm_resource_group.main.name
  location            = var.primary_region
  tags                = local.tags
}

resource "azurerm_log_analytics_workspace" "main" {
  name                         = local.names.log_workspace
  resource_group_name          = data.azurerm_resource_group.main.name
  location                     = var.primary_region
  sku                          = "PerGB2018"
  retention_in_days            = var.log_retention_days
  local_authentication_enabled = false
  tags                         = local.tags
}

resource "azurerm_application_insights" "main" {
  name                          = local.names.app_insights
  resource_group_name           = data.azurerm_resource_group.main.name
  location                      = var.primary_region
  workspace_id                  = azurerm_log_analytics_workspace.main.id
  application_type              = "web"
  local_authentication_disabled = true # telemetry is sent with the app's identity (Entra ID)
  tags                          = local.tags
}

# Entra ID ingestion: APPLICATIONINSIGHTS_AUTHENTICATION_STRING names this identity.
resource "azurerm_role_assignment" "app_insights_publisher" {
  scope                = azurerm_application_insights.main.id
  role_definition_name = "Monitoring Metrics Publisher"
  principal_id         = azurerm_user_assigned_identity.app.principal_id
  principal_type       = "ServicePrincipal"
}
