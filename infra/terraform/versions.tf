# Pins Terraform and the azurerm provider this module is written against.

terraform {
  required_version = ">= 1.9.0, < 2.0.0"

  required_providers {
    azurerm = {
      source = "hashicorp/azurerm"
      # 4.x: azurerm_function_app_flex_consumption, storage_account_id on queues and containers
      # (Resource Manager API, so no shared key is needed to create them).
      version = "~> 4.40"
    }
  }
}

provider "azurerm" {
  features {}
  # The data accounts have shared key access off: any data-plane call the provider makes
  # must use Entra ID.
  storage_use_azuread = true
}
