"""Reads the deployment templates under infra/ into plain data (app setting names, resource kinds).

Terraform is parsed with python-hcl2. Bicep has no Python parser in the test environment, so
it is read at the token level: comments are stripped (string-aware), `var` values are cut out
as balanced brackets, and an app setting is an object whose `name` is followed by `value`.
Expressions the readers do not understand raise TemplateError instead of being skipped.
python-hcl2 comes from the test environment or, failing that, from the scan environment that
infra/check.sh builds (.scanvenv/python-hcl2).
"""

from __future__ import annotations

import copy
import functools
import importlib
import re
import subprocess
import sys
from types import ModuleType
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = REPO / "infra" / "terraform"
BICEP_DIR = REPO / "infra" / "bicep"

TERRAFORM_FUNCTION_APPS = ("azurerm_function_app_flex_consumption", "azurerm_linux_function_app")
TERRAFORM_PLAN_OF = {"azurerm_function_app_flex_consumption": "flex", "azurerm_linux_function_app": "premium"}


class TemplateError(Exception):
    """A template holds something the readers cannot interpret."""


def read_texts(folder: Path, suffix: str) -> dict[str, str]:
    """Every file with `suffix` under `folder`, by path relative to it."""
    return {
        path.relative_to(folder).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(folder.rglob(f"*{suffix}"))
    }


def terraform_texts() -> dict[str, str]:
    return read_texts(TERRAFORM_DIR, ".tf")


def bicep_texts() -> dict[str, str]:
    return read_texts(BICEP_DIR, ".bicep")


# --- Terraform ---------------------------------------------------------------------------


def _unquote(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == '"' else key


@functools.cache
def hcl2_module() -> ModuleType:
    """python-hcl2, from this environment or else from the one infra/check.sh builds."""
    try:
        module = importlib.import_module("hcl2")
        if hasattr(module, "SerializationOptions"):
            return module
    except ImportError:
        pass
    sys.modules.pop("hcl2", None)
    subprocess.run(["bash", str(REPO / "infra" / "check.sh"), "--prepare"], check=True, timeout=900)
    # Appended, so nothing it carries shadows this environment's packages.
    sys.path.append(str(REPO / ".scanvenv" / "python-hcl2"))
    return importlib.import_module("hcl2")


@functools.lru_cache(maxsize=64)
def _parse_terraform(text: str) -> dict[str, list]:
    # Cached by text: the tests that edit one file re-parse only that file.
    hcl2 = hcl2_module()
    options = hcl2.SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)
    return hcl2.loads(text, serialization_options=options)


def terraform_document(texts: Mapping[str, str]) -> dict[str, list]:
    """All files parsed and concatenated per top-level block kind (resource, locals, ...)."""
    merged: dict[str, list] = {}
    for name, text in texts.items():
        try:
            document = _parse_terraform(text)
        except Exception as exc:  # noqa: BLE001 - name the file
            raise TemplateError(f"{name}: {exc}") from exc
        for kind, blocks in document.items():
            merged.setdefault(kind, []).extend(copy.deepcopy(blocks))
    return merged


def terraform_resources(document: Mapping[str, list]) -> list[tuple[str, str, dict]]:
    """(type, name, body) of every `resource` block."""
    found = []
    for entry in document.get("resource", []):
        for resource_type, named in entry.items():
            for name, body in named.items():
                found.append((_unquote(resource_type), _unquote(name), body))
    return found


def terraform_locals(document: Mapping[str, list]) -> dict[str, object]:
    merged: dict[str, object] = {}
    for block in document.get("locals", []):
        merged.update({_unquote(key): value for key, value in block.items()})
    return merged


_MERGE_OF_LOCALS = re.compile(r"^\$\{merge\(\s*(local\.\w+\s*(?:,\s*local\.\w+\s*)*)\)\}$")


def _terraform_setting_names(value: object, local_values: Mapping[str, object], seen: frozenset) -> set[str]:
    if isinstance(value, dict):
        return {_unquote(key) for key in value}
    if isinstance(value, str):
        if re.fullmatch(r"\$\{local\.\w+\}", value):
            references = [value[len("${local.") : -1]]
        else:
            match = _MERGE_OF_LOCALS.match(value)
            if not match:
                raise TemplateError(f"app_settings must be a map or merge() of locals, got {value!r}")
            references = [part.strip()[len("local.") :] for part in match.group(1).split(",")]
        names: set[str] = set()
        for reference in references:
            if reference in seen or reference not in local_values:
                raise TemplateError(f"app_settings refers to unknown or cyclic local.{reference}")
            names |= _terraform_setting_names(local_values[reference], local_values, seen | {reference})
        return names
    raise TemplateError(f"app_settings has an unexpected value {value!r}")


def _provider_written_settings(resource_type: str, body: Mapping[str, object]) -> set[str]:
    """App settings azurerm_linux_function_app writes itself from its arguments.

    With storage_uses_managed_identity it writes AzureWebJobsStorage__accountName from
    storage_account_name; otherwise an AzureWebJobsStorage connection string (even with no name
    or key). builtin_logging_enabled (default true) adds AzureWebJobsDashboard the same way.
    """
    if resource_type != "azurerm_linux_function_app":
        return set()
    identity = body.get("storage_uses_managed_identity") is True
    suffix = "__accountName" if identity else ""
    names = {f"AzureWebJobsStorage{suffix}"}
    if body.get("builtin_logging_enabled", True) is not False:
        names.add(f"AzureWebJobsDashboard{suffix}")
    return names


