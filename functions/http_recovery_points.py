"""HTTP routes for recovery points: list, get, soft delete, undelete."""

from __future__ import annotations

import azure.functions as func

from functions._http import handle, query
from shared.services import recovery_points as rps

bp = func.Blueprint()
ANON = func.AuthLevel.ANONYMOUS


@bp.route(route="recovery-points", methods=["GET"], auth_level=ANON)
def list_recovery_points(req: func.HttpRequest) -> func.HttpResponse:
    return handle(req, lambda rt, p: rps.list_recovery_points(rt, p, query(req, rps.RecoveryPointQuery)))


@bp.route(route="recovery-points/{rp}", methods=["GET"], auth_level=ANON)
def get_recovery_point(req: func.HttpRequest) -> func.HttpResponse:
    return handle(req, lambda rt, p: rps.get_recovery_point(rt, p, req.route_params["rp"], req.params.get("vault")))


@bp.route(route="recovery-points/{rp}", methods=["DELETE"], auth_level=ANON)
def delete_recovery_point(req: func.HttpRequest) -> func.HttpResponse:
    return handle(req, lambda rt, p: rps.soft_delete(rt, p, req.route_params["rp"], req.params.get("vault")))


@bp.route(route="recovery-points/{rp}/undelete", methods=["POST"], auth_level=ANON)
def undelete_recovery_point(req: func.HttpRequest) -> func.HttpResponse:
    return handle(req, lambda rt, p: rps.undelete(rt, p, req.route_params["rp"], req.params.get("vault")))
