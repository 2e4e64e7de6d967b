# What docs/deploy.md needs after `terraform apply`; infra/bicep/main.bicep outputs the same (camelCase).

output "function_app_name" {
  value = local.names.function_app
}

output "api_url" {
  description = "BACKUP_API_URL for backup-admin and backup-agent."
  value       = "https://${local.flex ? azurerm_function_app_flex_consumption.app[0].default_hostname : azurerm_linux_function_app.app[0].default_hostname}"
}

output "deployment_container_url" {
  description = "Where the deployment package lives (Premium: upload released-package.zip here)."
  value       = "${azurerm_storage_account.deployment.primary_blob_endpoint}${local.deployment_container}"
}

output "primary_storage_account" {
  value = azurerm_storage_account.data["primary"].name
}

output "secondary_storage_account" {
  value = azurerm_storage_account.data["secondary"].name
}

output "cosmos_endpoint" {
  value = azurerm_cosmosdb_account.catalog.endpoint
}

output "identity_client_id" {
  value = azurerm_user_assigned_identity.app.client_id
}
