"""Wraps the vault's random master keys under a passphrase-derived key, and unwraps them."""

from __future__ import annotations

import base64
import json
import os
import unicodedata
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from agent_client.errors import IntegrityError, UsageError, WrongPassphraseError
from shared.formats import bounded_json

MIN_PASSPHRASE_LENGTH = 16
KEY_BLOB_VERSION = 1
# scrypt at N=2^16, r=8, p=2: one of OWASP's equivalent minimum settings (like N=2^17, p=1) with
# the same work but half the memory (64 MiB), which sets the floor of every command's peak RSS.
# Readers accept a bounded range so a hostile blob cannot demand gigabytes.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 16, 8, 2
_ACCEPTED_N = range(15, 21)
_AAD_PREFIX = b"backup-agent key-blob v1 "
_MASTER_KEY_SIZE = 32


@dataclass(frozen=True, repr=False)
class MasterKeys:
    """The two random keys of a vault: one encrypts, one makes chunk ids unguessable."""

    data_key: bytes
    chunk_id_key: bytes

    @classmethod
    def generate(cls) -> MasterKeys:
        return cls(os.urandom(_MASTER_KEY_SIZE), os.urandom(_MASTER_KEY_SIZE))


def new_key_id() -> str:
    return uuid.uuid4().hex


def key_blob_name(key_id: str) -> str:
    return f"keys/{key_id}"


def check_new_passphrase(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE_LENGTH:
        raise UsageError(f"the passphrase must have at least {MIN_PASSPHRASE_LENGTH} characters")


def wrap_master_keys(master_keys: MasterKeys, passphrase: str, key_id: str) -> bytes:
    """Returns the JSON key blob for `keys/<key_id>`."""
    check_new_passphrase(passphrase)
    salt, nonce = os.urandom(16), os.urandom(12)
    kek = _derive(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    plaintext = master_keys.data_key + master_keys.chunk_id_key
    wrapped = AESGCM(kek).encrypt(nonce, plaintext, _AAD_PREFIX + key_id.encode())
    document = {
        "version": KEY_BLOB_VERSION,
        "kdf": {"name": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "salt": _b64(salt)},
        "aead": "aes-256-gcm",
        "nonce": _b64(nonce),
        "wrapped": _b64(wrapped),
    }
    return json.dumps(document, indent=1).encode()


def unwrap_master_keys(key_blob: bytes, passphrase: str, key_id: str) -> MasterKeys:
    """Unwraps the blob of `keys/<key_id>`; raises WrongPassphraseError if it does not open."""
    if len(passphrase) < MIN_PASSPHRASE_LENGTH:
        raise WrongPassphraseError(
            f"wrong passphrase (a vault passphrase has at least {MIN_PASSPHRASE_LENGTH} characters)"
        )
    try:
        document = bounded_json.parse(key_blob)
        kdf = document["kdf"]
        if document["version"] != KEY_BLOB_VERSION or kdf["name"] != "scrypt" or document["aead"] != "aes-256-gcm":
            raise ValueError("unsupported key blob")
        n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
        if n.bit_length() - 1 not in _ACCEPTED_N or n & (n - 1) or not 1 <= r <= 16 or not 1 <= p <= 4:
            raise ValueError("key derivation parameters out of range")
        salt, nonce, wrapped = _unb64(kdf["salt"]), _unb64(document["nonce"]), _unb64(document["wrapped"])
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"the key blob {key_blob_name(key_id)} is damaged or of an unknown version") from exc
    kek = _derive(passphrase, salt, n, r, p)
    try:
        plaintext = AESGCM(kek).decrypt(nonce, wrapped, _AAD_PREFIX + key_id.encode())
    except InvalidTag:
        raise WrongPassphraseError() from None
    if len(plaintext) != 2 * _MASTER_KEY_SIZE:
        raise IntegrityError(f"the key blob {key_blob_name(key_id)} holds keys of the wrong size")
    return MasterKeys(plaintext[:_MASTER_KEY_SIZE], plaintext[_MASTER_KEY_SIZE:])


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # NFC so the same passphrase typed on different systems derives the same key.
    secret = unicodedata.normalize("NFC", passphrase).encode()
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(secret)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)
