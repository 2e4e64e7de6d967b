"""Records which wrapped-key blob is the vault's current one, never letting go of a key that data needs.

The service cannot open a key blob, so it cannot tell a passphrase change from a machine that
uploads garbage and calls it the new key. Two rules keep a hostile machine from locking the
vault: a change must carry the key proof (a value derived from the master keys, which only
someone holding the passphrase can compute; the vault stores its SHA-256), and the previous
key is retired, not deleted, so every point stays readable with the passphrase it was made
under. A retired key blob goes only when no recovery point that still exists names it
(`collect_retired_keys`, in the daily maintenance run).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.messages import ReplicationMessage, encode
from shared.errors import BadRequest, Conflict, Forbidden, PreconditionFailed
from shared.formats import blob_names
from shared.services.auth import Principal
from shared.services.vaults import container_name

_KEY_ID = r"^[0-9a-f]{32}$"
# Points in these states may still be restored or undeleted (or are being cataloged).
_NEEDS_KEYS = ("pending", "committed", "deleted", "purging")


class VaultKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key_id: str = Field(pattern=_KEY_ID)
    previous_key_id: str | None = Field(default=None, pattern=_KEY_ID)
    key_proof: str = Field(pattern=r"^[0-9a-f]{64}$")


def proof_digest(key_proof_hex: str) -> str:
    return hashlib.sha256(bytes.fromhex(key_proof_hex)).hexdigest()


def set_vault_key(rt, principal: Principal, request: VaultKeyRequest) -> dict:
    """Compare-and-set of the current key; the previous one is retired, never deleted here.

    The first key records the proof's digest. A vault whose key predates proofs records it at
    its first change (trust on first use; a wrong one recorded by a hostile machine only stops
    passphrase changes, it unlocks nothing and deletes nothing).
    """
    principal.require("instance")
    vault = rt.catalog.vaults.get(principal.vault_id, principal.vault_id)
    if vault.get("key_id") != request.previous_key_id:
        raise Conflict("the vault key changed since you read it")
    recorded = vault.get("key_proof_sha256")
    if recorded and not hmac.compare_digest(recorded.encode(), proof_digest(request.key_proof).encode()):
        raise Forbidden("the key proof does not match the vault's keys: a new key must wrap the vault's own keys")
    container = container_name(vault["id"])
    properties = rt.primary_blobs.blob_properties(container, blob_names.key_name(request.key_id))
    if properties is None:
        raise BadRequest(f"{blob_names.key_name(request.key_id)} has not been uploaded")
    if properties.blob_type != blob_names.BLOCK_BLOB:
        raise BadRequest(f"{blob_names.key_name(request.key_id)} is not a block blob")
    retired = list(vault.get("retired_keys") or [])
    if request.previous_key_id:
        retired.append({"key_id": request.previous_key_id, "retired_at": rt.clock().isoformat()})
    changes = {"key_id": request.key_id, "key_proof_sha256": recorded or proof_digest(request.key_proof),
               "retired_keys": retired}
    try:
        rt.catalog.vaults.replace({**vault, **changes}, vault["_etag"])
    except PreconditionFailed as exc:
        raise Conflict("the vault key changed since you read it") from exc
    if vault["redundancy"] == "GRS" and rt.secondary_blobs is not None:
        message = ReplicationMessage(vault_id=vault["id"], op="copy", blobs=[blob_names.key_name(request.key_id)])
        rt.queues.send(rt.settings.replication_queue, encode(message))
    return {"key_id": request.key_id}


def kept_key_ids(vault: dict) -> set[str]:
    """The key blobs the vault must keep: its current key and every retired one not yet released."""
    kept = {entry["key_id"] for entry in vault.get("retired_keys") or []}
    return kept | ({vault["key_id"]} if vault.get("key_id") else set())


def collect_retired_keys(rt, vault: dict) -> int:
    """Deletes retired key blobs that no existing recovery point names, in both regions.

    Only after the grace period since retirement: a backup session opened before the change
    commits within it, naming the old key, and so keeps it. Returns the keys released.
    """
    cutoff = rt.clock() - timedelta(hours=rt.settings.gc_grace_hours)
    releasable = []
    for entry in vault.get("retired_keys") or []:
        if datetime.fromisoformat(entry["retired_at"]) >= cutoff or _named_by_points(rt, vault["id"], entry["key_id"]):
            continue
        releasable.append(entry["key_id"])
    if not releasable:
        return 0
    container = container_name(vault["id"])
    names = [blob_names.key_name(key_id) for key_id in releasable]
    for name in names:
        rt.primary_blobs.delete_blob(container, name)
    if rt.secondary_blobs is not None:
        rt.queues.send(rt.settings.replication_queue, encode(ReplicationMessage(vault_id=vault["id"], op="delete", blobs=names)))
    _forget_retired(rt, vault["id"], set(releasable))
    return len(releasable)


def _named_by_points(rt, vault_id: str, key_id: str) -> bool:
    found = rt.catalog.recovery_points.query(
        vault_id, "c.type = 'recovery_point' AND c.key_id = @key AND ARRAY_CONTAINS(@states, c.state)",
        {"key": key_id, "states": list(_NEEDS_KEYS)}, select="TOP 1 c.id",
    )
    return next(iter(found), None) is not None


def _forget_retired(rt, vault_id: str, released: set[str]) -> None:
    while True:
        vault = rt.catalog.vaults.get(vault_id, vault_id)
        kept = [entry for entry in vault.get("retired_keys") or [] if entry["key_id"] not in released]
        try:
            rt.catalog.vaults.replace({**vault, "retired_keys": kept}, vault["_etag"])
            return
        except PreconditionFailed:
            continue
