"""Opens the vault's master keys for a session, creating them on first use, and re-wraps them."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from agent_client.errors import (
    BackupError,
    BlobNotFoundError,
    IntegrityError,
    ServiceError,
    UsageError,
    WrongPassphraseError,
)
from agent_client.keys import MasterKeys, key_proof, new_key_id, unwrap_master_keys, wrap_master_keys
from agent_client.passphrases import Passphrases
from agent_client.ports import BackupSession, ServiceApi, VaultBlobs
from shared.formats.blob_names import key_name

BlobsFactory = Callable[[str, str], VaultBlobs]
Keys = TypeVar("Keys")
Work = TypeVar("Work")


@dataclass(frozen=True)
class OpenedKeys:
    """The unwrapped master keys, the id of the key blob they came from, and the session used."""

    master_keys: MasterKeys
    key_id: str
    session: BackupSession
    vault_blobs: VaultBlobs


def read_master_keys(vault_blobs: VaultBlobs, key_id: str, passphrases: Passphrases) -> MasterKeys:
    try:
        key_blob = vault_blobs.get(key_name(key_id))
    except BlobNotFoundError:
        raise IntegrityError(f"the vault's key blob {key_name(key_id)} is missing") from None
    return unwrap_master_keys(key_blob, passphrases.current(), key_id)


def read_first_master_keys(vault_blobs: VaultBlobs, key_ids: list[str], passphrases: Passphrases) -> MasterKeys:
    """The master keys from the first of `key_ids` that the passphrase opens.

    A restore tries the vault's current key, then the key its point was made under: the service
    keeps a retired key while points name it, so a point stays readable with the passphrase it
    was made under even if a hostile machine made the current key useless. Raises the first
    key's error if none opens.
    """
    failures: list[BackupError] = []
    for key_id in key_ids:
        try:
            return read_master_keys(vault_blobs, key_id, passphrases)
        except (IntegrityError, WrongPassphraseError) as exc:
            failures.append(exc)
    raise failures[0]


def unwrap_beside(passphrases: Passphrases, unwrap: Callable[[], Keys], work: Callable[[], Work]) -> tuple[Keys, Work]:
    """Runs `unwrap` (scrypt: ~0.4 s of CPU, GIL released) on its own thread while `work` runs here.

    Any passphrase prompt happens first, on this thread. `work` must not need the keys.
    """
    passphrases.current()
    with ThreadPoolExecutor(1, thread_name_prefix="keys") as keys_thread:
        keys = keys_thread.submit(unwrap)
        try:
            done = work()
        finally:
            unwrapped = keys.result()
    return unwrapped, done


def open_backup_keys(api: ServiceApi, session: BackupSession, make_blobs: BlobsFactory,
                     passphrases: Passphrases) -> OpenedKeys:
    """Unwraps the vault key named by the session, or creates the vault's first key.

    Two machines may create a first key at once; the service accepts one (409 for the other),
    and the loser re-opens its session and uses the winner's key.
    """
    vault_blobs = make_blobs(session.container_url, session.sas)
    if session.key_id is None:
        master_keys, key_id = MasterKeys.generate(), new_key_id()
        vault_blobs.put_new(key_name(key_id), wrap_master_keys(master_keys, passphrases.first(), key_id))
        try:
            api.set_vault_key(key_id, None, key_proof(master_keys))
            return OpenedKeys(master_keys, key_id, session, vault_blobs)
        except ServiceError as exc:
            if exc.status != 409:
                raise
        session = api.open_backup_session()
        vault_blobs = make_blobs(session.container_url, session.sas)
        if session.key_id is None:
            raise ServiceError("the service refused the vault key but names no other one")
    master_keys = read_master_keys(vault_blobs, session.key_id, passphrases)
    return OpenedKeys(master_keys, session.key_id, session, vault_blobs)


def change_passphrase(api: ServiceApi, make_blobs: BlobsFactory, passphrases: Passphrases) -> str:
    """Re-wraps the same master keys under a new passphrase; returns the new key id. No data moves."""
    session = api.open_backup_session()
    if session.key_id is None:
        raise UsageError("the vault has no key yet: the first backup creates it")
    vault_blobs = make_blobs(session.container_url, session.sas)
    master_keys = read_master_keys(vault_blobs, session.key_id, passphrases)
    new_passphrase = passphrases.replacement()
    key_id = new_key_id()
    vault_blobs.put_new(key_name(key_id), wrap_master_keys(master_keys, new_passphrase, key_id))
    try:
        api.set_vault_key(key_id, session.key_id, key_proof(master_keys))
    except ServiceError as exc:
        if exc.status == 409:
            raise ServiceError("the vault key changed while the passphrase was being changed; run it again", 409) from None
        raise
    return key_id
