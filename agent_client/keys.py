"""Wraps the vault's random master keys under a passphrase-derived key, and unwraps them."""

from __future__ import annotations

import base64
import json
import os
import unicodedata
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from agent_client.errors import IntegrityError, UsageError, WrongPassphraseError
from shared.formats import bounded_json
from shared.formats.blob_names import key_name

MIN_PASSPHRASE_LENGTH = 16
KEY_BLOB_VERSION = 1
# scrypt at N=2^16, r=8, p=2: one of OWASP's equivalent minimum settings (like N=2^17, p=1) with
# the same work but half the memory (64 MiB), which sets the floor of every command's peak RSS.
# Readers accept at most twice that memory (128 * N * r bytes) and twice that work (N * r * p),
# so a hostile key blob can cost an unlock at most about a second and 128 MiB, not gigabytes.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 16, 8, 2
MAX_SCRYPT_MEMORY = 2 * 128 * SCRYPT_N * SCRYPT_R
MAX_SCRYPT_WORK = 2 * SCRYPT_N * SCRYPT_R * SCRYPT_P
_AAD_PREFIX = b"backup-agent key-blob v1 "
_PROOF_INFO = b"backup-agent vault-key proof v1"
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
        if not acceptable_scrypt(n, r, p):
            raise ValueError("key derivation parameters out of range")
        salt, nonce, wrapped = _unb64(kdf["salt"]), _unb64(document["nonce"]), _unb64(document["wrapped"])
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"the key blob {key_name(key_id)} is damaged or of an unknown version") from exc
    kek = _derive(passphrase, salt, n, r, p)
    try:
        plaintext = AESGCM(kek).decrypt(nonce, wrapped, _AAD_PREFIX + key_id.encode())
    except InvalidTag:
        raise WrongPassphraseError() from None
    if len(plaintext) != 2 * _MASTER_KEY_SIZE:
        raise IntegrityError(f"the key blob {key_name(key_id)} holds keys of the wrong size")
    return MasterKeys(plaintext[:_MASTER_KEY_SIZE], plaintext[_MASTER_KEY_SIZE:])


def acceptable_scrypt(n: int, r: int, p: int) -> bool:
    """Whether a key blob's scrypt parameters are sound and cost at most the bounds above."""
    return (n >= 1 << 14 and n & (n - 1) == 0 and r >= 1 and p >= 1
            and 128 * n * r <= MAX_SCRYPT_MEMORY and n * r * p <= MAX_SCRYPT_WORK)


def key_proof(master_keys: MasterKeys) -> str:
    """A value only a holder of the master keys can compute, which reveals nothing of them (hex).

    A machine shows it when it records a new key blob: the vault stores its SHA-256, so a
    machine that holds only its token cannot make the vault use a key of its own.
    """
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PROOF_INFO).derive(
        master_keys.data_key + master_keys.chunk_id_key).hex()


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # NFC so the same passphrase typed on different systems derives the same key.
    secret = unicodedata.normalize("NFC", passphrase).encode()
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(secret)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)
