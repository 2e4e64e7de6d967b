"""Stores retention policies per vault (default) and per instance, and applies them on change."""

from __future__ import annotations

from pydantic import Field

from shared.domain.retention import RetentionPolicy
from shared.errors import NotFound
from shared.services.auth import Principal
from shared.services.vaults import resolve_vault


class PolicyRequest(RetentionPolicy):
    instance_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")


def _doc_id(instance_id: str | None) -> str:
    return f"policy:{instance_id or 'default'}"


def _policy_of(doc: dict) -> dict:
    return RetentionPolicy.model_validate({k: doc[k] for k in RetentionPolicy.model_fields}).model_dump()


def effective_policy(rt, vault_id: str, instance_id: str) -> RetentionPolicy:
    """The instance's own policy, else the vault default, else keep everything."""
    for doc_id in (_doc_id(instance_id), _doc_id(None)):
        doc = rt.catalog.instances.find(vault_id, doc_id)
        if doc:
            return RetentionPolicy.model_validate(_policy_of(doc))
    return RetentionPolicy()


def get_policies(rt, principal: Principal, vault_ident: str) -> dict:
    principal.require("operator", "vault_admin")
    vault = resolve_vault(rt, principal, vault_ident)
    docs = list(rt.catalog.instances.query(vault["id"], "c.type = 'policy'"))
    default = next((_policy_of(d) for d in docs if d["id"] == _doc_id(None)), None)
    per_instance = {d["instance_id"]: _policy_of(d) for d in docs if d.get("instance_id")}
    return {"vault_id": vault["id"], "default": default, "instances": per_instance}


def set_policy(rt, principal: Principal, vault_ident: str, request: PolicyRequest) -> dict:
    """Saves the policy, then applies retention to the vault at once."""
    from shared.services.retention_run import apply_retention

    principal.require("operator", "vault_admin")
    vault = resolve_vault(rt, principal, vault_ident)
    if request.instance_id:
        instance = rt.catalog.instances.find(vault["id"], request.instance_id)
        if not instance or instance.get("type") != "instance":
            raise NotFound("instance not found")
    policy = RetentionPolicy.model_validate(request.model_dump(exclude={"instance_id"}))
    rt.catalog.instances.upsert({
        "id": _doc_id(request.instance_id), "vault_id": vault["id"], "type": "policy",
        "instance_id": request.instance_id, **policy.model_dump(),
    })
    applied = apply_retention(rt, vault)
    return {"vault_id": vault["id"], "instance_id": request.instance_id, "policy": policy.model_dump(), "applied": applied}
