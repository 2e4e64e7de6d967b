"""Builds the OpenAPI 3 document of the HTTP API from the request models the routes validate with."""

from __future__ import annotations

from functools import lru_cache

from pydantic import BaseModel

from shared.services.instances import InstanceRegister
from shared.services.policies import PolicyRequest
from shared.services.recovery_points import RecoveryPointQuery
from shared.services.sessions import CommitRequest, RestoreComplete, RestoreRequest
from shared.services.vault_keys import VaultKeyRequest
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
    ("post", "/vaults/{vault}/instances/{instance}/revoke", "revokeInstance",
     "Revoke a machine: its token stops working, its sessions cannot commit", "admin", None,
     {"vault": _VAULT, "instance": _HEX32}, None, 200),
    ("post", "/vaults/{vault}/instances/{instance}/token", "rotateInstanceToken",
     "Issue a new token for a machine; the old one stops working", "admin", None,
     {"vault": _VAULT, "instance": _HEX32}, None, 200),
    ("post", "/vaults/{vault}/registration-key", "issueRegistrationKey",
     "Issue a new registration key; the old one stops working", "admin", None, {"vault": _VAULT}, None, 200),
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
    ("delete", "/backup-sessions/{session}", "abandonBackupSession", "End a session that will not commit",
     "instance", None, {"session": _HEX32}, None, 200),
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


def _object(required: dict, optional: dict | None = None) -> dict:
    return {"type": "object", "properties": {**required, **(optional or {})}, "required": sorted(required)}


def _items(item: dict, paged: bool = False) -> dict:
    listing = {"items": {"type": "array", "items": item}}
    return _object({**listing, "continuation": {"type": ["string", "null"]}} if paged else listing)


_S, _N, _I = {"type": "string"}, {"type": ["string", "null"]}, {"type": "integer"}
_VAULT_VIEW = _object({"vault_id": _HEX32, "name": _S, "redundancy": {"enum": ["LRS", "GRS"]}, "soft_delete_days": _I,
                       "time_zone": _S, "created": _S, "key_id": _N}, {"limits": {"type": "object"}})
_INSTANCE_VIEW = _object({"instance_id": _HEX32, "vault_id": _HEX32, "name": _S, "registered_at": _S},
                         {"last_backup": {}, "revoked_at": _N, "token_rotated_at": _N})
