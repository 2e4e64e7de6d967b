"""Imports a FunctionApp and describes each of its functions by its trigger and bindings."""

from __future__ import annotations

import enum
import importlib
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TRIGGER_TYPES = ("httpTrigger", "queueTrigger", "timerTrigger")
# Non-trigger bindings the host can serve: the HTTP response and queue outputs.
OUTPUT_TYPES = ("http", "queue")


class AppLoadError(Exception):
    """The app module cannot be imported or does not hold a FunctionApp."""


@dataclass(frozen=True)
class FunctionSpec:
    """One function of the app: its name, trigger binding, other bindings and the Python callable."""

    name: str
    trigger: dict[str, Any]
    outputs: tuple[dict[str, Any], ...]
    user_function: Callable[..., Any]

    @property
    def trigger_type(self) -> str:
        return self.trigger["type"]


def _plain(value: Any) -> Any:
    """Binding dicts hold enums; the host wants them as function.json spells them ("GET", "out")."""
    if isinstance(value, enum.Enum):
        # BindingDirection's values are ints; function.json uses its lower-case names.
        return value.name.lower() if isinstance(value.value, int) else value.value
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _where(exc: BaseException) -> str:
    """" (file:line)" of the app's own code that failed, if the failure is in it."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" ({exc.filename}:{exc.lineno})"
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__)
              if not frame.filename.startswith("<") and "importlib" not in frame.filename
              and frame.filename != __file__]
    return f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""


def load_app(reference: str, script_root: Path) -> Any:
    """Import "module:attribute" with script_root first on sys.path, as the Functions host does."""
    module_name, _, attribute = reference.partition(":")
    attribute = attribute or "app"
    sys.path.insert(0, str(script_root))
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is reported as one line
        raise AppLoadError(f"cannot import {module_name}: {type(exc).__name__}: {exc}{_where(exc)}") from exc
    app = getattr(module, attribute, None)
    if app is None or not hasattr(app, "get_functions"):
        raise AppLoadError(f"{reference} is not an azure.functions FunctionApp")
    return app


def describe_functions(app: Any) -> tuple[list[FunctionSpec], list[str]]:
    """The app's functions the host can drive, and one message per function it cannot."""
    specs: list[FunctionSpec] = []
    problems: list[str] = []
    # get_functions() validates names and cannot be called twice on one app.
    for function in app.get_functions():
        name = function.get_function_name()
        bindings = [_plain(binding.get_dict_repr()) for binding in function.get_bindings()]
        triggers = [b for b in bindings if b["type"].endswith("Trigger")]
        others = [b for b in bindings if not b["type"].endswith("Trigger")]
        if len(triggers) != 1 or triggers[0]["type"] not in TRIGGER_TYPES:
            kinds = ", ".join(b["type"] for b in triggers) or "none"
            problems.append(f"function {name}: trigger {kinds} is not supported by the local host")
            continue
        unsupported = [b["type"] for b in others if b["type"] not in OUTPUT_TYPES or b.get("direction") != "out"]
        if unsupported:
            problems.append(f"function {name}: binding {', '.join(unsupported)} is not supported by the local host")
            continue
        specs.append(FunctionSpec(name, triggers[0], tuple(others), function.get_user_function()))
    return specs, problems
