"""Reads the service's app settings from the environment, in their Azure (identity) or local form."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

# Every app setting the service code reads, with where it applies.
#   "both":  set in Azure (by infra) and locally (by the dev stack)
#   "azure": the identity-based form, set only by infra
#   "local": the key/connection-string form, set only by the dev stack
# tests/infra/test_settings_match_templates.py derives the names from the code (load_settings and
# the function bindings) to keep this table complete, and checks both templates against it.
SETTING_NAMES: dict[str, Literal["both", "azure", "local"]] = {
    "PRIMARY_STORAGE": "local",
    "PRIMARY_STORAGE__blobServiceUri": "azure",
    "PRIMARY_STORAGE__queueServiceUri": "azure",
    # Read by the Functions host, not load_settings: the queue triggers' connection="PRIMARY_STORAGE".
    "PRIMARY_STORAGE__credential": "azure",
    "PRIMARY_STORAGE__clientId": "azure",
    "SECONDARY_STORAGE": "local",
    "SECONDARY_STORAGE__blobServiceUri": "azure",
    "SECONDARY_STORAGE__clientId": "azure",
    "COSMOS_ENDPOINT": "local",
    "COSMOS_KEY": "local",
    "COSMOS__accountEndpoint": "azure",
    "COSMOS__clientId": "azure",
    "COSMOS_DATABASE": "both",
    "COMMIT_QUEUE": "both",
    "REPLICATION_QUEUE": "both",
    "METERING_QUEUE": "both",
    "RETENTION_SCHEDULE": "both",
    "OPERATOR_KEY_SHA256": "both",
    "GC_GRACE_HOURS": "both",
    "BACKUP_SESSION_HOURS": "both",
    "DEFAULT_REDUNDANCY": "both",
    "PRICE_TABLE": "both",
    "INSTANCE_MAX_OPEN_SESSIONS": "both",
    "INSTANCE_MAX_COMMITS_PER_HOUR": "both",
    "VAULT_QUOTA_BYTES": "both",
}


class SettingsError(Exception):
    """A required app setting is missing or malformed."""


@dataclass(frozen=True)
class StorageConnection:
    """How to reach one storage account: a connection string, or service URIs plus an identity."""

    connection_string: str | None = None
    blob_service_uri: str | None = None
    queue_service_uri: str | None = None
    managed_identity_client_id: str | None = None


@dataclass(frozen=True)
class CosmosConnection:
    """How to reach the Cosmos DB account: endpoint plus key (local) or identity (Azure)."""

    endpoint: str
    key: str | None = None
    managed_identity_client_id: str | None = None

    @property
    def is_loopback(self) -> bool:
        return self.endpoint.startswith(("https://127.0.0.1", "https://localhost", "http://127.0.0.1"))


@dataclass(frozen=True)
class Settings:
    """The typed view of every app setting in SETTING_NAMES."""

    primary_storage: StorageConnection
    secondary_storage: StorageConnection | None
    cosmos: CosmosConnection
    cosmos_database: str = "backup"
    commit_queue: str = "commits"
    replication_queue: str = "replication"
    metering_queue: str = "metering"
    retention_schedule: str = "0 30 2 * * *"
    operator_key_sha256: str = ""
    gc_grace_hours: float = 48.0
    backup_session_hours: float = 12.0
    default_redundancy: Literal["LRS", "GRS"] = "GRS"
    price_table: Mapping[str, object] = field(default_factory=dict)
    # Per machine and per vault (a vault's `limits` override these); 0 means no limit.
    max_open_sessions: int = 4
    max_commits_per_hour: int = 60
    quota_bytes: int = 16 << 50  # above the largest vault promised (1,000 machines of 10 TiB)


def _storage(env: Mapping[str, str], name: str, required: bool, queues: bool) -> StorageConnection | None:
    if env.get(name):
        return StorageConnection(connection_string=env[name])
    blob_uri = env.get(f"{name}__blobServiceUri")
    if blob_uri:
        return StorageConnection(
            blob_service_uri=blob_uri,
            queue_service_uri=env.get(f"{name}__queueServiceUri") if queues else None,
            managed_identity_client_id=env.get(f"{name}__clientId"),
        )
    if required:
        raise SettingsError(f"app setting {name} (or {name}__blobServiceUri) is not set")
    return None


def _cosmos(env: Mapping[str, str]) -> CosmosConnection:
    if env.get("COSMOS_ENDPOINT"):
        return CosmosConnection(endpoint=env["COSMOS_ENDPOINT"], key=env.get("COSMOS_KEY"))
    if env.get("COSMOS__accountEndpoint"):
        return CosmosConnection(
            endpoint=env["COSMOS__accountEndpoint"],
            managed_identity_client_id=env.get("COSMOS__clientId"),
        )
    raise SettingsError("app setting COSMOS_ENDPOINT (or COSMOS__accountEndpoint) is not set")


def _parsed(env: Mapping[str, str], name: str, default, parse, kind: str, allowed, bound: str):
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = parse(raw)
    except ValueError as exc:
        raise SettingsError(f"app setting {name} must be {kind}, got {raw!r}") from exc
    if not allowed(value):
        raise SettingsError(f"app setting {name} must be {bound}, got {raw!r}")
    return value


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    return _parsed(env, name, default, float, "a number", lambda value: value > 0, "positive")


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    return _parsed(env, name, default, int, "a whole number", lambda value: value >= 0, "0 or more")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment (or the given mapping); raises SettingsError."""
    env = os.environ if env is None else env
    grace = _number(env, "GC_GRACE_HOURS", 48.0)
    session = _number(env, "BACKUP_SESSION_HOURS", 12.0)
    if grace <= session:
        # The garbage collector's safety argument needs this (docs/design.md, "Concurrency").
        raise SettingsError("GC_GRACE_HOURS must be longer than BACKUP_SESSION_HOURS")
    redundancy = env.get("DEFAULT_REDUNDANCY") or "GRS"
    if redundancy not in ("LRS", "GRS"):
        raise SettingsError(f"app setting DEFAULT_REDUNDANCY must be LRS or GRS, got {redundancy!r}")
    try:
        price_table = json.loads(env["PRICE_TABLE"]) if env.get("PRICE_TABLE") else {}
    except json.JSONDecodeError as exc:
        raise SettingsError("app setting PRICE_TABLE is not valid JSON") from exc
    return Settings(
        primary_storage=_storage(env, "PRIMARY_STORAGE", required=True, queues=True),  # type: ignore[arg-type]
        secondary_storage=_storage(env, "SECONDARY_STORAGE", required=False, queues=False),
        cosmos=_cosmos(env),
        cosmos_database=env.get("COSMOS_DATABASE") or "backup",
        commit_queue=env.get("COMMIT_QUEUE") or "commits",
        replication_queue=env.get("REPLICATION_QUEUE") or "replication",
        metering_queue=env.get("METERING_QUEUE") or "metering",
        retention_schedule=env.get("RETENTION_SCHEDULE") or "0 30 2 * * *",
        operator_key_sha256=env.get("OPERATOR_KEY_SHA256", ""),
        gc_grace_hours=grace,
        backup_session_hours=session,
        default_redundancy=redundancy,  # type: ignore[arg-type]
        price_table=price_table,
        max_open_sessions=_count(env, "INSTANCE_MAX_OPEN_SESSIONS", 4),
        max_commits_per_hour=_count(env, "INSTANCE_MAX_COMMITS_PER_HOUR", 60),
        quota_bytes=_count(env, "VAULT_QUOTA_BYTES", 16 << 50),
    )
