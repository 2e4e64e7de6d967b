"""Reads Bicep resource and module declarations (type, loop, condition, body, params) out of a file."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.infra import template_expressions as expressions
from tests.infra.infra_templates import TemplateError, _balanced_end, bicep_vars

_DECLARATION = re.compile(
    r"^(?P<kind>resource|module)\s+(?P<symbol>\w+)\s+'(?P<target>[^']+)'\s*(?P<existing>existing\s*)?=\s*"
    r"(?:if\s*\((?P<condition>[^)\n]*)\)\s*)?(?:\[\s*for\s+(?P<variable>\w+)\s+in\s+(?P<items>[^:\n]+):\s*)?(?=\{)",
    re.MULTILINE,
)


@dataclass(frozen=True)
class Declaration:
    """One `resource` or `module` of a Bicep file."""

    kind: str
    symbol: str
    target: str  # resource type without the API version, or the module's path
    condition: str | None
    loop_variable: str | None
    loop_items: str | None
    body: str

    def property(self, name: str) -> str | None:
        """The single-line value of the first `name:` in the body, at any depth."""
        match = re.search(rf"^\s*{name}\s*:\s*(.+?)\s*$", self.body, flags=re.MULTILINE)
        return match.group(1) if match else None

    def block(self, name: str) -> str:
        """The `{...}` or `[...]` value of the first `name:` in the body."""
        match = re.search(rf"\b{name}\s*:\s*(?=[\[{{])", self.body)
        if not match:
            raise TemplateError(f"{self.symbol}: no {name} block")
        return self.body[match.end() : _balanced_end(self.body, match.end())]


def declarations(code: str) -> list[Declaration]:
    """Every non-`existing` resource and every module of comment-free Bicep code."""
    found = []
    for match in _DECLARATION.finditer(code):
        if match.group("existing"):
            continue
        target = match.group("target")
        if match.group("kind") == "resource":
            target = target.split("@", 1)[0]
        body = code[match.end() : _balanced_end(code, match.end())]
        found.append(Declaration(match.group("kind"), match.group("symbol"), target, match.group("condition"),
                                 match.group("variable"), match.group("items"), body))
    return found


def of_type(code: str, resource_type: str) -> list[Declaration]:
    return [item for item in declarations(code) if item.kind == "resource" and item.target == resource_type]


def module_params(module: Declaration) -> dict[str, str]:
    """A module's `params:` as name -> expression text (single-line values)."""
    params = module.block("params")
    return dict(re.findall(r"^\s*(\w+)\s*:\s*(.+?)\s*$", params[1:-1], flags=re.MULTILINE))


def module_instances(main_code: str, path: str) -> list[Declaration]:
    return [item for item in declarations(main_code) if item.kind == "module" and item.target == path]


def module_names(module_code: str, params: dict[str, object]) -> dict[str, object]:
    """The names a module's expressions can use: its vars (evaluated on use) and the bound params."""
    names: dict[str, object] = {name: expressions.unevaluated(text) for name, text in bicep_vars(module_code).items()}
    names.update(params)
    return names
