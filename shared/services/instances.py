"""Registers protected machines (instances) in a vault, lists them, revokes them and rotates their tokens.

An instance name is unique in its vault among machines that are not revoked: a reservation
document (`name:<sha256 of the case-folded name>`, created before the instance) makes two
concurrent registrations of one name conflict. Revoking frees the name for a replacement; the
revoked machine's recovery points stay.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict, field_validator

from shared.domain import credentials
from shared.domain.display_names import check_display_name, name_key
from shared.errors import Conflict, NotFound, PreconditionFailed
from shared.services.auth import Principal
from shared.services.vaults import resolve_vault


class InstanceRegister(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str

    @field_validator("name")
    @classmethod
    def _display_name(cls, value: str) -> str:
        return check_display_name(value)


def public_view(instance: dict) -> dict:
    return {
        "instance_id": instance["id"], "vault_id": instance["vault_id"], "name": instance["name"],
        "registered_at": instance["registered_at"], "last_backup": instance.get("last_backup"),
        "revoked_at": instance.get("revoked_at"), "token_rotated_at": instance.get("token_rotated_at"),
    }


def _reservation_id(name: str) -> str:
    return "name:" + hashlib.sha256(name_key(name).encode()).hexdigest()


def register_instance(rt, principal: Principal, request: InstanceRegister) -> dict:
    principal.require("registration")
    vault = rt.catalog.vaults.get(principal.vault_id, principal.vault_id)
    taken = Conflict(f"vault {vault['name']} already has a machine named {request.name}; "
                     "choose another name, or revoke that machine first")
    if any(name_key(i["name"]) == name_key(request.name) for i in active_instances(rt, vault["id"])):
        raise taken  # registered before names were reserved
    instance_id = credentials.new_id()
    try:
        rt.catalog.instances.create({"id": _reservation_id(request.name), "vault_id": vault["id"],
                                     "type": "instance_name", "instance_id": instance_id})
    except Conflict as exc:
        raise taken from exc
    token = credentials.new_credential("instance", vault["id"], instance_id)
    instance = {
        "id": instance_id, "vault_id": vault["id"], "type": "instance", "name": request.name,
        "token_sha256": credentials.digest(token), "registered_at": rt.clock().isoformat(),
    }
    rt.catalog.instances.create(instance)
    return {**public_view(instance), "vault_name": vault["name"], "token": token}


def active_instances(rt, vault_id: str) -> list[dict]:
    return [i for i in rt.catalog.instances.query(vault_id, "c.type = 'instance'") if not i.get("revoked_at")]


def list_instances(rt, principal: Principal, vault_ident: str) -> list[dict]:
    principal.require("operator", "vault_admin")
    vault = resolve_vault(rt, principal, vault_ident)
    return [public_view(i) for i in rt.catalog.instances.query(vault["id"], "c.type = 'instance'")]


def _administered(rt, principal: Principal, vault_ident: str, instance_id: str) -> dict:
    principal.require("operator", "vault_admin")
    vault = resolve_vault(rt, principal, vault_ident)
    instance = rt.catalog.instances.find(vault["id"], instance_id)
    if not instance or instance.get("type") != "instance":
        raise NotFound("instance not found")
    return instance


def get_instance(rt, principal: Principal, vault_ident: str, instance_id: str) -> dict:
    return public_view(_administered(rt, principal, vault_ident, instance_id))


def revoke_instance(rt, principal: Principal, vault_ident: str, instance_id: str) -> dict:
    """Its token stops working at once and the catalog rejects its open sessions' commits."""
    instance = _administered(rt, principal, vault_ident, instance_id)
    if not instance.get("revoked_at"):
        try:
            instance = rt.catalog.instances.replace({**instance, "revoked_at": rt.clock().isoformat()}, instance["_etag"])
        except PreconditionFailed as exc:
            raise PreconditionFailed("the instance changed concurrently; retry") from exc
    reservation = rt.catalog.instances.find(instance["vault_id"], _reservation_id(instance["name"]))
    if reservation is not None and reservation.get("instance_id") == instance["id"]:
        rt.catalog.instances.delete(instance["vault_id"], reservation["id"], reservation["_etag"])
    return public_view(instance)


def rotate_token(rt, principal: Principal, vault_ident: str, instance_id: str) -> dict:
    """A new instance token, returned once; the old one stops working at once."""
    instance = _administered(rt, principal, vault_ident, instance_id)
    if instance.get("revoked_at"):
        raise Conflict("the instance is revoked; register the machine again")
    token = credentials.new_credential("instance", instance["vault_id"], instance["id"])
    updated = {**instance, "token_sha256": credentials.digest(token), "token_rotated_at": rt.clock().isoformat()}
    try:
        updated = rt.catalog.instances.replace(updated, instance["_etag"])
    except PreconditionFailed as exc:
        raise PreconditionFailed("the instance changed concurrently; retry") from exc
    vault = rt.catalog.vaults.get(instance["vault_id"], instance["vault_id"])
    return {**public_view(updated), "vault_name": vault["name"], "token": token}


def instance_names(rt, vault_id: str) -> dict[str, str]:
    return {i["id"]: i["name"] for i in rt.catalog.instances.query(vault_id, "c.type = 'instance'")}
