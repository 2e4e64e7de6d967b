# The catalog: Cosmos DB account, database `backup`, the containers of docs/design.md, data role.

resource "azurerm_cosmosdb_account" "catalog" {
  #checkov:skip=CKV_AZURE_100: The catalog holds opaque ids, sizes and key hashes only; Microsoft-managed encryption at rest is enough.
  #checkov:skip=CKV_AZURE_99: No virtual network exists to filter on; ip_range_filter 0.0.0.0 limits access to Azure datacenters and every request needs Entra ID.
  #checkov:skip=CKV_AZURE_101: Reached by the Function App over the public endpoint; ip_range_filter 0.0.0.0 admits Azure datacenters only and local auth is off.
  name                               = local.names.cosmos
  resource_group_name                = data.azurerm_resource_group.main.name
  location                           = var.primary_region
  offer_type                         = "Standard"
  kind                               = "GlobalDocumentDB"
  local_authentication_disabled      = true # Entra ID only: no account keys to leak
  access_key_metadata_writes_enabled = false
  public_network_access_enabled      = true
  ip_range_filter                    = ["0.0.0.0"] # requests from within Azure datacenters only
  minimal_tls_version                = "Tls12"
  tags                               = local.tags

  consistency_policy {
    consistency_level = "Session"
  }

  geo_location {
    location          = var.primary_region
    failover_priority = 0
  }

  dynamic "capabilities" {
    for_each = var.cosmos_throughput_mode == "serverless" ? ["EnableServerless"] : []
    content {
      name = capabilities.value
    }
  }
}

resource "azurerm_cosmosdb_sql_database" "catalog" {
  name                = local.cosmos_database
  resource_group_name = data.azurerm_resource_group.main.name
  account_name        = azurerm_cosmosdb_account.catalog.name

  # Provisioned mode: one autoscale budget shared by every container of the database.
  dynamic "autoscale_settings" {
    for_each = var.cosmos_throughput_mode == "autoscale" ? [var.cosmos_autoscale_max_throughput] : []
    content {
      max_throughput = autoscale_settings.value
    }
  }
}

resource "azurerm_cosmosdb_sql_container" "catalog" {
  for_each = local.cosmos_containers

  name                  = each.key
  resource_group_name   = data.azurerm_resource_group.main.name
  account_name          = azurerm_cosmosdb_account.catalog.name
  database_name         = azurerm_cosmosdb_sql_database.catalog.name
  partition_key_paths   = ["/vault_id"]
  partition_key_version = 2
  default_ttl           = each.value.default_ttl
}

# Cosmos DB Built-in Data Contributor: data plane read/write, no control plane rights.
resource "azurerm_cosmosdb_sql_role_assignment" "app" {
  resource_group_name = data.azurerm_resource_group.main.name
  account_name        = azurerm_cosmosdb_account.catalog.name
  role_definition_id  = "${azurerm_cosmosdb_account.catalog.id}/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002"
  principal_id        = azurerm_user_assigned_identity.app.principal_id
  scope               = azurerm_cosmosdb_account.catalog.id
}
