"""Terraform and Bicep create the same kinds of resources, queues and Cosmos DB containers."""

from __future__ import annotations

import re

import pytest

from tests.infra import infra_templates as templates

# Each Terraform resource type and the ARM types it stands for. Where azurerm folds an ARM
# child resource into a block of its parent (blob_properties is blobServices/default, a queue
# implies queueServices/default, basic-auth flags are basicPublishingCredentialsPolicies), the
# child type is listed with the parent that carries it.
TERRAFORM_TO_BICEP: dict[str, set[str]] = {
    "azurerm_user_assigned_identity": {"Microsoft.ManagedIdentity/userAssignedIdentities"},
    "azurerm_log_analytics_workspace": {"Microsoft.OperationalInsights/workspaces"},
    "azurerm_application_insights": {"Microsoft.Insights/components"},
    "azurerm_role_assignment": {"Microsoft.Authorization/roleAssignments"},
    "azurerm_storage_account": {"Microsoft.Storage/storageAccounts", "Microsoft.Storage/storageAccounts/blobServices"},
    "azurerm_storage_management_policy": {"Microsoft.Storage/storageAccounts/managementPolicies"},
    "azurerm_storage_container": {"Microsoft.Storage/storageAccounts/blobServices/containers"},
    "azurerm_storage_queue": {
        "Microsoft.Storage/storageAccounts/queueServices",
        "Microsoft.Storage/storageAccounts/queueServices/queues",
    },
    "azurerm_cosmosdb_account": {"Microsoft.DocumentDB/databaseAccounts"},
    "azurerm_cosmosdb_sql_database": {"Microsoft.DocumentDB/databaseAccounts/sqlDatabases"},
    "azurerm_cosmosdb_sql_container": {"Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers"},
    "azurerm_cosmosdb_sql_role_assignment": {"Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments"},
    "azurerm_service_plan": {"Microsoft.Web/serverfarms"},
    "azurerm_function_app_flex_consumption": {"Microsoft.Web/sites", "Microsoft.Web/sites/basicPublishingCredentialsPolicies"},
    "azurerm_linux_function_app": {"Microsoft.Web/sites", "Microsoft.Web/sites/basicPublishingCredentialsPolicies"},
    "azurerm_monitor_diagnostic_setting": {"Microsoft.Insights/diagnosticSettings"},
    "azurerm_monitor_action_group": {"Microsoft.Insights/actionGroups"},
    "azurerm_monitor_scheduled_query_rules_alert_v2": {"Microsoft.Insights/scheduledQueryRules"},
}

DESIGN = templates.REPO / "docs" / "design.md"


def kind_differences(terraform_types: set[str], bicep_types: set[str]) -> list[str]:
    """Why the two sets of resource kinds differ (empty: they match)."""
    unmapped = sorted(terraform_types - set(TERRAFORM_TO_BICEP))
    if unmapped:
        return [f"Terraform type without an entry in TERRAFORM_TO_BICEP: {name}" for name in unmapped]
    expected = set().union(*(TERRAFORM_TO_BICEP[name] for name in terraform_types))
    return [f"only in Terraform: {name}" for name in sorted(expected - bicep_types)] + [
        f"only in Bicep: {name}" for name in sorted(bicep_types - expected)
    ]


def test_both_templates_create_the_same_resource_kinds():
    terraform_types = templates.terraform_resource_types(templates.terraform_texts())
    bicep_types = templates.bicep_resource_types(templates.bicep_texts())
    assert terraform_types and bicep_types
    assert kind_differences(terraform_types, bicep_types) == []


def test_a_resource_missing_from_one_template_is_reported():
    terraform_types = templates.terraform_resource_types(templates.terraform_texts())
    bicep_types = templates.bicep_resource_types(templates.bicep_texts())
    assert kind_differences(terraform_types - {"azurerm_monitor_action_group"}, bicep_types) == [
        "only in Bicep: Microsoft.Insights/actionGroups"
    ]
    assert "only in Terraform: Microsoft.Insights/actionGroups" in kind_differences(
        terraform_types, bicep_types - {"Microsoft.Insights/actionGroups"}
    )
    assert kind_differences(terraform_types | {"azurerm_key_vault"}, bicep_types) == [
        "Terraform type without an entry in TERRAFORM_TO_BICEP: azurerm_key_vault"
    ]


