# The Function App (Flex Consumption or Elastic Premium), its plan, its host storage and app settings.

locals {
  flex = var.hosting_plan == "flex"

  deployment_container = "app-package"
  # Premium runs the zip that docs/deploy.md uploads here (WEBSITE_RUN_FROM_PACKAGE, read with the identity).
  premium_package_url = "${azurerm_storage_account.deployment.primary_blob_endpoint}${local.deployment_container}/released-package.zip"

  # Every SETTING_NAMES entry tagged "azure" or "both" in shared/settings.py, identity-based:
  # no key or connection string (tests/infra/test_settings_match_templates.py keeps this true).
  service_app_settings = {
    PRIMARY_STORAGE__blobServiceUri   = azurerm_storage_account.data["primary"].primary_blob_endpoint
    PRIMARY_STORAGE__queueServiceUri  = azurerm_storage_account.data["primary"].primary_queue_endpoint
    PRIMARY_STORAGE__credential       = "managedidentity"
    PRIMARY_STORAGE__clientId         = azurerm_user_assigned_identity.app.client_id
    SECONDARY_STORAGE__blobServiceUri = azurerm_storage_account.data["secondary"].primary_blob_endpoint
    SECONDARY_STORAGE__clientId       = azurerm_user_assigned_identity.app.client_id
    COSMOS__accountEndpoint           = azurerm_cosmosdb_account.catalog.endpoint
    COSMOS__clientId                  = azurerm_user_assigned_identity.app.client_id
    COSMOS_DATABASE                   = local.cosmos_database
    COMMIT_QUEUE                      = local.queues.commit
    REPLICATION_QUEUE                 = local.queues.replication
    METERING_QUEUE                    = local.queues.metering
    RETENTION_SCHEDULE                = var.retention_schedule
    OPERATOR_KEY_SHA256               = var.operator_key_sha256
    GC_GRACE_HOURS                    = tostring(var.gc_grace_hours)
    BACKUP_SESSION_HOURS              = tostring(var.backup_session_hours)
    DEFAULT_REDUNDANCY                = var.default_redundancy
    PRICE_TABLE                       = var.price_table
    INSTANCE_MAX_OPEN_SESSIONS        = tostring(var.instance_max_open_sessions)
    INSTANCE_MAX_COMMITS_PER_HOUR     = tostring(var.instance_max_commits_per_hour)
    VAULT_QUOTA_BYTES                 = tostring(var.vault_quota_bytes)
  }

  # What the Functions host itself reads: its own storage and telemetry, through the identity.
  # AzureWebJobsStorage__accountName is Flex only: on Premium azurerm writes it itself from
  # storage_account_name (storage_uses_managed_identity), and would otherwise write a connection string.
  host_app_settings = {
    AzureWebJobsStorage__credential           = "managedidentity"
    AzureWebJobsStorage__clientId             = azurerm_user_assigned_identity.app.client_id
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING = "ClientId=${azurerm_user_assigned_identity.app.client_id};Authorization=AAD"
  }

  flex_app_settings = {
    AzureWebJobsStorage__accountName = azurerm_storage_account.deployment.name
  }

  # Premium only: it has no deployment-storage setting of its own and mounts the package by URL.
  premium_app_settings = {
    WEBSITE_RUN_FROM_PACKAGE                     = local.premium_package_url
    WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID = azurerm_user_assigned_identity.app.id
  }
}

resource "azurerm_storage_account" "deployment" {
  #checkov:skip=CKV_AZURE_206: Holds the deployment package and host leases only; both are recreated by a redeploy, so LRS is enough.
  #checkov:skip=CKV_AZURE_59: The Function App has no virtual network integration; it reaches its host storage over the public endpoint with Entra ID.
  #checkov:skip=CKV_AZURE_35: Same reason as CKV_AZURE_59; shared key is off, so only the app's identity gets in.
  #checkov:skip=CKV2_AZURE_33: No virtual network to put a private endpoint in (see CKV_AZURE_59).
  #checkov:skip=CKV2_AZURE_1: Holds the function package and host state, no customer data; Microsoft-managed keys.
  #checkov:skip=CKV_AZURE_33: No queue on this account is used; classic Storage Analytics logging needs shared key, which is off.
  name                              = local.names.deployment_storage
  resource_group_name               = data.azurerm_resource_group.main.name
  location                          = var.primary_region
  account_kind                      = "StorageV2"
  account_tier                      = "Standard"
  account_replication_type          = "LRS"
  min_tls_version                   = "TLS1_2"
  https_traffic_only_enabled        = true
  allow_nested_items_to_be_public   = false
  shared_access_key_enabled         = false # AzureWebJobsStorage and the package use the identity
  default_to_oauth_authentication   = true
  local_user_enabled                = false
  cross_tenant_replication_enabled  = false
  infrastructure_encryption_enabled = true
  public_network_access_enabled     = true
  tags                              = local.tags

  blob_properties {
    delete_retention_policy {
      days = 7
    }

    container_delete_retention_policy {
      days = 7
    }
  }

  network_rules {
    default_action = "Allow"
    bypass         = ["AzureServices"]
  }

  sas_policy {
    expiration_period = "1.00:00:00"
    expiration_action = "Log"
  }
}

