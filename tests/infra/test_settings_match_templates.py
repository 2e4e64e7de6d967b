"""Both templates set every non-local app setting of shared/settings.py, and nothing else but the platform's."""

from __future__ import annotations

import json
import re

import pytest

from tests.infra import infra_templates as templates
from shared.settings import SETTING_NAMES

# Settings the Functions platform reads itself, not the service code. Each one is allowed in
# a template although SETTING_NAMES does not list it; nothing else is.
PLATFORM_SETTINGS = {
    # The host's own storage (leases, timer schedules, keys), identity-based: no connection string.
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    # Telemetry. Terraform sets the connection string through site_config instead. Ingestion is
    # authenticated with the app's identity because local auth is off on Application Insights.
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    # Premium only, Bicep only: the runtime (Flex names it in functionAppConfig; azurerm derives
    # both from functions_extension_version and application_stack).
    "FUNCTIONS_EXTENSION_VERSION",
    "FUNCTIONS_WORKER_RUNTIME",
    # Premium only: run the package from the deployment container, read with the identity.
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID",
}

REQUIRED = {name for name, where in SETTING_NAMES.items() if where in ("azure", "both")}
LOCAL_ONLY = {name for name, where in SETTING_NAMES.items() if where == "local"}
PLANS = ("flex", "premium")


def problems(settings: set[str]) -> list[str]:
    """What is wrong with one Function App's app setting names (empty: nothing)."""
    found = []
    found += [f"missing {name}" for name in sorted(REQUIRED - settings)]
    found += [f"local-only {name} (keys belong to the dev stack)" for name in sorted(settings & LOCAL_ONLY)]
    found += [f"unexpected {name}" for name in sorted(settings - REQUIRED - LOCAL_ONLY - PLATFORM_SETTINGS)]
    return found


def terraform_texts() -> dict[str, str]:
    return templates.read_texts(templates.TERRAFORM_DIR, ".tf")


def bicep_texts() -> dict[str, str]:
    return templates.read_texts(templates.BICEP_DIR, ".bicep")


def test_platform_allowlist_names_no_service_setting():
    assert PLATFORM_SETTINGS.isdisjoint(SETTING_NAMES)


def test_settings_table_has_both_forms():
    # Guards the comparison itself: an empty or all-local table would pass vacuously.
    assert REQUIRED and LOCAL_ONLY


@pytest.mark.parametrize("plan", PLANS)
def test_terraform_function_app_sets_exactly_the_service_settings(plan):
    settings = templates.terraform_app_settings(terraform_texts())
    assert set(settings) == set(PLANS), "one Function App resource per hosting plan"
    assert problems(settings[plan]) == []


@pytest.mark.parametrize("plan", PLANS)
def test_bicep_function_app_sets_exactly_the_service_settings(plan):
    assert problems(templates.bicep_app_settings(bicep_texts(), plan)) == []


def _without_terraform_setting(texts: dict[str, str], name: str) -> dict[str, str]:
    line = re.compile(rf"^\s*{re.escape(name)}\s*=.*\n", re.MULTILINE)
    changed = {path: line.sub("", text) for path, text in texts.items()}
    assert changed != texts, f"{name} not found in the Terraform files"
    return changed


def _without_bicep_setting(texts: dict[str, str], name: str) -> dict[str, str]:
    pair = re.compile(rf"\n\s*\{{\s*name:\s*'{re.escape(name)}'\s*value:[^\n]*\n\s*\}}")
    changed = {path: pair.sub("", text) for path, text in texts.items()}
    assert changed != texts, f"{name} not found in the Bicep files"
    return changed


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_terraform_without_a_setting_fails_the_comparison(name):
    settings = templates.terraform_app_settings(_without_terraform_setting(terraform_texts(), name))
    for plan in PLANS:
        assert f"missing {name}" in problems(settings[plan])


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_bicep_without_a_setting_fails_the_comparison(name):
    changed = _without_bicep_setting(bicep_texts(), name)
    for plan in PLANS:
        assert f"missing {name}" in problems(templates.bicep_app_settings(changed, plan))


def test_terraform_with_a_connection_string_fails_the_comparison():
    texts = terraform_texts()
    texts["function_app.tf"] = texts["function_app.tf"].replace(
        "service_app_settings = {", 'service_app_settings = {\n    COSMOS_KEY = "secret"', 1
    )
    assert "local-only COSMOS_KEY (keys belong to the dev stack)" in problems(
        templates.terraform_app_settings(texts)["flex"]
    )


