"""Both templates create every queue the functions bind to with its poison twin, and alert on the poison queues."""

from __future__ import annotations

import re

import pytest

from tests.infra import bicep_blocks as bicep
from tests.infra import code_settings
from tests.infra import infra_templates as templates
from tests.infra import template_expressions as expressions

PRIMARY_ACCOUNT_TF = '${azurerm_storage_account.data["primary"].id}'
WORKSPACE_TF = "${azurerm_log_analytics_workspace.main.id}"


def expected_queues() -> set[str]:
    """The queues the functions bind to (names from the code's defaults) and their poison twins."""
    queues = code_settings.queue_names()
    return queues | {f"{queue}-poison" for queue in queues}


def query_targets_poison_queues(query: str, poison_queues: set[str]) -> bool:
    """A log query over queue writes that keeps the poison queues' (by suffix, or each by name)."""
    by_suffix = re.search(r'endswith\s+"-poison"', query) is not None
    return "StorageQueueLogs" in query and "PutMessage" in query and (
        by_suffix or all(queue in query for queue in poison_queues))


def _poison(queues: set[str]) -> set[str]:
    return {queue for queue in queues if queue.endswith("-poison")}


# --- Terraform -----------------------------------------------------------------------------


def terraform_problems(texts: dict[str, str]) -> list[str]:
    document = templates.terraform_document(texts)
    names = expressions.terraform_names(templates.terraform_locals(document))
    resources = templates.terraform_resources(document)
    problems: list[str] = []

    created: set[str] = set()
    for kind, _, body in resources:
        if kind == "azurerm_storage_queue":
            if body.get("storage_account_id") != PRIMARY_ACCOUNT_TF:
                problems.append(f"queue on {body.get('storage_account_id')}, not the primary account")
            created |= set(expressions.evaluate(body["for_each"], names)) if "for_each" in body else {body["name"]}
    if created != expected_queues():
        problems.append(f"queues {sorted(created)} != {sorted(expected_queues())}")

    diagnostics = [body for kind, _, body in resources if kind == "azurerm_monitor_diagnostic_setting"
                   and body.get("target_resource_id") == f"{PRIMARY_ACCOUNT_TF}/queueServices/default"
                   and body.get("log_analytics_workspace_id") == WORKSPACE_TF
                   and {"category": "StorageWrite"} in body.get("enabled_log", [])]
    if not diagnostics:
        problems.append("no diagnostic setting sends the primary queue service's StorageWrite logs to the workspace")

    groups = {f"${{azurerm_monitor_action_group.{name}.id}}" for kind, name, _ in resources
              if kind == "azurerm_monitor_action_group"}
    alerts = []
    for kind, _, body in resources:
        if kind != "azurerm_monitor_scheduled_query_rules_alert_v2":
            continue
        query = str(expressions.evaluate(body["criteria"][0]["query"], names))
        if (query_targets_poison_queues(query, _poison(created)) and body.get("scopes") == [WORKSPACE_TF]
                and set(body["action"][0]["action_groups"]) & groups):
            alerts.append(body)
    if not alerts:
        problems.append("no scheduled query alert on the workspace, with an action group, targets the -poison queues")
    return problems


# --- Bicep -----------------------------------------------------------------------------------


def _primary_storage(main: str) -> bicep.Declaration:
    instances = bicep.module_instances(main, "modules/dataStorage.bicep")
    primary = [item for item in instances if bicep.module_params(item).get("accountName") == "'${namePrefix}pri'"]
    if len(primary) != 1:
        raise templates.TemplateError("no single dataStorage module for <prefix>pri")
    return primary[0]


def bicep_problems(texts: dict[str, str]) -> list[str]:
    codes = {name: templates.strip_bicep_comments(text) for name, text in texts.items()}
    main = codes["main.bicep"]
    main_names = {name: expressions.unevaluated(text) for name, text in templates.bicep_vars(main).items()}
    problems: list[str] = []

    primary = _primary_storage(main)
    params = bicep.module_params(primary)
    storage = codes["modules/dataStorage.bicep"]
    names = bicep.module_names(storage, {"queueNames": expressions.evaluate(params["queueNames"], main_names)})
    services = {item.symbol: item for item in bicep.of_type(storage, "Microsoft.Storage/storageAccounts/queueServices")}

    created: set[str] = set()
    for queue in bicep.of_type(storage, "Microsoft.Storage/storageAccounts/queueServices/queues"):
        service = services.get(queue.property("parent") or "")
        if service is None or (service.condition and not expressions.evaluate(service.condition, names)):
            problems.append(f"queue {queue.symbol} has no queue service on the primary account")
            continue
        created |= set(expressions.evaluate(queue.loop_items, names)) if queue.loop_items else {queue.property("name")}
    if created != expected_queues():
        problems.append(f"queues {sorted(created)} != {sorted(expected_queues())}")

    workspace = params.get("workspaceId")
    diagnostics = [item for item in bicep.of_type(storage, "Microsoft.Insights/diagnosticSettings")
                   if item.property("scope") in services and item.property("workspaceId") == "workspaceId"
                   and (not item.condition or expressions.evaluate(item.condition, names))
                   and re.search(r"category:\s*'StorageWrite'\s*enabled:\s*true", item.body)]
    if not diagnostics:
        problems.append("no diagnostic setting sends the primary queue service's StorageWrite logs to the workspace")

    alerts = []
    for module in bicep.declarations(main):
        if module.kind != "module" or f"modules/{module.target.split('/')[-1]}" not in codes:
            continue
        code = codes[f"modules/{module.target.split('/')[-1]}"]
        groups = {item.symbol for item in bicep.of_type(code, "Microsoft.Insights/actionGroups")}
        for rule in bicep.of_type(code, "Microsoft.Insights/scheduledQueryRules"):
            query = templates.bicep_vars(code).get(rule.property("query") or "", "").strip("'\n")
            scopes = re.findall(r"\w+", rule.block("scopes"))
            linked = re.findall(r"(\w+)\.id", rule.block("actionGroups"))
            if (query_targets_poison_queues(query, _poison(created)) and scopes == ["workspaceId"]
                    and bicep.module_params(module).get("workspaceId") == workspace and set(linked) & groups):
                alerts.append(rule)
    if not alerts:
        problems.append("no scheduled query alert on the workspace, with an action group, targets the -poison queues")
    return problems


