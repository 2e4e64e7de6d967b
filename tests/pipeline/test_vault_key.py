"""Recording a new vault key is a compare-and-set that deletes the old wrapped key."""

import pytest

from shared.errors import BadRequest, Conflict
from shared.services import sessions


def _key(vault, key_id: str) -> None:
    vault.rt.primary_blobs.put_blob(vault.container, f"keys/{key_id}", b"wrapped")


def test_passphrase_change_deletes_the_old_key_blob(vault):
    old, new = "a" * 32, "b" * 32
    _key(vault, old)
    sessions.set_vault_key(vault.rt, vault.machine, sessions.VaultKeyRequest(key_id=old))
    _key(vault, new)
    sessions.set_vault_key(vault.rt, vault.machine, sessions.VaultKeyRequest(key_id=new, previous_key_id=old))
    assert vault.vault["key_id"] == new
    assert vault.rt.primary_blobs.blob_size(vault.container, f"keys/{old}") is None
    assert vault.rt.primary_blobs.blob_size(vault.container, f"keys/{new}") is not None


def test_a_stale_previous_key_loses_the_race(vault):
    first, second = "c" * 32, "d" * 32
    _key(vault, first)
    _key(vault, second)
    sessions.set_vault_key(vault.rt, vault.machine, sessions.VaultKeyRequest(key_id=first))
    with pytest.raises(Conflict):
        sessions.set_vault_key(vault.rt, vault.machine, sessions.VaultKeyRequest(key_id=second))
    assert vault.vault["key_id"] == first


def test_a_key_that_was_never_uploaded_is_refused(vault):
    with pytest.raises(BadRequest):
        sessions.set_vault_key(vault.rt, vault.machine, sessions.VaultKeyRequest(key_id="e" * 32))
    assert vault.vault["key_id"] is None
