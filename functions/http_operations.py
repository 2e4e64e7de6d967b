"""HTTP routes for running the service: health, the OpenAPI document, poison messages."""

from __future__ import annotations

import azure.functions as func

from functions._http import handle, json_response
from shared.services import health, poison
from shared.services.openapi_document import openapi_document

bp = func.Blueprint()
ANON = func.AuthLevel.ANONYMOUS


@bp.route(route="health", methods=["GET"], auth_level=ANON)
def get_health(req: func.HttpRequest) -> func.HttpResponse:
    return handle(req, lambda rt, p: health.check(rt), authenticated=False)


@bp.route(route="openapi.json", methods=["GET"], auth_level=ANON)
def get_openapi(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(200, openapi_document())


@bp.route(route="poison", methods=["GET"], auth_level=ANON)
def list_poison(req: func.HttpRequest) -> func.HttpResponse:
    return handle(req, lambda rt, p: {"items": poison.list_poison(rt, p)})


@bp.route(route="poison/{queue}/{message}/replay", methods=["POST"], auth_level=ANON)
def replay_poison(req: func.HttpRequest) -> func.HttpResponse:
    return handle(req, lambda rt, p: poison.replay(rt, p, req.route_params["queue"], req.route_params["message"]))
