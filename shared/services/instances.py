"""Registers protected machines (instances) in a vault and lists them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.domain import credentials
from shared.errors import NotFound
from shared.services.auth import Principal
from shared.services.vaults import resolve_vault


class InstanceRegister(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$")


def public_view(instance: dict) -> dict:
    return {
        "instance_id": instance["id"], "vault_id": instance["vault_id"], "name": instance["name"],
        "registered_at": instance["registered_at"], "last_backup": instance.get("last_backup"),
    }


def register_instance(rt, principal: Principal, request: InstanceRegister) -> dict:
    principal.require("registration")
    vault = rt.catalog.vaults.get(principal.vault_id, principal.vault_id)
    instance_id = credentials.new_id()
    token = credentials.new_credential("instance", vault["id"], instance_id)
    instance = {
        "id": instance_id, "vault_id": vault["id"], "type": "instance", "name": request.name,
        "token_sha256": credentials.digest(token), "registered_at": rt.clock().isoformat(),
    }
    rt.catalog.instances.create(instance)
    return {**public_view(instance), "vault_name": vault["name"], "token": token}


def list_instances(rt, principal: Principal, vault_ident: str) -> list[dict]:
    principal.require("operator", "vault_admin")
    vault = resolve_vault(rt, principal, vault_ident)
    return [public_view(i) for i in rt.catalog.instances.query(vault["id"], "c.type = 'instance'")]


def get_instance(rt, principal: Principal, vault_ident: str, instance_id: str) -> dict:
    principal.require("operator", "vault_admin")
    vault = resolve_vault(rt, principal, vault_ident)
    instance = rt.catalog.instances.find(vault["id"], instance_id)
    if not instance or instance.get("type") != "instance":
        raise NotFound("instance not found")
    return public_view(instance)


def instance_names(rt, vault_id: str) -> dict[str, str]:
    return {i["id"]: i["name"] for i in rt.catalog.instances.query(vault_id, "c.type = 'instance'")}
