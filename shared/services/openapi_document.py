"""Builds the OpenAPI 3 document of the HTTP API from the request models the routes validate with."""

from __future__ import annotations

from functools import lru_cache

from pydantic import BaseModel

from shared.services.instances import InstanceRegister
from shared.services.policies import PolicyRequest
from shared.services.recovery_points import RecoveryPointQuery
from shared.services.sessions import CommitRequest, RestoreComplete, RestoreRequest, VaultKeyRequest
from shared.services.vaults import VaultCreate, VaultUpdate

_HEX32 = {"type": "string", "pattern": "^[0-9a-f]{32}$"}
_VAULT = {"type": "string", "minLength": 1, "maxLength": 63}

# (method, path, operationId, summary, who may call it, body model, path params, query model, success status)
OPERATIONS: list[tuple] = [
    ("get", "/health", "getHealth", "Liveness and dependency checks", None, None, {}, None, 200),
    ("get", "/openapi.json", "getOpenApi", "This document", None, None, {}, None, 200),
    ("post", "/vaults", "createVault", "Create a vault (operator)", "admin", VaultCreate, {}, None, 201),
    ("get", "/vaults", "listVaults", "List vaults", "admin", None, {}, None, 200),
    ("get", "/vaults/{vault}", "getVault", "Get a vault by id or name", "admin", None, {"vault": _VAULT}, None, 200),
    ("patch", "/vaults/{vault}", "updateVault", "Change vault settings", "admin", VaultUpdate, {"vault": _VAULT}, None, 200),
    ("get", "/vaults/{vault}/instances", "listInstances", "List a vault's machines", "admin", None, {"vault": _VAULT}, None, 200),
    ("get", "/vaults/{vault}/instances/{instance}", "getInstance", "Get a machine", "admin", None,
     {"vault": _VAULT, "instance": _HEX32}, None, 200),
    ("get", "/vaults/{vault}/policy", "getPolicy", "Get retention policies", "admin", None, {"vault": _VAULT}, None, 200),
    ("put", "/vaults/{vault}/policy", "putPolicy", "Set a retention policy and apply it", "admin", PolicyRequest,
     {"vault": _VAULT}, None, 200),
    ("get", "/vaults/{vault}/usage", "getUsage", "Usage and estimated bill of a month", "admin", None,
     {"vault": _VAULT}, "usage", 200),
    ("post", "/instances", "registerInstance", "Register a machine (registration key)", "registration",
     InstanceRegister, {}, None, 201),
    ("get", "/recovery-points", "listRecoveryPoints", "List recovery points", "any", None, {}, RecoveryPointQuery, 200),
    ("get", "/recovery-points/{rp}", "getRecoveryPoint", "Get a recovery point", "any", None, {"rp": _HEX32}, "vault", 200),
    ("delete", "/recovery-points/{rp}", "deleteRecoveryPoint", "Soft-delete a recovery point", "admin", None,
     {"rp": _HEX32}, "vault", 200),
    ("post", "/recovery-points/{rp}/undelete", "undeleteRecoveryPoint", "Undelete a recovery point", "admin", None,
     {"rp": _HEX32}, "vault", 200),
    ("post", "/backup-sessions", "openBackupSession", "Open a backup session (create-only SAS)", "instance", None, {}, None, 201),
    ("post", "/backup-sessions/{session}/commit", "commitBackupSession", "Enqueue the session's commit", "instance",
     CommitRequest, {"session": _HEX32}, None, 202),
    ("put", "/vault-key", "setVaultKey", "Record the current wrapped-key blob", "instance", VaultKeyRequest, {}, None, 200),
    ("post", "/restore-sessions", "openRestoreSession", "Open a restore session (read-only SAS)", "instance",
     RestoreRequest, {}, None, 201),
    ("post", "/restore-sessions/{session}/complete", "completeRestoreSession", "Meter a finished restore", "instance",
     RestoreComplete, {"session": _HEX32}, None, 200),
    ("get", "/poison", "listPoison", "List poison messages (operator)", "admin", None, {}, None, 200),
    ("post", "/poison/{queue}/{message}/replay", "replayPoison", "Replay a poison message (operator)", "admin", None,
     {"queue": {"type": "string", "maxLength": 63}, "message": {"type": "string", "maxLength": 128}}, None, 200),
]

_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
_EXTRA_QUERY = {
    "vault": [{"name": "vault", "in": "query", "required": False, "schema": _VAULT}],
    "usage": [{"name": "month", "in": "query", "required": False,
               "schema": {"type": "string", "pattern": r"^\d{4}-(0[1-9]|1[0-2])$"}}],
}


def _query_parameters(query) -> list[dict]:
    if query is None:
        return []
    if isinstance(query, str):
        return _EXTRA_QUERY[query]
    schema = query.model_json_schema()
    return [
        {"name": name, "in": "query", "required": False, "schema": prop}
        for name, prop in schema["properties"].items()
    ]


def _operation(op_id, summary, who, body: type[BaseModel] | None, path_params, query, status) -> dict:
    operation: dict = {
        "operationId": op_id, "summary": summary,
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": schema} for name, schema in path_params.items()
        ] + _query_parameters(query),
        "responses": {str(status): {"description": "success", "content": {"application/json": {"schema": {}}}}},
    }
    if who:
        operation["security"] = [{"bearer": []}]
        operation["x-credential"] = who
        for code, text in (("401", "no or bad credential"), ("403", "credential may not do this"),
                           ("404", "unknown id, or another tenant's")):
            operation["responses"][code] = {"description": text, "content": {"application/json": {"schema": _ERROR}}}
    if body is not None:
        operation["requestBody"] = {
            "required": True, "content": {"application/json": {"schema": body.model_json_schema()}},
        }
        operation["responses"]["400"] = {"description": "invalid body", "content": {"application/json": {"schema": _ERROR}}}
    return operation


@lru_cache(maxsize=1)
def openapi_document() -> dict:
    paths: dict[str, dict] = {}
    for method, path, op_id, summary, who, body, path_params, query, status in OPERATIONS:
        paths.setdefault(path, {})[method] = _operation(op_id, summary, who, body, path_params, query, status)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Cloud backup service API", "version": "1.0.0"},
        "servers": [{"url": "/api"}],
        "paths": paths,
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
