"""Derives, from the service code itself, the app settings it reads and the queues its functions bind to.

Three sources, none of them shared/settings.py's SETTING_NAMES table:
* load_settings, run on a mapping that records every key it looks up: once with the local
  stack's settings (devstack/stack_files.py writes them), once with the Azure identity form;
* the function decorators in function_app.py and functions/: each `%NAME%` is a setting, and
  each `connection="X"` is the settings the Functions host reads for that connection;
* any other `os.environ` / `os.getenv` read under function_app.py, functions/ and shared/.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from devstack.stack_files import app_settings
from shared.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
CODE_ROOTS = (REPO / "function_app.py", REPO / "functions", REPO / "shared")
# load_settings reaches the environment through its `env` mapping, which the recorder sees.
ENVIRON_PASSED_ON = {REPO / "shared" / "settings.py"}

# The Azure identity form: endpoints only (which branch load_settings takes is all that matters).
AZURE_FORM = {
    "PRIMARY_STORAGE__blobServiceUri": "https://pri.blob.core.windows.net/",
    "PRIMARY_STORAGE__queueServiceUri": "https://pri.queue.core.windows.net/",
    "SECONDARY_STORAGE__blobServiceUri": "https://sec.blob.core.windows.net/",
    "COSMOS__accountEndpoint": "https://cosmos.documents.azure.com:443/",
}

# A binding's `connection="X"`, by the service it reaches. In Azure the host reads the
# identity-based form with a user-assigned identity: X__<service>ServiceUri,
# X__credential=managedidentity and X__clientId. Locally devstack/funchost/queue_clients.py
# reads the connection string X.
CONNECTION_SERVICE = {"queue_trigger": "queue", "queue_output": "queue", "blob_trigger": "blob",
                      "blob_input": "blob", "blob_output": "blob"}


class RecordingEnv(Mapping[str, str]):
    """A settings mapping that remembers every key looked up, present or not."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)
        self.looked_up: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.looked_up.add(key)
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("settings code iterated the environment: the names it reads cannot be derived")

    def __len__(self) -> int:
        return len(self._values)


def local_form() -> dict[str, str]:
    """The settings the local stack gives the function app (any ports will do)."""
    return app_settings(defaultdict(lambda: 10000), "bko_test")


def read_by_load_settings(form: Mapping[str, str]) -> set[str]:
    env = RecordingEnv(form)
    load_settings(env)
    return env.looked_up


@dataclass(frozen=True)
class Binding:
    """One trigger or binding decorator of a function: its kind and its string arguments."""

    kind: str
    arguments: dict[str, str]
    where: str


def _python_files() -> Iterator[Path]:
    for root in CODE_ROOTS:
        yield from ([root] if root.is_file() else sorted(root.rglob("*.py")))


def bindings(files: Mapping[Path, str] | None = None) -> list[Binding]:
    """Every decorator call of function_app.py and functions/ that names a setting."""
    if files is None:
        files = {path: path.read_text(encoding="utf-8") for path in _python_files()
                 if path.name == "function_app.py" or "functions" in path.parts}
    found = []
    for path, text in files.items():
        for function in ast.walk(ast.parse(text)):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for decorator in function.decorator_list:
                if not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)):
                    continue
                arguments = {keyword.arg: keyword.value.value for keyword in decorator.keywords
                             if isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str)}
                found.append(Binding(decorator.func.attr, arguments, f"{path.name}:{decorator.lineno}"))
    return found


def binding_settings(found: list[Binding]) -> dict[str, set[str]]:
    """Setting names the host reads for the bindings, as {"both": ..., "azure": ..., "local": ...}."""
    names: dict[str, set[str]] = {"both": set(), "azure": set(), "local": set()}
    for binding in found:
        for argument, value in binding.arguments.items():
            if argument == "connection":
                if binding.kind not in CONNECTION_SERVICE:
                    raise AssertionError(f"{binding.where}: which service does a {binding.kind} connection reach?")
                service = CONNECTION_SERVICE[binding.kind]
                names["azure"] |= {f"{value}__{service}ServiceUri", f"{value}__credential", f"{value}__clientId"}
                names["local"].add(value)
            elif "%" in value:
                names["both"] |= set(value.split("%")[1::2])
    return names


def queue_settings(found: list[Binding]) -> set[str]:
    """The settings (%NAME%) that hold the names of the queues the functions trigger on or send to."""
    return {name for binding in found if binding.kind in ("queue_trigger", "queue_output")
            for name in binding.arguments.get("queue_name", "").split("%")[1::2]}


def _environ_key(node: ast.AST) -> tuple[bool, str | None]:
    """(is this an environment read, the constant key it reads if any)."""

    def is_environ(value: ast.AST) -> bool:
        return (isinstance(value, ast.Attribute) and value.attr == "environ") or (
            isinstance(value, ast.Name) and value.id == "environ")

    def constant(arguments: list[ast.expr]) -> str | None:
        first = arguments[0] if arguments else None
        return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None

    if isinstance(node, ast.Subscript) and is_environ(node.value):
        return True, constant([node.slice])
    if isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name)):
        name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
        if name == "getenv" or (name == "get" and isinstance(node.func, ast.Attribute) and is_environ(node.func.value)):
            return True, constant(node.args)
    return False, None


def environ_reads(files: Mapping[Path, str] | None = None) -> tuple[set[str], list[str]]:
    """Constant keys read from os.environ, and where the code touches it in a way that hides the key."""
    if files is None:
        files = {path: path.read_text(encoding="utf-8") for path in _python_files()}
    names: set[str] = set()
    opaque: list[str] = []
    for path, text in files.items():
        tree = ast.parse(text)
        explained: set[int] = set()
        for node in ast.walk(tree):
            is_read, key = _environ_key(node)
            if is_read and key is not None:
                names.add(key)
                explained |= {id(child) for child in ast.walk(node)}
        if path in ENVIRON_PASSED_ON:
            continue
        for node in ast.walk(tree):
            touches = (isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv")) or (
                isinstance(node, ast.Name) and node.id in ("environ", "getenv"))
            if touches and id(node) not in explained:
                opaque.append(f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}:{node.lineno}")
    return names, opaque


@dataclass(frozen=True)
class CodeSettings:
    """What the code reads: in the local form, in the Azure form, and in both."""

    local: set[str]
    azure: set[str]

    @property
    def names(self) -> set[str]:
        return self.local | self.azure


def code_settings() -> CodeSettings:
    """Every setting the service code and its bindings read, by the form that reads it."""
    from_bindings = binding_settings(bindings())
    from_environ, _ = environ_reads()
    always = from_bindings["both"] | from_environ
    return CodeSettings(
        local=read_by_load_settings(local_form()) | from_bindings["local"] | always,
        azure=read_by_load_settings(AZURE_FORM) | from_bindings["azure"] | always,
    )


def queue_names() -> set[str]:
    """The queues the functions bind to, with the names load_settings gives them by default."""
    settings = load_settings(AZURE_FORM)
    names = set()
    for setting in queue_settings(bindings()):
        field = setting.lower()
        if not hasattr(settings, field):
            raise AssertionError(f"queue setting {setting} has no Settings.{field} to take its default from")
        names.add(getattr(settings, field))
    return names
