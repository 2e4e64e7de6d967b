"""Lists, reads, soft-deletes and undeletes recovery points of a vault."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from shared.domain import continuation_tokens
from shared.errors import BadRequest, Conflict, NotFound
from shared.services.auth import Principal
from shared.services.instances import instance_names
from shared.services.vaults import resolve_vault

VISIBLE_STATES = ("pending", "committed", "rejected", "deleted")


class RecoveryPointQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vault: str | None = None
    instance: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    state: str = Field(default="committed", pattern=r"^(pending|committed|rejected|deleted|all)$")
    since: datetime | None = None
    until: datetime | None = None
    limit: int = Field(default=100, ge=1, le=1000)
    # The service's own envelopes (shared/domain/continuation_tokens.py), url-safe ASCII.
    continuation: str | None = Field(
        default=None, max_length=continuation_tokens.MAX_LENGTH, pattern=r"^[\x20-\x7e]+$",
        description="the `continuation` of the previous page of this same listing (same vault and filters), "
                    "unchanged; any other token answers 400",
    )


def public_view(rp: dict, names: dict[str, str] | None = None) -> dict:
    summary = rp.get("summary") or {}
    return {
        "id": rp["id"], "vault_id": rp["vault_id"], "instance_id": rp["instance_id"],
        "instance": rp["instance_id"], "instance_name": (names or {}).get(rp["instance_id"]),
        "state": rp["state"], "created": rp["created"], "client_time": rp.get("client_time"),
        "files": summary.get("files", 0), "bytes": summary.get("bytes", 0), "summary": summary,
        "snapshot": rp.get("snapshot"), "commit_blob": rp.get("commit_blob"), "key_id": rp.get("key_id"),
        "replicated_at": rp.get("replicated_at"),
        "replication_lag_seconds": rp.get("replication_lag_seconds"),
        "rejected_reason": rp.get("rejected_reason"), "deleted_at": rp.get("deleted_at"),
    }


def caller_vault_id(rt, principal: Principal, vault_ident: str | None) -> str:
    """Instances act in their own vault; admins name it (a vault admin may omit it)."""
    if principal.kind == "instance":
        return principal.vault_id
    principal.require("operator", "vault_admin")
    if vault_ident is None:
        if principal.vault_id is None:
            raise BadRequest("the vault parameter is required")
        vault_ident = principal.vault_id
    return resolve_vault(rt, principal, vault_ident)["id"]


def list_recovery_points(rt, principal: Principal, query: RecoveryPointQuery) -> dict:
    vault_id = caller_vault_id(rt, principal, query.vault)
    clauses, params = ["c.type = 'recovery_point'"], {}
    if query.state != "all":
        clauses.append("c.state = @state")
        params["state"] = query.state
    else:
        clauses.append("c.state != 'purged'")
    if query.instance:
        clauses.append("c.instance_id = @instance")
        params["instance"] = query.instance
    if query.since:
        clauses.append("c.created >= @since")
        params["since"] = query.since.isoformat()
    if query.until:
        clauses.append("c.created < @until")
        params["until"] = query.until.isoformat()
    where = " AND ".join(clauses)
    scope = continuation_tokens.listing_scope("recovery-points", vault_id, where=where, **params)
    items, following = rt.catalog.recovery_points.query_page(
        vault_id, where, params, order_by="c.created DESC",
        limit=query.limit, continuation=continuation_tokens.open_token(query.continuation, scope),
    )
    names = instance_names(rt, vault_id)
    return {"items": [public_view(rp, names) for rp in items],
            "continuation": continuation_tokens.seal(following, scope)}


def find_recovery_point(rt, vault_id: str, rp_id: str) -> dict:
    rp = rt.catalog.recovery_points.find(vault_id, rp_id)
    if not rp or rp.get("type") != "recovery_point" or rp["state"] == "purged":
        raise NotFound("recovery point not found")
    return rp


def get_recovery_point(rt, principal: Principal, rp_id: str, vault_ident: str | None) -> dict:
    vault_id = caller_vault_id(rt, principal, vault_ident)
    return public_view(find_recovery_point(rt, vault_id, rp_id), instance_names(rt, vault_id))


def _administered(rt, principal: Principal, rp_id: str, vault_ident: str | None) -> tuple[str, dict]:
    principal.require("operator", "vault_admin")
    vault_id = caller_vault_id(rt, principal, vault_ident)
    return vault_id, find_recovery_point(rt, vault_id, rp_id)


def soft_delete(rt, principal: Principal, rp_id: str, vault_ident: str | None) -> dict:
    _, rp = _administered(rt, principal, rp_id, vault_ident)
    if rp["state"] == "deleted":
        return public_view(rp)
    if rp["state"] != "committed":
        raise Conflict(f"recovery point is {rp['state']} and cannot be deleted")
    rp.update(state="deleted", deleted_at=rt.clock().isoformat(), deleted_by="operator", retention_hold=False)
    return public_view(rt.catalog.recovery_points.replace(rp, rp["_etag"]))


def undelete(rt, principal: Principal, rp_id: str, vault_ident: str | None) -> dict:
    vault_id, rp = _administered(rt, principal, rp_id, vault_ident)
    if rp["state"] == "committed":
        return public_view(rp)
    if rp["state"] != "deleted":
        raise Conflict(f"recovery point is {rp['state']} and cannot be undeleted")
    vault = rt.catalog.vaults.get(vault_id, vault_id)
    deadline = datetime.fromisoformat(rp["deleted_at"]) + timedelta(days=vault["soft_delete_days"])
    if rt.clock() > deadline:
        raise Conflict("the soft-delete period of this recovery point has ended")
    rp.update(state="committed", deleted_at=None, deleted_by=None, undeleted_at=rt.clock().isoformat())
    # A recovery point undeleted by an operator is protected from the next retention run's expiry.
    rp["retention_hold"] = True
    return public_view(rt.catalog.recovery_points.replace(rp, rp["_etag"]))