def test_bicep_with_an_unknown_setting_fails_the_comparison():
    texts = bicep_texts()
    texts["modules/functionApp.bicep"] = texts["modules/functionApp.bicep"].replace(
        "var serviceSettings = [", "var serviceSettings = [\n  {\n    name: 'DEBUG_MODE'\n    value: '1'\n  }", 1
    )
    assert "unexpected DEBUG_MODE" in problems(templates.bicep_app_settings(texts, "flex"))


def test_premium_only_settings_stay_out_of_flex():
    premium_only = {"FUNCTIONS_EXTENSION_VERSION", "FUNCTIONS_WORKER_RUNTIME", "WEBSITE_RUN_FROM_PACKAGE"}
    assert not premium_only & templates.bicep_app_settings(bicep_texts(), "flex")
    assert not premium_only & templates.terraform_app_settings(terraform_texts())["flex"]


# --- the Bicep reader itself -------------------------------------------------------------


def test_bicep_comments_are_stripped_but_strings_kept():
    code = templates.strip_bicep_comments(
        "var a = 'https://x' // note\n/* block\n{ name: 'GONE'\nvalue: 1 } */var b = '''raw // kept'''\n"
    )
    assert "'https://x'" in code and "note" not in code and "GONE" not in code
    assert "'''raw // kept'''" in code
    assert code.count("\n") == 4


def test_bicep_reader_follows_vars_and_ignores_commented_settings():
    text = """
var isFlex = plan == 'flex'
var common = [
  {
    name: 'A'
    value: 'x:y'
  }
  // {
  //   name: 'COMMENTED'
  //   value: 1
  // }
  { name: 'INLINE', value: concat('a', 'b') }
]
var premiumOnly = [
  {
    name: 'P'
    value: '1'
  }
]
var all = concat(common, isFlex ? [] : premiumOnly)
resource site 'Microsoft.Web/sites@2024-04-01' = {
  properties: {
    siteConfig: {
      appSettings: all
    }
  }
}
"""
    assert templates.bicep_app_settings({"x.bicep": text}, "flex") == {"A", "INLINE"}
    assert templates.bicep_app_settings({"x.bicep": text}, "premium") == {"A", "INLINE", "P"}


def test_terraform_reader_refuses_expressions_it_cannot_follow():
    text = 'resource "azurerm_linux_function_app" "app" {\n  app_settings = jsondecode(var.settings)\n}\n'
    with pytest.raises(templates.TemplateError):
        templates.terraform_app_settings({"main.tf": text})


# --- values that must agree --------------------------------------------------------------


def _terraform_default(name: str) -> object:
    document = templates.terraform_document(terraform_texts())
    for block in document.get("variable", []):
        for variable, body in block.items():
            if templates._unquote(variable) == name:
                return body.get("default")
    raise AssertionError(f"no variable {name}")


def _bicep_default(name: str) -> str:
    code = templates.strip_bicep_comments((templates.BICEP_DIR / "main.bicep").read_text(encoding="utf-8"))
    match = re.search(rf"^param\s+{name}\s+\w+\s*=\s*(.+)$", code, flags=re.MULTILINE)
    assert match, f"no param {name} with a default"
    return match.group(1).strip()


@pytest.mark.parametrize(
    ("terraform", "bicep"),
    [
        ("default_redundancy", "defaultRedundancy"),
        ("hosting_plan", "hostingPlan"),
        ("cosmos_throughput_mode", "cosmosThroughputMode"),
        ("retention_schedule", "retentionSchedule"),
        ("gc_grace_hours", "gcGraceHours"),
        ("backup_session_hours", "backupSessionHours"),
        ("blob_soft_delete_days", "blobSoftDeleteDays"),
        ("immutability_days", "immutabilityDays"),
        ("immutability_locked", "immutabilityLocked"),
    ],
)
def test_parameter_defaults_agree(terraform, bicep):
    assert str(_terraform_default(terraform)).lower() == _bicep_default(bicep).strip("'").lower()


def test_price_table_defaults_agree_and_are_valid():
    terraform_table = json.loads(_terraform_default("price_table"))
    bicep_table = json.loads(_bicep_default("priceTable").strip("'"))
    assert terraform_table == bicep_table
    pricing = pytest.importorskip("shared.domain.pricing")
    pricing.PriceTable.model_validate(terraform_table)


def test_default_grace_exceeds_session():
    # shared/settings.py refuses to start otherwise (docs/design.md, garbage collection).
    assert float(_terraform_default("gc_grace_hours")) > float(_terraform_default("backup_session_hours"))
