"""Every role the app identity gets is scoped to one resource, and both templates grant exactly the same ones."""

from __future__ import annotations

import re

import pytest

from tests.infra import bicep_blocks as bicep
from tests.infra import infra_templates as templates
from tests.infra import template_expressions as expressions

# Built-in role ids (the same in every tenant) and the names azurerm uses for them.
ROLE_NAMES = {
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "db58b8e5-c6ad-4a2a-8342-4190687cbf4a": "Storage Blob Delegator",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "00000000-0000-0000-0000-000000000002": "Cosmos DB Built-in Data Contributor",
}

# (resource, role). Data: blobs on both data accounts (Blob Data Contributor includes the
# user delegation key), queues on the primary only, the catalog's data plane. What the host
# needs: its own storage (leases, timers, keys, the package) and telemetry with Entra ID.
EXPECTED = {
    ("primary storage", "Storage Blob Data Contributor"),
    ("primary storage", "Storage Queue Data Contributor"),
    ("secondary storage", "Storage Blob Data Contributor"),
    ("cosmos", "Cosmos DB Built-in Data Contributor"),
    ("host storage", "Storage Blob Data Owner"),
    ("app insights", "Monitoring Metrics Publisher"),
}


class ScopeError(Exception):
    """A role assignment is not scoped to one specific resource."""


# --- Terraform -----------------------------------------------------------------------------

TERRAFORM_SCOPES = {
    'azurerm_storage_account.data["primary"]': "primary storage",
    'azurerm_storage_account.data["secondary"]': "secondary storage",
    "azurerm_storage_account.deployment": "host storage",
    "azurerm_application_insights.main": "app insights",
    "azurerm_cosmosdb_account.catalog": "cosmos",
}
_TERRAFORM_ID = re.compile(r"^\$\{(azurerm_\w+\.\w+)(?:\[([^\]]+)\])?\.id\}$")


def _terraform_scope(scope: str, names: dict[str, object]) -> str:
    match = _TERRAFORM_ID.match(scope)
    if not match:
        raise ScopeError(f"scope {scope!r} is not the id of one resource")
    reference = match.group(1)
    if match.group(2):
        key = match.group(2)
        key = key.strip('"') if key.startswith('"') else expressions.evaluate(key, names)
        reference = f'{reference}["{key}"]'
    if reference not in TERRAFORM_SCOPES:
        raise ScopeError(f"scope {reference} is not a storage account, App Insights or Cosmos DB account")
    return TERRAFORM_SCOPES[reference]


def terraform_grants(texts: dict[str, str]) -> set[tuple[str, str]]:
    document = templates.terraform_document(texts)
    local_values = expressions.terraform_names(templates.terraform_locals(document))
    grants = set()
    for kind, name, body in templates.terraform_resources(document):
        if kind not in ("azurerm_role_assignment", "azurerm_cosmosdb_sql_role_assignment"):
            continue
        instances = expressions.evaluate(body["for_each"], local_values) if "for_each" in body else {None: None}
        for each in instances.values():  # type: ignore[union-attr]
            names = {**local_values, **({f"each.value.{k}": v for k, v in each.items()} if each else {})}
            where = _terraform_scope(body["scope"], names)
            if kind == "azurerm_role_assignment":
                role = expressions.evaluate(f'"{body["role_definition_name"]}"', names)
            else:
                role = ROLE_NAMES[body["role_definition_id"].rsplit("/", 1)[-1]]
            grants.add((where, role))
    return grants


# --- Bicep -------------------------------------------------------------------------------------

# Resource types a role may be scoped to, with the resource they are in each module.
BICEP_SCOPE_TYPES = {"Microsoft.Storage/storageAccounts", "Microsoft.Insights/components",
                     "Microsoft.DocumentDB/databaseAccounts"}
BICEP_MODULE_SCOPES = {"modules/functionApp.bicep": "host storage", "modules/monitoring.bicep": "app insights",
                       "modules/cosmos.bicep": "cosmos"}


def _bicep_role(expression: str, names: dict[str, object]) -> str:
    guid = expression.strip()
    match = re.fullmatch(r"subscriptionResourceId\('Microsoft\.Authorization/roleDefinitions',\s*(.+)\)", guid)
    if match:
        guid = match.group(1)
    else:
        match = re.fullmatch(r"'\$\{\w+\.id\}/sqlRoleDefinitions/\$\{(\w+)\}'", guid)
        if not match:
            raise ScopeError(f"role definition {expression!r} is not understood")
        guid = match.group(1)
    return ROLE_NAMES[str(expressions.evaluate(guid, names))]