def terraform_app_settings(texts: Mapping[str, str]) -> dict[str, set[str]]:
    """The app setting names each Function App resource ends up with, keyed by hosting plan."""
    document = terraform_document(texts)
    local_values = terraform_locals(document)
    settings: dict[str, set[str]] = {}
    for resource_type, _, body in terraform_resources(document):
        if resource_type in TERRAFORM_FUNCTION_APPS:
            settings[TERRAFORM_PLAN_OF[resource_type]] = _terraform_setting_names(
                body.get("app_settings", {}), local_values, frozenset()
            ) | _provider_written_settings(resource_type, body)
    return settings


def terraform_resource_types(texts: Mapping[str, str]) -> set[str]:
    return {resource_type for resource_type, _, _ in terraform_resources(terraform_document(texts))}


# --- Bicep ---------------------------------------------------------------------------------


def _string_end(text: str, start: int) -> int:
    """Index just past the Bicep string literal that opens at `start`."""
    if text.startswith("'''", start):
        end = text.find("'''", start + 3)
        if end < 0:
            raise TemplateError("unterminated ''' string")
        return end + 3
    index = start + 1
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text[index] == "'":
            return index + 1
        if text[index] == "\n":
            break
        index += 1
    raise TemplateError(f"unterminated string at offset {start}")


def strip_bicep_comments(text: str) -> str:
    """The text with // and /* */ comments blanked out (newlines kept), strings untouched."""
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "'":
            end = _string_end(text, index)
            out.append(text[index:end])
            index = end
        elif text.startswith("//", index):
            end = text.find("\n", index)
            end = len(text) if end < 0 else end
            out.append(" " * (end - index))
            index = end
        elif text.startswith("/*", index):
            end = text.find("*/", index + 2)
            if end < 0:
                raise TemplateError("unterminated /* comment")
            out.append(re.sub(r"[^\n]", " ", text[index : end + 2]))
            index = end + 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


def _balanced_end(text: str, start: int) -> int:
    """Index just past the bracket group that opens at `start` (strings skipped)."""
    pairs = {"[": "]", "{": "}", "(": ")"}
    stack = [pairs[text[start]]]
    index = start + 1
    while stack:
        if index >= len(text):
            raise TemplateError(f"unbalanced {text[start]} at offset {start}")
        char = text[index]
        if char == "'":
            index = _string_end(text, index)
            continue
        if char in pairs:
            stack.append(pairs[char])
        elif char in ")]}":
            if char != stack.pop():
                raise TemplateError(f"mismatched {char} at offset {index}")
        index += 1
    return index


def _expression_end(text: str, start: int) -> int:
    """End of a value expression: through balanced groups, up to the end of its line."""
    index = start
    while index < len(text) and text[index] != "\n":
        char = text[index]
        if char == "'":
            index = _string_end(text, index)
        elif char in "[{(":
            index = _balanced_end(text, index)
        else:
            index += 1
    return index


def bicep_vars(code: str) -> dict[str, str]:
    """`var` name -> its value text, in comment-free Bicep."""
    found = {}
    for match in re.finditer(r"^var\s+(\w+)\s*=\s*", code, flags=re.MULTILINE):
        found[match.group(1)] = code[match.end() : _expression_end(code, match.end())]
    return found


_SETTING_PAIR = re.compile(r"\{\s*name\s*:\s*'([^'\\]*)'\s*,?\s*value\s*:")
_IS_FLEX_TERNARY = re.compile(r"(!?)isFlex\s*\?\s*(\w+|\[\s*\])\s*:\s*(\w+|\[\s*\])")


def _choose_plan(expression: str, plan: str) -> str:
    """Resolves `isFlex ? A : B` for one hosting plan; other ternaries keep both branches."""

    def pick(match: re.Match) -> str:
        flex = (plan == "flex") != bool(match.group(1))
        return match.group(2) if flex else match.group(3)

    return _IS_FLEX_TERNARY.sub(pick, expression)


def _bicep_setting_names(expression: str, variables: Mapping[str, str], plan: str, seen: frozenset) -> set[str]:
    expression = _choose_plan(expression, plan)
    names = set(_SETTING_PAIR.findall(expression))
    for identifier in set(re.findall(r"\b[A-Za-z_]\w*\b", re.sub(r"'[^']*'", "", expression))):
        if identifier in variables and identifier not in seen:
            names |= _bicep_setting_names(variables[identifier], variables, plan, seen | {identifier})
    return names


def bicep_app_settings(texts: Mapping[str, str], plan: str) -> set[str]:
    """Every app setting name reachable from an `appSettings:` property, for one hosting plan."""
    names: set[str] = set()
    found_property = False
    for text in texts.values():
        code = strip_bicep_comments(text)
        variables = bicep_vars(code)
        for match in re.finditer(r"\bappSettings\s*:\s*", code):
            found_property = True
            expression = code[match.end() : _expression_end(code, match.end())]
            names |= _bicep_setting_names(expression, variables, plan, frozenset())
    if not found_property:
        raise TemplateError("no appSettings property in the Bicep files")
    return names


_RESOURCE = re.compile(r"^\s*resource\s+\w+\s+'([^'@]+)@[^']*'\s*(existing\s*)?=", re.MULTILINE)


def bicep_resource_types(texts: Mapping[str, str]) -> set[str]:
    """Resource types the Bicep files declare (`existing` references excluded)."""
    types = set()
    for name, text in texts.items():
        for match in _RESOURCE.finditer(strip_bicep_comments(text)):
            if match.group(2):
                continue
            if "/" not in match.group(1):
                raise TemplateError(f"{name}: nested resource {match.group(1)!r}: declare it with its full type and parent")
            types.add(match.group(1))
    return types
