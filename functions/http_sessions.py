"""HTTP routes for machines: registration, backup and restore sessions, the vault key."""

from __future__ import annotations

import azure.functions as func

from functions._http import body, handle
from shared.services import instances, sessions, vault_keys

bp = func.Blueprint()
ANON = func.AuthLevel.ANONYMOUS


@bp.route(route="instances", methods=["POST"], auth_level=ANON)
def register_instance(req: func.HttpRequest) -> func.HttpResponse:
    return handle(req, lambda rt, p: instances.register_instance(rt, p, body(req, instances.InstanceRegister)), status=201)


@bp.route(route="backup-sessions", methods=["POST"], auth_level=ANON)
def open_backup_session(req: func.HttpRequest) -> func.HttpResponse:
    return handle(req, lambda rt, p: sessions.open_backup_session(rt, p), status=201)


@bp.route(route="backup-sessions/{session}/commit", methods=["POST"], auth_level=ANON)
def commit_backup_session(req: func.HttpRequest) -> func.HttpResponse:
    return handle(
        req, lambda rt, p: sessions.commit_backup_session(rt, p, req.route_params["session"], body(req, sessions.CommitRequest)),
        status=202,
    )


@bp.route(route="backup-sessions/{session}", methods=["DELETE"], auth_level=ANON)
def abandon_backup_session(req: func.HttpRequest) -> func.HttpResponse:
    return handle(req, lambda rt, p: sessions.abandon_backup_session(rt, p, req.route_params["session"]))


@bp.route(route="vault-key", methods=["PUT"], auth_level=ANON)
def set_vault_key(req: func.HttpRequest) -> func.HttpResponse:
    return handle(req, lambda rt, p: vault_keys.set_vault_key(rt, p, body(req, vault_keys.VaultKeyRequest)))


@bp.route(route="restore-sessions", methods=["POST"], auth_level=ANON)
def open_restore_session(req: func.HttpRequest) -> func.HttpResponse:
    return handle(req, lambda rt, p: sessions.open_restore_session(rt, p, body(req, sessions.RestoreRequest)), status=201)


@bp.route(route="restore-sessions/{session}/complete", methods=["POST"], auth_level=ANON)
def complete_restore_session(req: func.HttpRequest) -> func.HttpResponse:
    return handle(
        req, lambda rt, p: sessions.complete_restore_session(rt, p, req.route_params["session"], body(req, sessions.RestoreComplete))
    )