def _module_grants(code: str, where: str, names: dict[str, object]) -> set[tuple[str, str]]:
    scopable = {item.symbol for item in bicep.declarations(code) if item.target in BICEP_SCOPE_TYPES}
    grants = set()
    for assignment in bicep.of_type(code, "Microsoft.Authorization/roleAssignments"):
        scope = assignment.property("scope")
        if scope not in scopable:
            raise ScopeError(f"{assignment.symbol}: scope {scope!r} is not a storage account, App Insights or Cosmos "
                             "DB account of its module (no scope means the resource group)")
        roles = (expressions.evaluate(assignment.loop_items, names) if assignment.loop_items else [None])
        for role in roles:  # type: ignore[union-attr]
            loop_names = {**names, assignment.loop_variable: role} if assignment.loop_variable else names
            grants.add((where, _bicep_role(assignment.property("roleDefinitionId") or "", loop_names)))
    for assignment in bicep.of_type(code, "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments"):
        scope = assignment.property("scope")
        if not (scope and scope.endswith(".id") and scope[:-3] in scopable):
            raise ScopeError(f"{assignment.symbol}: scope {scope!r} is not the Cosmos DB account")
        grants.add((where, _bicep_role(assignment.property("roleDefinitionId") or "", names)))
    return grants


def bicep_grants(texts: dict[str, str]) -> set[tuple[str, str]]:
    codes = {name: templates.strip_bicep_comments(text) for name, text in texts.items()}
    main = codes["main.bicep"]
    main_names = {name: expressions.unevaluated(text) for name, text in templates.bicep_vars(main).items()}
    if bicep.of_type(main, "Microsoft.Authorization/roleAssignments"):
        raise ScopeError("main.bicep assigns a role itself: at resource group scope")
    grants = set()
    for module in bicep.declarations(main):
        if module.kind != "module":
            continue
        code = codes[module.target]
        if module.target == "modules/dataStorage.bicep":
            params = bicep.module_params(module)
            account = {"'${namePrefix}pri'": "primary storage", "'${namePrefix}sec'": "secondary storage"}
            where = account[params["accountName"]]
            queues = expressions.evaluate(params["queueNames"], main_names)
            grants |= _module_grants(code, where, bicep.module_names(code, {"queueNames": queues}))
        else:
            grants |= _module_grants(code, BICEP_MODULE_SCOPES.get(module.target, module.target),
                                     bicep.module_names(code, {}))
    return grants


# --- tests -------------------------------------------------------------------------------------


def test_terraform_grants_exactly_the_needed_roles_each_on_one_resource():
    assert terraform_grants(templates.terraform_texts()) == EXPECTED


def test_bicep_grants_exactly_the_needed_roles_each_on_one_resource():
    assert bicep_grants(templates.bicep_texts()) == EXPECTED


@pytest.mark.parametrize("scope", ["data.azurerm_resource_group.main.id", "data.azurerm_subscription.current.id"])
def test_terraform_refuses_a_broad_scope(scope):
    texts = templates.terraform_texts()
    texts["main.tf"] = texts["main.tf"].replace("scope                = azurerm_application_insights.main.id",
                                                f"scope                = {scope}", 1)
    with pytest.raises(ScopeError):
        terraform_grants(texts)


def test_terraform_notices_an_extra_role():
    texts = templates.terraform_texts()
    texts["storage.tf"] = texts["storage.tf"].replace(
        'secondary_blob_data = { account = "secondary", role = "Storage Blob Data Contributor" }',
        'secondary_blob_data = { account = "secondary", role = "Storage Blob Data Contributor" }\n'
        '    secondary_queue_data = { account = "secondary", role = "Storage Queue Data Contributor" }', 1)
    assert terraform_grants(texts) - EXPECTED == {("secondary storage", "Storage Queue Data Contributor")}


@pytest.mark.parametrize(("old", "new"), [
    ("  scope: account\n", "  scope: resourceGroup()\n"),
    ("  scope: account\n", ""),
])
def test_bicep_refuses_a_broad_scope(old, new):
    texts = templates.bicep_texts()
    assert old in texts["modules/dataStorage.bicep"]
    texts["modules/dataStorage.bicep"] = texts["modules/dataStorage.bicep"].replace(old, new, 1)
    with pytest.raises(ScopeError):
        bicep_grants(texts)


def test_bicep_notices_queue_roles_on_the_secondary():
    texts = templates.bicep_texts()
    texts["modules/dataStorage.bicep"] = texts["modules/dataStorage.bicep"].replace(
        "var roles = withQueues ? concat(blobRoles, queueRoles) : blobRoles", "var roles = concat(blobRoles, queueRoles)")
    assert bicep_grants(texts) - EXPECTED == {("secondary storage", "Storage Queue Data Contributor")}
