# Inputs of the deployment; infra/bicep/main.bicep takes the same parameters (camelCase).

variable "resource_group_name" {
  description = "Existing resource group to deploy into (the Bicep template is deployed into one too)."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of every resource name; storage account names are <prefix>pri, <prefix>sec and <prefix>fn, so it must be globally unique enough."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{2,17}$", var.name_prefix))
    error_message = "name_prefix must be 3-18 lowercase letters or digits, starting with a letter."
  }
}

variable "primary_region" {
  description = "Region of the Function App, Cosmos DB and the primary storage account, e.g. westeurope."
  type        = string
}

variable "paired_region" {
  description = "Region of the paired storage account that GRS vaults replicate to, e.g. northeurope."
  type        = string
}

variable "default_redundancy" {
  description = "Redundancy of a vault created without --redundancy (DEFAULT_REDUNDANCY)."
  type        = string
  default     = "GRS"

  validation {
    condition     = contains(["LRS", "GRS"], var.default_redundancy)
    error_message = "default_redundancy must be LRS or GRS."
  }
}

variable "hosting_plan" {
  description = "flex: Flex Consumption (FC1); premium: Elastic Premium (EP1)."
  type        = string
  default     = "flex"

  validation {
    condition     = contains(["flex", "premium"], var.hosting_plan)
    error_message = "hosting_plan must be flex or premium."
  }
}

variable "cosmos_throughput_mode" {
  description = "serverless, or autoscale (provisioned autoscale throughput shared by the database's containers)."
  type        = string
  default     = "serverless"

  validation {
    condition     = contains(["serverless", "autoscale"], var.cosmos_throughput_mode)
    error_message = "cosmos_throughput_mode must be serverless or autoscale."
  }
}

variable "cosmos_autoscale_max_throughput" {
  description = "Maximum RU/s of the database when cosmos_throughput_mode is autoscale (scales down to 10%)."
  type        = number
  default     = 1000

  validation {
    condition     = var.cosmos_autoscale_max_throughput >= 1000 && var.cosmos_autoscale_max_throughput % 1000 == 0
    error_message = "cosmos_autoscale_max_throughput must be a multiple of 1000, at least 1000."
  }
}

variable "operator_key_sha256" {
  description = "Hex SHA-256 of the operator key (bko_...); the key itself never reaches Azure (OPERATOR_KEY_SHA256)."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.operator_key_sha256))
    error_message = "operator_key_sha256 must be 64 lowercase hex characters."
  }
}

variable "price_table" {
  description = "Price table as a JSON string (PRICE_TABLE, shared/domain/pricing.py PriceTable): instance fee tiers, storage price per GB-month per redundancy."
  type        = string
  default     = "{\"currency\":\"USD\",\"instance_tiers\":[{\"up_to_gb\":50,\"monthly_fee\":5},{\"up_to_gb\":500,\"monthly_fee\":10}],\"increment_gb\":500,\"increment_fee\":10,\"storage_gb_month\":{\"LRS\":0.0224,\"GRS\":0.0448}}"

  validation {
    condition     = can(jsondecode(var.price_table))
    error_message = "price_table must be valid JSON."
  }
}

variable "instance_max_open_sessions" {
  description = "Backup sessions one machine may hold open at once (INSTANCE_MAX_OPEN_SESSIONS; 0: no limit; a vault's own limits override it)."
  type        = number
  default     = 4

  validation {
    condition     = var.instance_max_open_sessions >= 0 && floor(var.instance_max_open_sessions) == var.instance_max_open_sessions
    error_message = "instance_max_open_sessions must be a whole number, 0 or more."
  }
}

variable "instance_max_commits_per_hour" {
  description = "Backups one machine may commit per hour (INSTANCE_MAX_COMMITS_PER_HOUR; 0: no limit)."
  type        = number
  default     = 60

  validation {
    condition     = var.instance_max_commits_per_hour >= 0 && floor(var.instance_max_commits_per_hour) == var.instance_max_commits_per_hour
    error_message = "instance_max_commits_per_hour must be a whole number, 0 or more."
  }
}

variable "vault_quota_bytes" {
  description = "Bytes a vault may store before new backups are refused (VAULT_QUOTA_BYTES; 0: no quota). Default 16 PiB."
  type        = number
  default     = 18014398509481984

  validation {
    condition     = var.vault_quota_bytes >= 0
    error_message = "vault_quota_bytes must be 0 or more."
  }
}

variable "retention_schedule" {
  description = "NCRONTAB schedule of the daily retention timer (RETENTION_SCHEDULE)."
  type        = string
  default     = "0 30 2 * * *"
}

variable "gc_grace_hours" {
  description = "Hours a condemned pack waits before it is swept (GC_GRACE_HOURS); must exceed backup_session_hours."
  type        = number
  default     = 48
}

variable "backup_session_hours" {
  description = "Lifetime of a backup session and its SAS (BACKUP_SESSION_HOURS)."
  type        = number
  default     = 12
}

variable "blob_soft_delete_days" {
  description = "Blob and container soft-delete retention on the data accounts (a safety net under the service's own soft delete)."
  type        = number
  default     = 14

  validation {
    condition     = var.blob_soft_delete_days >= 1 && var.blob_soft_delete_days <= 365
    error_message = "blob_soft_delete_days must be between 1 and 365."
  }
}

variable "immutability_days" {
  description = "0: off. N > 0: account-level version-level WORM on the data accounts, every blob version immutable for N days (Unlocked policy). Only takes effect on accounts created with it."
  type        = number
  default     = 0

  validation {
    condition     = var.immutability_days >= 0 && var.immutability_days <= 146000
    error_message = "immutability_days must be between 0 and 146000."
  }
}

variable "immutability_locked" {
  description = "Lock the immutability policy (irreversible: its period can then only grow). Azure creates a policy Unlocked, so set this on a later apply."
  type        = bool
  default     = false
}

variable "alert_email" {
  description = "Where the poison-queue alert is mailed; empty: the alert fires without a mail receiver."
  type        = string
  default     = ""
}

variable "log_retention_days" {
  description = "Retention of the Log Analytics workspace (application and queue logs)."
  type        = number
  default     = 90
}

variable "tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default     = {}
}
