"""Creates, reads and updates vaults; resolves a vault name or id for the caller."""

from __future__ import annotations

import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.domain import credentials
from shared.domain.messages import ReplicationMessage, encode
from shared.errors import BadRequest, Conflict, NotFound, PreconditionFailed
from shared.formats import blob_names
from shared.services.auth import Principal

REGISTRY = "registry"
_HEX32 = re.compile(r"^[0-9a-f]{32}$")


def container_name(vault_id: str) -> str:
    return f"vault-{vault_id}"


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


class VaultLimits(BaseModel):
    """A vault's own limits (None: the service's setting; 0: no limit)."""

    model_config = ConfigDict(extra="forbid")
    max_open_sessions: int | None = Field(default=None, ge=0, le=10_000)
    max_commits_per_hour: int | None = Field(default=None, ge=0, le=1_000_000)
    quota_bytes: int | None = Field(default=None, ge=0, le=1 << 62)


class VaultCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    redundancy: Literal["LRS", "GRS"] | None = None
    soft_delete_days: int = Field(default=14, ge=0, le=365)
    time_zone: str = "UTC"
    limits: VaultLimits | None = None

    @field_validator("name")
    @classmethod
    def _not_an_id(cls, value: str) -> str:
        # {vault} in a route is an id or a name: a name shaped like an id would shadow a vault.
        if _HEX32.match(value.lower()):
            raise ValueError("a vault name may not be 32 hex digits (that is how vault ids look)")
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return _zone(value)


class VaultUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    redundancy: Literal["LRS", "GRS"] | None = None
    soft_delete_days: int | None = Field(default=None, ge=0, le=365)
    time_zone: str | None = None
    limits: VaultLimits | None = None

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return value if value is None else _zone(value)


def public_view(vault: dict) -> dict:
    return {
        "vault_id": vault["id"], "name": vault["name"], "redundancy": vault["redundancy"],
        "soft_delete_days": vault["soft_delete_days"], "time_zone": vault["time_zone"],
        "created": vault["created"], "key_id": vault.get("key_id"), "limits": vault.get("limits") or {},
    }


def create_vault(rt, principal: Principal, request: VaultCreate) -> dict:
    principal.require("operator")
    vault_id = credentials.new_id()
    try:
        rt.catalog.vaults.create(
            {"id": f"name:{request.name.lower()}", "vault_id": REGISTRY, "type": "name", "target": vault_id}
        )
    except Conflict as exc:
        raise Conflict(f"a vault named {request.name} already exists") from exc
    admin_key = credentials.new_credential("vault_admin", vault_id)
    registration_key = credentials.new_credential("registration", vault_id)
    vault = {
        "id": vault_id, "vault_id": vault_id, "type": "vault", "name": request.name,
        "redundancy": request.redundancy or rt.settings.default_redundancy,
        "soft_delete_days": request.soft_delete_days, "time_zone": request.time_zone,
        "created": rt.clock().isoformat(), "key_id": None,
        "limits": request.limits.model_dump(exclude_none=True) if request.limits else {},
        "admin_key_sha256": credentials.digest(admin_key),
        "registration_key_sha256": credentials.digest(registration_key),
    }
    rt.primary_blobs.ensure_container(container_name(vault_id))
    if rt.secondary_blobs is not None and vault["redundancy"] == "GRS":
        rt.secondary_blobs.ensure_container(container_name(vault_id))
    rt.catalog.vaults.create(vault)
    rt.catalog.vaults.create({"id": vault_id, "vault_id": REGISTRY, "type": "vault_ref", "name": request.name})
    return {**public_view(vault), "admin_key": admin_key, "registration_key": registration_key}


def resolve_vault(rt, principal: Principal, ident: str) -> dict:
    """The vault named by id or name, if the caller may see it; NotFound otherwise."""
    vault_id = ident if _HEX32.match(ident) else None
    if vault_id is None:
        ref = rt.catalog.vaults.find(REGISTRY, f"name:{ident.lower()}")
        vault_id = ref["target"] if ref else None
    if vault_id is None:
        raise NotFound("vault not found")
    principal.require_vault(vault_id)
    vault = rt.catalog.vaults.find(vault_id, vault_id)
    if vault is None:
        raise NotFound("vault not found")
    return vault


def list_vaults(rt, principal: Principal) -> list[dict]:
    principal.require("operator", "vault_admin")
    if not principal.is_operator:
        return [public_view(resolve_vault(rt, principal, principal.vault_id))]
    refs = rt.catalog.vaults.query(REGISTRY, "c.type = 'vault_ref'")
    return [public_view(v) for ref in refs if (v := rt.catalog.vaults.find(ref["id"], ref["id"]))]


def all_vault_ids(rt) -> list[str]:
    return [ref["id"] for ref in rt.catalog.vaults.query(REGISTRY, "c.type = 'vault_ref'")]


def update_vault(rt, principal: Principal, ident: str, request: VaultUpdate) -> dict:
    principal.require("operator", "vault_admin")
    vault = resolve_vault(rt, principal, ident)
    changes = request.model_dump(exclude_none=True)
    if not changes:
        raise BadRequest("no setting to change")
    if "limits" in changes:  # only the limits named change; the others keep their value
        changes["limits"] = {**(vault.get("limits") or {}), **changes["limits"]}
    to_grs = changes.get("redundancy") == "GRS" and rt.secondary_blobs is not None
    if to_grs:
        rt.secondary_blobs.ensure_container(container_name(vault["id"]))
    updated = rt.catalog.vaults.replace({**vault, **changes}, vault["_etag"])
    if to_grs:
        # After the write: replication skips a vault that is not GRS yet. Also when it already
        # was, so repeating the request finishes a back-fill that failed halfway.
        enqueue_backfill(rt, updated)
    return public_view(updated)


def issue_registration_key(rt, principal: Principal, ident: str) -> dict:
    """A new registration key for the vault, returned once; the previous one stops working at once."""
    principal.require("operator", "vault_admin")
    vault = resolve_vault(rt, principal, ident)
    registration_key = credentials.new_credential("registration", vault["id"])
    try:
        updated = rt.catalog.vaults.replace(
            {**vault, "registration_key_sha256": credentials.digest(registration_key),
             "registration_key_issued_at": rt.clock().isoformat()}, vault["_etag"])
    except PreconditionFailed as exc:
        raise PreconditionFailed("the vault changed concurrently; retry") from exc
    return {**public_view(updated), "registration_key": registration_key}


def enqueue_backfill(rt, vault: dict) -> int:
    """Enqueues the copy of the vault's current key and of each point not yet in the paired region.

    Points backed up while the vault was LRS become restorable from there; a copy of a point
    already replicated, or delivered twice, changes nothing. Returns the points enqueued.
    """
    messages = []
    if vault.get("key_id"):  # a key changed while the vault was LRS was never copied
        messages.append(ReplicationMessage(vault_id=vault["id"], op="copy", blobs=[blob_names.key_name(vault["key_id"])]))
    points = rt.catalog.recovery_points.query(
        vault["id"], "c.type = 'recovery_point' AND (c.state = 'committed' OR c.state = 'deleted')",
        select="c.id, c.replicated_at",
    )
    pending = [rp["id"] for rp in points if not rp.get("replicated_at")]
    messages += [ReplicationMessage(vault_id=vault["id"], recovery_point_id=rp_id, op="copy") for rp_id in pending]
    for message in messages:
        rt.queues.send(rt.settings.replication_queue, encode(message))
    return len(pending)