def test_bicep_reader_skips_existing_and_refuses_nested_short_types():
    text = (
        "resource a 'Microsoft.Web/sites@2024-04-01' existing = {\n  name: 'x'\n}\n"
        "// resource c 'Microsoft.Fake/commented@1' = {}\n"
        "resource b 'Microsoft.Web/serverfarms@2024-04-01' = {\n  name: 'y'\n}\n"
    )
    assert templates.bicep_resource_types({"x.bicep": text}) == {"Microsoft.Web/serverfarms"}
    with pytest.raises(templates.TemplateError):
        templates.bicep_resource_types({"x.bicep": "resource q 'queues@2023-05-01' = {\n}\n"})


# --- the contract of docs/design.md ------------------------------------------------------


def design_containers() -> set[str]:
    """Container names of the design's "Cosmos DB containers" table."""
    section = DESIGN.read_text(encoding="utf-8").split("## Cosmos DB containers", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE))


def design_queues() -> set[str]:
    section = DESIGN.read_text(encoding="utf-8").split("## Queues and message schemas", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE))


def _terraform_locals() -> dict:
    return templates.terraform_locals(templates.terraform_document(templates.terraform_texts()))


def _bicep_code(name: str) -> str:
    return templates.strip_bicep_comments((templates.BICEP_DIR / name).read_text(encoding="utf-8"))


def _bicep_string_list(code: str, var: str) -> set[str]:
    return set(re.findall(r"'([^']*)'", templates.bicep_vars(code)[var]))


def test_design_lists_the_containers_and_queues():
    # Guards the readers below against a reworded design document.
    assert design_containers() == {"vaults", "instances", "recovery_points", "packs", "sessions", "usage"}
    assert design_queues() == {"commits", "replication", "metering"}


def test_terraform_creates_the_design_containers_partitioned_by_vault():
    local_values = _terraform_locals()
    containers = local_values["cosmos_containers"]
    assert set(containers) == design_containers()
    assert containers["sessions"]["default_ttl"] == 604800
    assert all(spec["default_ttl"] is None for name, spec in containers.items() if name != "sessions")
    resource = next(
        body
        for kind, _, body in templates.terraform_resources(templates.terraform_document(templates.terraform_texts()))
        if kind == "azurerm_cosmosdb_sql_container"
    )
    assert resource["partition_key_paths"] == ["/vault_id"]
    assert local_values["cosmos_database"] == "backup"


def test_bicep_creates_the_design_containers_partitioned_by_vault():
    code = _bicep_code("modules/cosmos.bicep")
    assert _bicep_string_list(code, "cosmosContainers") == design_containers()
    assert re.fullmatch(r"\{\s*sessions:\s*604800\s*\}", templates.bicep_vars(code)["containerTtls"])
    assert "'/vault_id'" in code and code.count("paths:") == 1
    assert templates.bicep_vars(code)["databaseName"] == "'backup'"


def test_both_templates_create_the_design_queues_with_poison_twins():
    local_values = _terraform_locals()
    assert set(local_values["queues"].values()) == design_queues()
    assert "poison_queues" in local_values and "-poison" in local_values["poison_queues"]
    main = _bicep_code("main.bicep")
    queue_vars = templates.bicep_vars(main)
    assert {queue_vars[name].strip("'") for name in ("commitQueue", "replicationQueue", "meteringQueue")} == design_queues()
    storage = templates.bicep_vars(_bicep_code("modules/dataStorage.bicep"))
    assert "-poison" in storage["poisonQueues"]
    assert storage["allQueues"].replace(" ", "") == "concat(queueNames,poisonQueues)"
