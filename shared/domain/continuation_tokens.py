"""Wraps a Cosmos continuation token in an envelope that only the listing which returned it accepts.

A listing hands out `<check>.<token>`: the Cosmos token in url-safe base64 after a check, the
first 128 bits of SHA-256 over the listing's scope (route, vault, filters) and the token. The
local Cosmos server answers a junk token with the first page, and any server would continue
another listing's token in this one, so the service refuses every token that is not, byte for
byte, one this listing sealed, before Cosmos sees it. The check is not a secret MAC: a client
that crafts an envelope on purpose reaches Cosmos, which still queries only the caller's vault
partition and refuses a malformed token (the adapter answers that 400 too).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json

from shared.errors import BadRequest

# The bound of the `continuation` query parameter. A Cosmos token of up to 2 KiB (the adapter
# asks Cosmos for no more) seals to at most 2,754 characters.
MAX_LENGTH = 4096
_REFUSED = "the continuation token is not one this listing returned"


def listing_scope(route: str, vault_id: str, **filters: str | None) -> str:
    """What a token is bound to: the route, the vault partition and every filter of the listing."""
    return json.dumps({"route": route, "vault": vault_id, "filters": filters}, sort_keys=True)


def seal(cosmos_token: str | None, scope: str) -> str | None:
    """The token the service returns for `cosmos_token` (None, the last page, stays None)."""
    if cosmos_token is None:
        return None
    return f"{_check(cosmos_token, scope)}.{_b64(cosmos_token.encode())}"


def open_token(sealed: str | None, scope: str) -> str | None:
    """The Cosmos token inside `sealed`; raises BadRequest unless this listing sealed it."""
    if sealed is None:
        return None
    _, _, payload = sealed.partition(".")
    try:
        cosmos_token = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode("ascii")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        raise BadRequest(_REFUSED) from None
    # Compared whole and re-encoded, so that no edit passes, not even one base64 ignores.
    if not hmac.compare_digest(seal(cosmos_token, scope).encode(), sealed.encode()):
        raise BadRequest(_REFUSED)
    return cosmos_token


def _check(cosmos_token: str, scope: str) -> str:
    return _b64(hashlib.sha256(f"{scope}\n{cosmos_token}".encode()).digest()[:16])


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
