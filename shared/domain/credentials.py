"""Formats, generates, parses and checks bearer credentials (operator, vault admin, registration, instance)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Literal

CredentialKind = Literal["operator", "vault_admin", "registration", "instance"]

_ID = r"[0-9a-f]{32}"
_SECRET = r"[A-Za-z0-9_-]{43}"
_PATTERNS: dict[CredentialKind, re.Pattern[str]] = {
    "operator": re.compile(rf"^bko_(?P<secret>{_SECRET})$"),
    "vault_admin": re.compile(rf"^bkv_(?P<vault_id>{_ID})_(?P<secret>{_SECRET})$"),
    "registration": re.compile(rf"^bkr_(?P<vault_id>{_ID})_(?P<secret>{_SECRET})$"),
    "instance": re.compile(rf"^bki_(?P<vault_id>{_ID})_(?P<instance_id>{_ID})_(?P<secret>{_SECRET})$"),
}
_PREFIX: dict[CredentialKind, str] = {
    "operator": "bko", "vault_admin": "bkv", "registration": "bkr", "instance": "bki",
}


@dataclass(frozen=True)
class ParsedCredential:
    kind: CredentialKind
    vault_id: str | None
    instance_id: str | None
    token: str


def new_id() -> str:
    return secrets.token_hex(16)


def new_credential(kind: CredentialKind, vault_id: str | None = None, instance_id: str | None = None) -> str:
    parts = [_PREFIX[kind]] + [p for p in (vault_id, instance_id) if p] + [secrets.token_urlsafe(32)]
    return "_".join(parts)


def digest(token: str) -> str:
    """The hex SHA-256 the service stores instead of the secret."""
    return hashlib.sha256(token.encode()).hexdigest()


def matches(token: str, stored_digest: str | None) -> bool:
    """Constant-time comparison of a presented token with a stored digest."""
    if not stored_digest:
        return False
    return hmac.compare_digest(digest(token).encode(), stored_digest.encode())


def parse(token: str) -> ParsedCredential | None:
    for kind, pattern in _PATTERNS.items():
        found = pattern.match(token)
        if found:
            groups = found.groupdict()
            return ParsedCredential(kind, groups.get("vault_id"), groups.get("instance_id"), token)
    return None
