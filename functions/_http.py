"""HTTP plumbing shared by the HTTP blueprints: auth, body and query validation, error mapping."""

from __future__ import annotations

import json
import logging
from typing import Any, Callable, TypeVar

import azure.functions as func
from pydantic import BaseModel, ValidationError

from shared.errors import BadRequest, ServiceError
from shared.formats import bounded_json
from shared.runtime import get_runtime
from shared.services.auth import Principal, authenticate

log = logging.getLogger("functions.http")
Model = TypeVar("Model", bound=BaseModel)
MAX_BODY_BYTES = 1 << 20


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(payload, default=str), status_code=status, mimetype="application/json",
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def _one_line(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return f"{where}: {first['msg']}"


def body(req: func.HttpRequest, model: type[Model]) -> Model:
    raw = req.get_body() or b"{}"
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest("request body is too large")
    try:
        payload = bounded_json.parse(raw)
    except bounded_json.JsonTooDeep as exc:
        raise BadRequest(f"request body is {exc}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("request body is not valid JSON") from exc
    if not isinstance(payload, dict):
        raise BadRequest("request body must be a JSON object")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise BadRequest(_one_line(exc)) from exc


def query(req: func.HttpRequest, model: type[Model]) -> Model:
    try:
        return model.model_validate(dict(req.params))
    except ValidationError as exc:
        raise BadRequest(_one_line(exc)) from exc


def handle(
    req: func.HttpRequest, action: Callable[[Any, Principal], Any], status: int = 200,
    authenticated: bool = True,
) -> func.HttpResponse:
    """Runs one service call for an HTTP request and maps the outcome to a response."""
    try:
        rt = get_runtime()
        principal = authenticate(rt, req.headers.get("Authorization")) if authenticated else None
        return json_response(status, action(rt, principal))
    except ServiceError as exc:
        if exc.status >= 500:
            log.error("%s %s failed: %s", req.method, req.url, exc)
        retry_after = getattr(exc, "retry_after", None)
        return json_response(exc.status, {"error": str(exc)}, {"Retry-After": str(retry_after)} if retry_after else None)
    except Exception:  # noqa: BLE001 - an internal error never leaks details
        log.exception("%s %s failed", req.method, req.url)
        return json_response(500, {"error": "internal error"})
