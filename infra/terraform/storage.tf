# The primary and paired-region data accounts, the queues, and the identity's roles on them.

locals {
  data_accounts = {
    primary   = { name = local.names.primary_storage, location = var.primary_region }
    secondary = { name = local.names.secondary_storage, location = var.paired_region }
  }

  # Least privilege, on exactly the accounts used: blobs in both regions, queues on the primary
  # only. Blob Data Contributor includes generateUserDelegationKey, the key that signs the
  # clients' SAS (no account key exists to sign with), so no Storage Blob Delegator role.
  data_role_assignments = {
    primary_blob_data   = { account = "primary", role = "Storage Blob Data Contributor" }
    primary_queue_data  = { account = "primary", role = "Storage Queue Data Contributor" }
    secondary_blob_data = { account = "secondary", role = "Storage Blob Data Contributor" }
  }
}

resource "azurerm_storage_account" "data" {
  #checkov:skip=CKV_AZURE_206: LRS by design: GRS vaults are copied to the paired-region account by the replication function, which records the replication state per recovery point.
  #checkov:skip=CKV_AZURE_59: Backup agents on customer machines upload and restore over the public endpoint with short-lived user delegation SAS.
  #checkov:skip=CKV_AZURE_35: Default action Allow for the same reason: agents connect from arbitrary customer networks; every request needs Entra ID or a user delegation SAS.
  #checkov:skip=CKV2_AZURE_33: No private endpoint: the agents are outside Azure and reach storage over the internet (see CKV_AZURE_59).
  #checkov:skip=CKV2_AZURE_1: Data is encrypted on the client before upload (AES-GCM, key never leaves the machine); Microsoft-managed keys cover the opaque ciphertext at rest.
  #checkov:skip=CKV_AZURE_33: Classic Storage Analytics logging needs shared key; queue logs go to Log Analytics through a diagnostic setting instead.
  for_each = local.data_accounts

  name                              = each.value.name
  resource_group_name               = data.azurerm_resource_group.main.name
  location                          = each.value.location
  account_kind                      = "StorageV2"
  account_tier                      = "Standard"
  account_replication_type          = "LRS"
  min_tls_version                   = "TLS1_2"
  https_traffic_only_enabled        = true
  allow_nested_items_to_be_public   = false
  shared_access_key_enabled         = false # the service signs user delegation SAS with its identity
  default_to_oauth_authentication   = true
  local_user_enabled                = false
  cross_tenant_replication_enabled  = false
  infrastructure_encryption_enabled = true
  public_network_access_enabled     = true
  tags                              = local.tags

  blob_properties {
    versioning_enabled = true

    delete_retention_policy {
      days = var.blob_soft_delete_days
    }

    container_delete_retention_policy {
      days = var.blob_soft_delete_days
    }
  }

  network_rules {
    default_action = "Allow"
    bypass         = ["AzureServices"]
  }

  sas_policy {
    # Applies to account-key SAS only (there are none); user delegation SAS lasts a session.
    expiration_period = "1.00:00:00"
    expiration_action = "Log"
  }

  dynamic "immutability_policy" {
    for_each = var.immutability_days > 0 ? [var.immutability_days] : []
    content {
      # Version-level WORM: every blob version stays immutable for N days after it is written.
      state                         = var.immutability_locked ? "Locked" : "Unlocked"
      period_since_creation_in_days = immutability_policy.value
      allow_protected_append_writes = false
    }
  }
}

# Versioning keeps a deleted blob as a previous version: expire those once the soft-delete
# window is over, or garbage-collected packs would be billed forever.
resource "azurerm_storage_management_policy" "data" {
  for_each = local.data_accounts

  storage_account_id = azurerm_storage_account.data[each.key].id

  rule {
    name    = "expire-previous-versions"
    enabled = true

    filters {
      blob_types = ["blockBlob"]
    }

    actions {
      version {
        delete_after_days_since_creation = var.blob_soft_delete_days
      }
    }
  }
}

resource "azurerm_storage_queue" "primary" {
  for_each = toset(concat(values(local.queues), local.poison_queues))

  name               = each.value
  storage_account_id = azurerm_storage_account.data["primary"].id
}

resource "azurerm_role_assignment" "data" {
  for_each = local.data_role_assignments

  scope                = azurerm_storage_account.data[each.value.account].id
  role_definition_name = each.value.role
  principal_id         = azurerm_user_assigned_identity.app.principal_id
  principal_type       = "ServicePrincipal"
}