resource "azurerm_storage_container" "deployment" {
  #checkov:skip=CKV2_AZURE_21: Log Analytics storage insights reads logs with the account key, and shared key is off on this account.
  name                  = local.deployment_container
  storage_account_id    = azurerm_storage_account.deployment.id
  container_access_type = "private"
}

# Host storage (AzureWebJobsStorage: leases, timers, keys) and the deployment package.
resource "azurerm_role_assignment" "deployment_blob_owner" {
  scope                = azurerm_storage_account.deployment.id
  role_definition_name = "Storage Blob Data Owner"
  principal_id         = azurerm_user_assigned_identity.app.principal_id
  principal_type       = "ServicePrincipal"
}

resource "azurerm_service_plan" "main" {
  #checkov:skip=CKV_AZURE_212: One instance is the floor: Flex scales from zero and EP1 adds instances on demand; queue messages survive an instance loss.
  #checkov:skip=CKV_AZURE_225: Zone redundancy is not offered for FC1 here and triples EP1's minimum cost; an outage delays queue processing but loses nothing.
  name                = local.names.plan
  resource_group_name = data.azurerm_resource_group.main.name
  location            = var.primary_region
  os_type             = "Linux"
  sku_name            = local.flex ? "FC1" : "EP1"
  tags                = local.tags
}

resource "azurerm_function_app_flex_consumption" "app" {
  count = local.flex ? 1 : 0

  name                                           = local.names.function_app
  resource_group_name                            = data.azurerm_resource_group.main.name
  location                                       = var.primary_region
  service_plan_id                                = azurerm_service_plan.main.id
  runtime_name                                   = "python"
  runtime_version                                = "3.11"
  storage_container_type                         = "blobContainer"
  storage_container_endpoint                     = "${azurerm_storage_account.deployment.primary_blob_endpoint}${azurerm_storage_container.deployment.name}"
  storage_authentication_type                    = "UserAssignedIdentity"
  storage_user_assigned_identity_id              = azurerm_user_assigned_identity.app.id
  maximum_instance_count                         = 40
  instance_memory_in_mb                          = 2048
  https_only                                     = true
  public_network_access_enabled                  = true
  webdeploy_publish_basic_authentication_enabled = false
  app_settings                                   = merge(local.host_app_settings, local.flex_app_settings, local.service_app_settings)
  tags                                           = local.tags

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.app.id]
  }

  site_config {
    application_insights_connection_string = azurerm_application_insights.main.connection_string
    http2_enabled                          = true
    minimum_tls_version                    = "1.2"
    scm_minimum_tls_version                = "1.2"
  }

  lifecycle {
    precondition {
      condition     = var.gc_grace_hours > var.backup_session_hours
      error_message = "gc_grace_hours must exceed backup_session_hours (docs/design.md, garbage collection)."
    }
  }

  depends_on = [azurerm_role_assignment.deployment_blob_owner]
}

resource "azurerm_linux_function_app" "app" {
  #checkov:skip=CKV_AZURE_221: Backup agents on customer machines call the API from the internet; every request carries a bearer credential.
  count = local.flex ? 0 : 1

  name                                           = local.names.function_app
  resource_group_name                            = data.azurerm_resource_group.main.name
  location                                       = var.primary_region
  service_plan_id                                = azurerm_service_plan.main.id
  functions_extension_version                    = "~4"
  storage_account_name                           = azurerm_storage_account.deployment.name
  storage_uses_managed_identity                  = true  # AzureWebJobsStorage__accountName, not a connection string
  builtin_logging_enabled                        = false # AzureWebJobsDashboard: legacy logging, Application Insights replaces it
  content_share_force_disabled                   = true  # no Azure Files share: it would need an account key
  https_only                                     = true
  public_network_access_enabled                  = true
  ftp_publish_basic_authentication_enabled       = false
  webdeploy_publish_basic_authentication_enabled = false
  key_vault_reference_identity_id                = azurerm_user_assigned_identity.app.id
  app_settings                                   = merge(local.host_app_settings, local.premium_app_settings, local.service_app_settings)
  tags                                           = local.tags

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.app.id]
  }

  site_config {
    application_insights_connection_string = azurerm_application_insights.main.connection_string
    http2_enabled                          = true
    minimum_tls_version                    = "1.2"
    scm_minimum_tls_version                = "1.2"
    ftps_state                             = "Disabled"
    elastic_instance_minimum               = 1

    application_stack {
      python_version = "3.11"
    }
  }

  lifecycle {
    precondition {
      condition     = var.gc_grace_hours > var.backup_session_hours
      error_message = "gc_grace_hours must exceed backup_session_hours (docs/design.md, garbage collection)."
    }
  }

  depends_on = [azurerm_role_assignment.deployment_blob_owner]
}
