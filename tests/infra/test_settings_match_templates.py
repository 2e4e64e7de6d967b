"""Both templates set every non-local app setting of shared/settings.py, and nothing else but the platform's."""

from __future__ import annotations

import json
import re

import pytest

from tests.infra import code_settings
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


# --- the table against the code ------------------------------------------------------------


def test_settings_table_lists_exactly_what_the_code_reads():
    read = code_settings.code_settings().names
    assert sorted(read - set(SETTING_NAMES)) == [], "read by the code but missing from SETTING_NAMES"
    assert sorted(set(SETTING_NAMES) - read) == [], "in SETTING_NAMES but read by nothing"


def test_settings_table_says_which_form_reads_each_setting():
    read = code_settings.code_settings()
    read_in = {
        "both": lambda name: name in read.local and name in read.azure,
        "local": lambda name: name in read.local,
        "azure": lambda name: name in read.azure and name not in read.local,
    }
    assert [name for name, where in SETTING_NAMES.items() if not read_in[where](name)] == []


def test_binding_reader_finds_settings_and_connections():
    text = """
@bp.queue_trigger(arg_name="msg", queue_name="%AUDIT_QUEUE%", connection="AUDIT_STORAGE")
def audit(msg): ...

@bp.timer_trigger(arg_name="timer", schedule="%AUDIT_SCHEDULE%")
def tick(timer): ...
"""
    found = code_settings.bindings({code_settings.REPO / "functions" / "audit.py": text})
    assert code_settings.binding_settings(found) == {
        "both": {"AUDIT_QUEUE", "AUDIT_SCHEDULE"},
        "azure": {"AUDIT_STORAGE__queueServiceUri", "AUDIT_STORAGE__credential", "AUDIT_STORAGE__clientId"},
        "local": {"AUDIT_STORAGE"},
    }
    assert code_settings.queue_settings(found) == {"AUDIT_QUEUE"}


def test_environment_reader_finds_constant_keys_and_refuses_hidden_ones():
    text = 'import os\nA = os.environ.get("NEW_FLAG")\nB = os.getenv("OTHER")\nC = os.environ["THIRD"]\nD = os.environ.get(name)\n'
    names, hidden = code_settings.environ_reads({code_settings.REPO / "shared" / "flags.py": text})
    assert names == {"NEW_FLAG", "OTHER", "THIRD"}
    assert hidden == ["shared/flags.py:5"]


def test_no_code_reads_the_environment_behind_a_computed_key():
    assert code_settings.environ_reads()[1] == []


def test_recorder_sees_lookups_of_absent_keys():
    env = code_settings.RecordingEnv({"A": "1"})
    assert env.get("NEW_FLAG") is None and "NEW_FLAG" not in env
    assert env.looked_up == {"NEW_FLAG"}


# --- the templates against the table ---------------------------------------------------------


def test_platform_allowlist_names_no_service_setting():
    assert PLATFORM_SETTINGS.isdisjoint(SETTING_NAMES)


def test_settings_table_has_both_forms():
    # Guards the comparison itself: an empty or all-local table would pass vacuously.
    assert REQUIRED and LOCAL_ONLY


@pytest.mark.parametrize("plan", PLANS)
def test_terraform_function_app_sets_exactly_the_service_settings(plan):
    settings = templates.terraform_app_settings(templates.terraform_texts())
    assert set(settings) == set(PLANS), "one Function App resource per hosting plan"
    assert problems(settings[plan]) == []


@pytest.mark.parametrize("plan", PLANS)
def test_bicep_function_app_sets_exactly_the_service_settings(plan):
    assert problems(templates.bicep_app_settings(templates.bicep_texts(), plan)) == []


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
    settings = templates.terraform_app_settings(_without_terraform_setting(templates.terraform_texts(), name))
    for plan in PLANS:
        assert f"missing {name}" in problems(settings[plan])


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_bicep_without_a_setting_fails_the_comparison(name):
    changed = _without_bicep_setting(templates.bicep_texts(), name)
    for plan in PLANS:
        assert f"missing {name}" in problems(templates.bicep_app_settings(changed, plan))


def test_terraform_with_a_connection_string_fails_the_comparison():
    texts = templates.terraform_texts()
    texts["function_app.tf"] = texts["function_app.tf"].replace(
        "service_app_settings = {", 'service_app_settings = {\n    COSMOS_KEY = "secret"', 1
    )
    assert "local-only COSMOS_KEY (keys belong to the dev stack)" in problems(
        templates.terraform_app_settings(texts)["flex"]
    )


def test_bicep_with_an_unknown_setting_fails_the_comparison():
    texts = templates.bicep_texts()
    texts["modules/functionApp.bicep"] = texts["modules/functionApp.bicep"].replace(
        "var serviceSettings = [", "var serviceSettings = [\n  {\n    name: 'DEBUG_MODE'\n    value: '1'\n  }", 1
    )
    assert "unexpected DEBUG_MODE" in problems(templates.bicep_app_settings(texts, "flex"))


HOST_STORAGE_BY_IDENTITY = {"AzureWebJobsStorage__accountName", "AzureWebJobsStorage__credential",
                            "AzureWebJobsStorage__clientId"}


@pytest.mark.parametrize("plan", PLANS)
def test_host_storage_is_identity_based_in_both_templates(plan):
    terraform = templates.terraform_app_settings(templates.terraform_texts())[plan]
    bicep = templates.bicep_app_settings(templates.bicep_texts(), plan)
    for settings in (terraform, bicep):
        assert HOST_STORAGE_BY_IDENTITY <= settings
        assert not {"AzureWebJobsStorage", "AzureWebJobsDashboard"} & settings


def test_terraform_premium_host_storage_is_the_deployment_account():
    document = templates.terraform_document(templates.terraform_texts())
    body = next(body for kind, _, body in templates.terraform_resources(document)
                if kind == "azurerm_linux_function_app")
    assert body["storage_account_name"] == "${azurerm_storage_account.deployment.name}"
    assert body["storage_uses_managed_identity"] is True


@pytest.mark.parametrize(("argument", "written"), [
    ("storage_uses_managed_identity", "AzureWebJobsStorage"),
    ("builtin_logging_enabled", "AzureWebJobsDashboard__accountName"),
])
def test_terraform_premium_without_an_argument_gets_a_provider_written_setting(argument, written):
    settings = templates.terraform_app_settings(_without_terraform_setting(templates.terraform_texts(), argument))["premium"]
    assert f"unexpected {written}" in problems(settings)


def test_premium_only_settings_stay_out_of_flex():
    premium_only = {"FUNCTIONS_EXTENSION_VERSION", "FUNCTIONS_WORKER_RUNTIME", "WEBSITE_RUN_FROM_PACKAGE"}
    assert not premium_only & templates.bicep_app_settings(templates.bicep_texts(), "flex")
    assert not premium_only & templates.terraform_app_settings(templates.terraform_texts())["flex"]


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
    document = templates.terraform_document(templates.terraform_texts())
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
