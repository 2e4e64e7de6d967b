"""Calls a user function with its trigger value, its output bindings and an optional context."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import time
import uuid
from collections.abc import Mapping
from typing import Any

import azure.functions as func

from devstack.funchost.app_loader import FunctionSpec
from devstack.funchost.app_settings import resolve_references
from devstack.funchost.queue_clients import connection_string, encode_body, queue_client, send_text

log = logging.getLogger("funchost.invoker")

# The reason the Functions host logs for HTTP and admin-API invocations.
ON_DEMAND_REASON = "This function was programmatically called via the host APIs."


class OutputValue(func.Out):
    """The value a function sets on one of its output bindings."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


class InvocationContext(func.Context):
    """The `context` argument the Python worker passes to functions that ask for it."""

    def __init__(self, function_name: str) -> None:
        self._invocation_id = str(uuid.uuid4())
        self._function_name = function_name

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return os.getcwd()

    @property
    def trace_context(self) -> Any:
        return None

    @property
    def retry_context(self) -> Any:
        return None

    @property
    def thread_local_storage(self) -> Any:
        return None


def _queue_bodies(value: Any) -> list[str | bytes]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [body for item in value for body in _queue_bodies(item)]
    if isinstance(value, func.QueueMessage):
        return [value.get_body()]
    if isinstance(value, (str, bytes)):
        return [value]
    raise TypeError(f"a queue output must be str, bytes or QueueMessage, got {type(value).__name__}")


class Invoker:
    """Runs functions the way the Python worker does, for every trigger kind."""

    def __init__(self, message_encoding: str, environ: Mapping[str, str] = os.environ) -> None:
        self._encoding = message_encoding
        self._environ = environ

    def invoke(self, spec: FunctionSpec, trigger_value: Any, reason: str) -> Any:
        """Call the function; returns its return value, raises what it raises."""
        context = InvocationContext(spec.name)
        outputs = {b["name"]: OutputValue() for b in spec.outputs if b["name"] != "$return"}
        arguments: dict[str, Any] = {spec.trigger["name"]: trigger_value, **outputs}
        if "context" in inspect.signature(spec.user_function).parameters:
            arguments["context"] = context
        log.info("Executing 'Functions.%s' (Reason='%s', Id=%s)", spec.name, reason, context.invocation_id)
        started = time.monotonic()
        outcome = "Failed"
        try:
            result = spec.user_function(**arguments)
            if inspect.isawaitable(result):
                result = asyncio.run(_awaited(result))
            self._send_outputs(spec, outputs, result)
            outcome = "Succeeded"
            return result
        finally:
            elapsed_ms = (time.monotonic() - started) * 1000
            log.info("Executed 'Functions.%s' (%s, Id=%s, Duration=%.0fms)",
                     spec.name, outcome, context.invocation_id, elapsed_ms)

    def _send_outputs(self, spec: FunctionSpec, outputs: dict[str, OutputValue], result: Any) -> None:
        for binding in spec.outputs:
            if binding["type"] != "queue":
                continue
            value = result if binding["name"] == "$return" else outputs[binding["name"]].get()
            bodies = _queue_bodies(value)
            if not bodies:
                continue
            name = resolve_references(binding["queueName"], self._environ)
            client = queue_client(connection_string(binding.get("connection"), self._environ), name)
            for body in bodies:
                send_text(client, encode_body(body, self._encoding))


async def _awaited(awaitable: Any) -> Any:
    return await awaitable
