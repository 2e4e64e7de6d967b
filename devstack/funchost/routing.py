"""Matches request paths and methods against the HTTP triggers' route templates."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from devstack.funchost.app_loader import FunctionSpec

# A route parameter: {name}, {name?}, {name:constraint}, {*name} (catch-all).
_PARAMETER = re.compile(r"\{(\*)?([A-Za-z_][A-Za-z0-9_]*)(?::([^}?]+))?(\?)?\}")
_CONSTRAINTS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "alpha": r"[A-Za-z]+",
    "bool": r"(?i:true|false)",
    "guid": r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}",
}
# Precedence per segment, as in ASP.NET routing: literals beat parameters beat catch-alls.
_LITERAL, _CONSTRAINED, _PLAIN, _OPTIONAL, _CATCH_ALL = range(5)


class RouteError(Exception):
    """A route template the host cannot parse."""


@dataclass(frozen=True)
class Route:
    """One HTTP trigger's compiled route."""

    function: FunctionSpec
    template: str
    methods: frozenset[str] | None
    pattern: re.Pattern[str]
    precedence: tuple[int, ...]


def _value_regex(constraint: str | None) -> tuple[str, int]:
    name = (constraint or "").split("(")[0]  # length(3) and the like constrain nothing here
    if name in _CONSTRAINTS:
        return _CONSTRAINTS[name], _CONSTRAINED
    return r"[^/]+?", _PLAIN


def _segment_regex(segment: str) -> tuple[str, int, bool]:
    """Regex for one path segment, its precedence rank and whether the whole segment is optional."""
    whole = _PARAMETER.fullmatch(segment)
    if whole and whole.group(1):
        return rf"(?P<{whole.group(2)}>.*)", _CATCH_ALL, True
    if whole and whole.group(4):
        value, _ = _value_regex(whole.group(3))
        return rf"(?P<{whole.group(2)}>{value})", _OPTIONAL, True
    parts, position, rank = [], 0, _LITERAL
    for match in _PARAMETER.finditer(segment):
        parts.append(re.escape(segment[position:match.start()]))
        value, value_rank = _value_regex(match.group(3))
        parts.append(rf"(?P<{match.group(2)}>{value})")
        rank = max(rank, value_rank)
        position = match.end()
    parts.append(re.escape(segment[position:]))
    return "".join(parts), rank, False


def compile_template(prefix: str, template: str) -> tuple[re.Pattern[str], tuple[int, ...]]:
    """The full-path regex and precedence of a route template under the route prefix."""
    segments = [s for s in f"{prefix}/{template}".split("/") if s]
    regex, precedence = "", []
    for segment in segments:
        part, rank, optional = _segment_regex(segment)
        regex += rf"(?:/{part})?" if optional else f"/{part}"
        precedence.append(rank)
    try:
        return re.compile(f"^{regex or '/'}/?$", re.IGNORECASE), tuple(precedence)
    except re.error as exc:
        raise RouteError(f"route {template!r}: {exc}") from exc


class RouteTable:
    """The HTTP triggers of an app, most specific route first."""

    def __init__(self, functions: list[FunctionSpec], prefix: str) -> None:
        routes = []
        for spec in functions:
            if spec.trigger_type != "httpTrigger":
                continue
            template = spec.trigger.get("route") or spec.name
            methods = spec.trigger.get("methods")
            pattern, precedence = compile_template(prefix, template)
            routes.append(Route(spec, template, frozenset(m.upper() for m in methods) if methods else None,
                                pattern, precedence))
        self.routes = sorted(routes, key=lambda route: route.precedence)

    def match(self, method: str, path: str) -> tuple[FunctionSpec, dict[str, str]] | None:
        """The function serving method and path, with its route parameters; None for no route."""
        for route in self.routes:
            if route.methods is not None and method.upper() not in route.methods:
                continue
            found = route.pattern.match(path)
            if found:
                params = {name: unquote(value) for name, value in found.groupdict().items() if value is not None}
                return route.function, params
        return None
