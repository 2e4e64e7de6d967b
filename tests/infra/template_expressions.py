"""Evaluates the few list expressions the templates build queue and role lists with, in Terraform or Bicep syntax.

Understood: string literals with `${name}` interpolation, names, `[a, b]` and newline-separated
arrays, `[for x in list : 'template']`, `concat`, `toset`, `values`, `empty`, `!` and `c ? a : b`.
Anything else raises TemplateError, so a template rewritten beyond this is noticed, not misread.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from tests.infra.infra_templates import TemplateError

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")|(?P<name>[A-Za-z_][\w.]*)|(?P<punct>[\[\](),:?!]))"
)
_FUNCTIONS: dict[str, Callable[..., object]] = {
    "concat": lambda *lists: [item for part in lists for item in part],
    "toset": lambda items: sorted(set(items)),
    "values": lambda mapping: list(mapping.values()),
    "empty": lambda items: len(items) == 0,
}


def _tokens(text: str) -> list[tuple[str, str]]:
    found, index = [], 0
    while index < len(text):
        if not text[index:].strip():
            break
        match = _TOKEN.match(text, index)
        if not match:
            raise TemplateError(f"cannot read {text[index:index + 30]!r} in {text!r}")
        kind = match.lastgroup
        found.append((kind, match.group(kind)))
        index = match.end()
    return found


class _Parser:
    def __init__(self, text: str, resolve: Callable[[str], object]) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.position = 0
        self.resolve = resolve

    def peek(self) -> str | None:
        return self.tokens[self.position][1] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.position >= len(self.tokens):
            raise TemplateError(f"unexpected end of {self.text!r}")
        token = self.tokens[self.position]
        if expected is not None and token[1] != expected:
            raise TemplateError(f"expected {expected!r}, got {token[1]!r} in {self.text!r}")
        self.position += 1
        return token

    def expression(self) -> object:
        value = self.unary()
        if self.peek() == "?":
            self.take("?")
            chosen = self.expression()
            self.take(":")
            other = self.expression()
            return chosen if value else other
        return value

    def unary(self) -> object:
        if self.peek() == "!":
            self.take("!")
            return not self.unary()
        return self.primary()

    def primary(self) -> object:
        kind, token = self.take()
        if kind == "string":
            return self.interpolate(token[1:-1])
        if kind == "name":
            if self.peek() == "(":
                return self.call(token)
            return self.resolve(token)
        if token == "(":
            value = self.expression()
            self.take(")")
            return value
        if token == "[":
            return self.array()
        raise TemplateError(f"unexpected {token!r} in {self.text!r}")

    def call(self, function: str) -> object:
        if function not in _FUNCTIONS:
            raise TemplateError(f"function {function}() is not understood in {self.text!r}")
        self.take("(")
        return _FUNCTIONS[function](*self.items(")"))

    def items(self, closing: str) -> list:
        """Expressions up to `closing`, separated by commas or (Bicep arrays) by new lines."""
        found = []
        while self.peek() != closing:
            found.append(self.expression())
            if self.peek() == ",":
                self.take(",")
        self.take(closing)
        return found

    def array(self) -> list:
        if self.peek() == "for":
            self.take("for")
            _, variable = self.take()
            self.take("in")
            items = self.expression()
            self.take(":")
            start = self.position
            results = []
            for item in items:  # type: ignore[attr-defined]
                self.position = start
                outer = self.resolve
                self.resolve = lambda name, outer=outer, item=item: item if name == variable else outer(name)
                results.append(self.expression())
                self.resolve = outer
            self.take("]")
            return results
        return self.items("]")

    def interpolate(self, text: str) -> str:
        return re.sub(r"\$\{([A-Za-z_][\w.]*)\}", lambda match: str(self.resolve(match.group(1))), text)


def evaluate(text: str, names: Mapping[str, object]) -> object:
    """The value of one expression; a name maps to a value, or to expression text evaluated in turn."""

    def resolve(name: str, seen: frozenset = frozenset()) -> object:
        if name not in names:
            raise TemplateError(f"unknown name {name!r}")
        value = names[name]
        if isinstance(value, _Unevaluated):
            if name in seen:
                raise TemplateError(f"{name!r} refers to itself")
            return _evaluate(value.text, lambda inner: resolve(inner, seen | {name}))
        return value

    return _evaluate(text, resolve)


class _Unevaluated:
    """Expression text standing for a name's value (a Bicep var, a Terraform local)."""

    def __init__(self, text: str) -> None:
        self.text = text


def unevaluated(text: str) -> object:
    return _Unevaluated(text)


def _evaluate(text: str, resolve: Callable[[str], object]) -> object:
    text = text.strip()
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1]  # a Terraform expression as python-hcl2 gives it
    parser = _Parser(text, resolve)
    value = parser.expression()
    if parser.position != len(parser.tokens):
        raise TemplateError(f"trailing {parser.peek()!r} in {text!r}")
    return value


def terraform_names(local_values: Mapping[str, object]) -> dict[str, object]:
    """Terraform locals as names (`local.queues`), string values left to evaluate on use."""
    return {
        f"local.{name}": unevaluated(value) if isinstance(value, str) and value.startswith("${") else value
        for name, value in local_values.items()
    }