# --- tests -------------------------------------------------------------------------------------


def test_the_functions_bind_to_queues():
    # Guards the comparison: no queue found in the code would make "every queue" vacuous.
    assert code_settings.queue_names() == {"commits", "replication", "metering"}


def test_terraform_creates_the_queues_and_alerts_on_poison():
    assert terraform_problems(templates.terraform_texts()) == []


def test_bicep_creates_the_queues_and_alerts_on_poison():
    assert bicep_problems(templates.bicep_texts()) == []


def _edit(texts: dict[str, str], path: str, old: str, new: str) -> dict[str, str]:
    assert old in texts[path], f"{old!r} not in {path}"
    return {**texts, path: texts[path].replace(old, new, 1)}


def _drop_block(texts: dict[str, str], path: str, opening: str) -> dict[str, str]:
    """Remove the declaration that starts with `opening` through its closing brace."""
    text = texts[path]
    start = text.index(opening)
    brace = text.index("{", start + len(opening) - 1)
    end = templates._balanced_end(text, brace)
    return {**texts, path: text[:start] + text[end:]}


TERRAFORM_BREAKAGES = {
    "poison queues": ("storage.tf", "concat(values(local.queues), local.poison_queues)", "values(local.queues)", "queues"),
    "a work queue": ("main.tf", 'metering = "metering" }', "}", "queues"),
    "alert query": ("alerts.tf", 'endswith "-poison"', 'endswith "-dead"', "scheduled query alert"),
    "alert action group": ("alerts.tf", "action_groups = [azurerm_monitor_action_group.ops.id]", "action_groups = []",
                           "scheduled query alert"),
    "diagnostic category": ("alerts.tf", 'category = "StorageWrite"', 'category = "StorageRead"', "diagnostic setting"),
}


@pytest.mark.parametrize("breakage", sorted(TERRAFORM_BREAKAGES))
def test_terraform_check_notices(breakage):
    path, old, new, complaint = TERRAFORM_BREAKAGES[breakage]
    problems = terraform_problems(_edit(templates.terraform_texts(), path, old, new))
    assert any(complaint in problem for problem in problems), problems


@pytest.mark.parametrize(("opening", "complaint"), [
    ('resource "azurerm_monitor_scheduled_query_rules_alert_v2"', "scheduled query alert"),
    ('resource "azurerm_monitor_action_group"', "scheduled query alert"),
    ('resource "azurerm_monitor_diagnostic_setting"', "diagnostic setting"),
])
def test_terraform_check_notices_a_missing_resource(opening, complaint):
    problems = terraform_problems(_drop_block(templates.terraform_texts(), "alerts.tf", opening))
    assert any(complaint in problem for problem in problems), problems


BICEP_BREAKAGES = {
    "poison queues": ("modules/dataStorage.bicep", "concat(queueNames, poisonQueues)", "queueNames", "queues"),
    "a work queue": ("main.bicep", "  meteringQueue\n]", "]", "queues"),
    "alert query": ("modules/poisonAlert.bicep", 'endswith "-poison"', 'endswith "-dead"', "scheduled query alert"),
    "alert action group": ("modules/poisonAlert.bicep", "      actionGroup.id\n", "", "scheduled query alert"),
    "diagnostic category": ("modules/dataStorage.bicep", "category: 'StorageWrite'", "category: 'StorageRead'",
                            "diagnostic setting"),
}


@pytest.mark.parametrize("breakage", sorted(BICEP_BREAKAGES))
def test_bicep_check_notices(breakage):
    path, old, new, complaint = BICEP_BREAKAGES[breakage]
    problems = bicep_problems(_edit(templates.bicep_texts(), path, old, new))
    assert any(complaint in problem for problem in problems), problems


@pytest.mark.parametrize(("path", "opening", "complaint"), [
    ("modules/poisonAlert.bicep", "resource poisonMessages", "scheduled query alert"),
    ("modules/dataStorage.bicep", "resource queueLogs", "diagnostic setting"),
    ("main.bicep", "module poisonAlert", "scheduled query alert"),
])
def test_bicep_check_notices_a_missing_resource(path, opening, complaint):
    problems = bicep_problems(_drop_block(templates.bicep_texts(), path, opening))
    assert any(complaint in problem for problem in problems), problems
