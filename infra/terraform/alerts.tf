# The poison-queue alert: queue write logs go to Log Analytics; a message landing in a poison queue fires.

locals {
  # A message moved to "<queue>-poison" is a PutMessage on that queue. Replays (`backup-admin
  # poison replay`) delete from the poison queue and never match.
  poison_query = <<-KQL
    StorageQueueLogs
    | where OperationName == "PutMessage" and StatusCode between (200 .. 299)
    | extend QueueName = tostring(split(trim_start("/", tostring(parse_url(Uri).Path)), "/")[0])
    | where QueueName endswith "-poison"
    | summarize Messages = count() by QueueName
  KQL
}

resource "azurerm_monitor_diagnostic_setting" "primary_queues" {
  name                       = "queue-logs"
  target_resource_id         = "${azurerm_storage_account.data["primary"].id}/queueServices/default"
  log_analytics_workspace_id = azurerm_log_analytics_workspace.main.id

  enabled_log {
    category = "StorageWrite"
  }

  enabled_log {
    category = "StorageDelete"
  }
}

resource "azurerm_monitor_action_group" "ops" {
  name                = local.names.action_group
  resource_group_name = data.azurerm_resource_group.main.name
  short_name          = "backupops"
  tags                = local.tags

  dynamic "email_receiver" {
    for_each = var.alert_email == "" ? [] : [var.alert_email]
    content {
      name                    = "operators"
      email_address           = email_receiver.value
      use_common_alert_schema = true
    }
  }
}

resource "azurerm_monitor_scheduled_query_rules_alert_v2" "poison_messages" {
  name                    = local.names.poison_alert
  resource_group_name     = data.azurerm_resource_group.main.name
  location                = var.primary_region
  description             = "A queue message failed maxDequeueCount times and was moved to a poison queue: list it with `backup-admin poison list`, fix the cause, replay it."
  severity                = 2
  scopes                  = [azurerm_log_analytics_workspace.main.id]
  evaluation_frequency    = "PT5M"
  window_duration         = "PT5M"
  auto_mitigation_enabled = false
  tags                    = local.tags

  criteria {
    query                   = local.poison_query
    time_aggregation_method = "Total"
    metric_measure_column   = "Messages"
    operator                = "GreaterThan"
    threshold               = 0

    dimension {
      name     = "QueueName"
      operator = "Include"
      values   = ["*"]
    }

    failing_periods {
      minimum_failing_periods_to_trigger_alert = 1
      number_of_evaluation_periods             = 1
    }
  }

  action {
    action_groups = [azurerm_monitor_action_group.ops.id]
  }
}
