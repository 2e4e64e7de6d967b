"""Resolves a bearer credential to the principal it names, checking its secret in constant time."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from shared.domain import credentials
from shared.errors import Forbidden, NotFound, Unauthorized

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    kind: credentials.CredentialKind
    vault_id: str | None = None
    instance_id: str | None = None

    @property
    def is_operator(self) -> bool:
        return self.kind == "operator"

    def require(self, *kinds: credentials.CredentialKind) -> None:
        if self.kind not in kinds:
            raise Forbidden("this credential may not perform this operation")

    def require_vault(self, vault_id: str) -> None:
        """Another tenant's vault answers exactly like a vault that does not exist."""
        if not self.is_operator and self.vault_id != vault_id:
            raise NotFound("vault not found")


def authenticate(rt, authorization: str | None) -> Principal:
    if not authorization or not authorization.startswith("Bearer "):
        raise Unauthorized("missing bearer credential")
    parsed = credentials.parse(authorization[len("Bearer "):].strip())
    if parsed is None:
        raise Unauthorized("invalid credential")
    if parsed.kind == "operator":
        if credentials.matches(parsed.token, rt.settings.operator_key_sha256):
            return Principal("operator")
        raise Unauthorized("invalid credential")
    if parsed.kind == "instance":
        instance = rt.catalog.instances.find(parsed.vault_id, parsed.instance_id)
        if instance and instance.get("type") == "instance" and credentials.matches(
            parsed.token, instance.get("token_sha256")
        ):
            if instance.get("revoked_at"):
                raise Unauthorized("this machine was revoked from the vault; register it again to back up")
            return Principal("instance", parsed.vault_id, parsed.instance_id)
        raise Unauthorized("invalid credential")
    vault = rt.catalog.vaults.find(parsed.vault_id, parsed.vault_id)
    field = "admin_key_sha256" if parsed.kind == "vault_admin" else "registration_key_sha256"
    if vault and credentials.matches(parsed.token, vault.get(field)):
        return Principal(parsed.kind, parsed.vault_id)
    raise Unauthorized("invalid credential")
