"""Stores retention policies per vault (default) and per instance, and applies them on change."""

from __future__ import annotations

from pydantic import Field

from shared.domain.retention import RetentionPolicy
from shared.errors import NotFound
from shared.services.auth import Principal
from shared.services.policy_documents import doc_id, policy_of
from shared.services.retention_run import apply_retention
from shared.services.vaults import resolve_vault


class PolicyRequest(RetentionPolicy):
    instance_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")


def get_policies(rt, principal: Principal, vault_ident: str) -> dict:
    principal.require("operator", "vault_admin")
    vault = resolve_vault(rt, principal, vault_ident)
    docs = list(rt.catalog.instances.query(vault["id"], "c.type = 'policy'"))
    default = next((policy_of(d) for d in docs if d["id"] == doc_id(None)), None)
    per_instance = {d["instance_id"]: policy_of(d) for d in docs if d.get("instance_id")}
    return {"vault_id": vault["id"], "default": default, "instances": per_instance}


def set_policy(rt, principal: Principal, vault_ident: str, request: PolicyRequest) -> dict:
    """Saves the policy, then applies retention to the vault at once."""
    principal.require("operator", "vault_admin")
    vault = resolve_vault(rt, principal, vault_ident)
    if request.instance_id:
        instance = rt.catalog.instances.find(vault["id"], request.instance_id)
        if not instance or instance.get("type") != "instance":
            raise NotFound("instance not found")
    policy = RetentionPolicy.model_validate(request.model_dump(exclude={"instance_id"}))
    rt.catalog.instances.upsert({
        "id": doc_id(request.instance_id), "vault_id": vault["id"], "type": "policy",
        "instance_id": request.instance_id, **policy.model_dump(),
    })
    applied = apply_retention(rt, vault)
    return {"vault_id": vault["id"], "instance_id": request.instance_id, "policy": policy.model_dump(), "applied": applied}