_RECOVERY_POINT = _object(
    {"id": _HEX32, "vault_id": _HEX32, "instance_id": _HEX32, "state": {"enum": ["pending", "committed", "rejected", "deleted"]},
     "created": _N, "files": _I, "bytes": _I},
    {"instance_name": _N, "client_time": _N, "summary": {"type": "object"}, "snapshot": {}, "commit_blob": _N, "key_id": _N,
     "replicated_at": _N, "replication_lag_seconds": {"type": ["number", "null"]}, "rejected_reason": _N,
     "deleted_at": _N},
)
_POLICY = {"type": "object", "properties": {k: _I for k in ("last", "daily", "weekly", "monthly", "yearly")}}
_SAS_SESSION = {"session_id": _HEX32, "container_url": _S, "sas": _S, "expires_at": _S, "key_id": _N}
# The success body of each operation, by operationId (docs/design.md, "HTTP API").
RESPONSES: dict[str, dict] = {
    "getHealth": {"type": "object"},
    "getOpenApi": _object({"openapi": _S, "paths": {"type": "object"}}),
    "createVault": _object({**_VAULT_VIEW["properties"], "admin_key": _S, "registration_key": _S}),
    "listVaults": _items(_VAULT_VIEW),
    "getVault": _VAULT_VIEW, "updateVault": _VAULT_VIEW,
    "listInstances": _items(_INSTANCE_VIEW), "getInstance": _INSTANCE_VIEW, "revokeInstance": _INSTANCE_VIEW,
    "rotateInstanceToken": _object({**_INSTANCE_VIEW["properties"], "vault_name": _S, "token": _S}),
    "issueRegistrationKey": _object({**_VAULT_VIEW["properties"], "registration_key": _S}),
    "registerInstance": _object({**_INSTANCE_VIEW["properties"], "vault_name": _S, "token": _S}),
    "getPolicy": _object({"vault_id": _HEX32, "default": {"anyOf": [_POLICY, {"type": "null"}]},
                          "instances": {"type": "object", "additionalProperties": _POLICY}}),
    "putPolicy": _object({"vault_id": _HEX32, "instance_id": _N, "policy": _POLICY, "applied": {"type": "object"}}),
    "getUsage": _object({"month": _S, "vault_id": _HEX32, "vault": _S, "redundancy": _S, "days": _I,
                         "protected_instances": _I, "protected_bytes": _I, "stored_bytes_primary": _I,
                         "stored_bytes_secondary": _I, "estimated_cost": _object({"currency": _S, "total": {"type": "number"},
                                                                                 "instance_fees": {"type": "array"}})}),
    "listRecoveryPoints": _items(_RECOVERY_POINT, paged=True),
    "getRecoveryPoint": _RECOVERY_POINT, "deleteRecoveryPoint": _RECOVERY_POINT, "undeleteRecoveryPoint": _RECOVERY_POINT,
    "openBackupSession": _object({**_SAS_SESSION, "recovery_point_id": _HEX32,
                                  "condemned_packs": {"type": "array", "items": _S}}),
    "commitBackupSession": _object({"recovery_point_id": _HEX32, "state": {"const": "pending"}}),
    "abandonBackupSession": _object({"session_id": _HEX32, "state": {"const": "abandoned"}}),
    "setVaultKey": _object({"key_id": _HEX32}),
    "openRestoreSession": _object({**_SAS_SESSION, "recovery_point": _RECOVERY_POINT}),
    "completeRestoreSession": _object({"session_id": _HEX32, "bytes": _I}),
    "listPoison": _items(_object(
        {"queue": _S, "message_id": _S, "dequeue_count": _I, "inserted_at": _N, "body_preview": _S},
        {"reason": _N, "failed_at": _N, "attempts": {"type": ["integer", "null"]}},
    )),
    "replayPoison": _object({"queue": _S, "message_id": _S, "replayed": {"type": "boolean"}}),
}
# 409: the state forbids it (name taken, session expired, key changed, point not deletable);
# 412: a concurrent writer changed the document between read and conditional write: retry.
CONFLICTS: dict[str, dict[str, str]] = {
    "createVault": {"409": "a vault has this name"},
    "updateVault": {"412": "changed concurrently; retry"},
    "deleteRecoveryPoint": {"409": "the recovery point is not committed", "412": "changed concurrently; retry"},
    "undeleteRecoveryPoint": {"409": "not deleted, or its soft-delete period has ended",
                              "412": "changed concurrently; retry"},
    "registerInstance": {"409": "the vault has a machine of this name"},
    "revokeInstance": {"412": "changed concurrently; retry"},
    "rotateInstanceToken": {"409": "the machine is revoked", "412": "changed concurrently; retry"},
    "issueRegistrationKey": {"412": "changed concurrently; retry"},
    "openBackupSession": {"429": "the machine has its most open sessions, or the vault is over its quota"},
    "commitBackupSession": {"409": "the backup session has ended or expired",
                            "429": "the machine has committed its most backups this hour"},
    "abandonBackupSession": {"409": "the backup session has been committed"},
    "setVaultKey": {"409": "the vault key changed since it was read"},
    "openRestoreSession": {"409": "the point is not committed, or has no paired-region copy"},
}
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


_COMPONENT = "#/components/schemas/{model}"


def _body_schema(body: type[BaseModel], components: dict[str, dict]) -> dict:
    """The body's schema, its nested models moved to `components` (a `$defs` inside an operation
    cannot be referenced from there)."""
    schema = body.model_json_schema(ref_template=_COMPONENT)
    components.update(schema.pop("$defs", {}))
    return schema


def _operation(components: dict[str, dict], op_id, summary, who, body: type[BaseModel] | None, path_params, query, status) -> dict:
    operation: dict = {
        "operationId": op_id, "summary": summary,
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": schema} for name, schema in path_params.items()
        ] + _query_parameters(query),
        "responses": {str(status): {"description": "success",
                                    "content": {"application/json": {"schema": RESPONSES[op_id]}}}},
    }
    for code, text in CONFLICTS.get(op_id, {}).items():
        operation["responses"][code] = {"description": text, "content": {"application/json": {"schema": _ERROR}}}
    if who:
        operation["security"] = [{"bearer": []}]
        operation["x-credential"] = who
        for code, text in (("401", "no or bad credential"), ("403", "credential may not do this"),
                           ("404", "unknown id, or another tenant's")):
            operation["responses"][code] = {"description": text, "content": {"application/json": {"schema": _ERROR}}}
    if body is not None:
        operation["requestBody"] = {
            "required": True, "content": {"application/json": {"schema": _body_schema(body, components)}},
        }
        operation["responses"]["400"] = {"description": "invalid body", "content": {"application/json": {"schema": _ERROR}}}
    return operation


@lru_cache(maxsize=1)
def openapi_document() -> dict:
    paths: dict[str, dict] = {}
    components: dict[str, dict] = {}
    for method, path, op_id, summary, who, body, path_params, query, status in OPERATIONS:
        paths.setdefault(path, {})[method] = _operation(components, op_id, summary, who, body, path_params, query, status)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Cloud backup service API", "version": "1.0.0"},
        "servers": [{"url": "/api"}],
        "paths": paths,
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}, "schemas": components},
    }
