"""Recording a new vault key: a compare-and-set that needs the key proof and never deletes a key data needs."""

import hashlib
import secrets

import pytest

from shared.domain.messages import ReplicationMessage, decode
from shared.errors import BadRequest, Conflict, Forbidden
from shared.services import vault_keys
from shared.services.catalog import catalog_commit
from shared.services.garbage_collection import collect_garbage

PROOF = secrets.token_hex(32)


def _key(vault, key_id: str, data: bytes = b"wrapped") -> None:
    vault.rt.primary_blobs.put_blob(vault.container, f"keys/{key_id}", data)


def _set(vault, key_id: str, previous: str | None = None, proof: str = PROOF) -> dict:
    request = vault_keys.VaultKeyRequest(key_id=key_id, previous_key_id=previous, key_proof=proof)
    return vault_keys.set_vault_key(vault.rt, vault.machine, request)


def _maintain(vault) -> None:
    """The maintenance run's steps that touch keys, for this vault only."""
    collect_garbage(vault.rt, vault.vault)
    vault_keys.collect_retired_keys(vault.rt, vault.vault)


def test_the_first_key_records_the_proof_and_a_change_retires_the_old_key_without_deleting_it(vault):
    old, new = "a" * 32, "b" * 32
    _key(vault, old)
    _set(vault, old)
    assert vault.vault["key_proof_sha256"] == hashlib.sha256(bytes.fromhex(PROOF)).hexdigest()
    _key(vault, new)
    _set(vault, new, previous=old)
    assert vault.vault["key_id"] == new
    assert [entry["key_id"] for entry in vault.vault["retired_keys"]] == [old]
    assert vault.rt.primary_blobs.blob_size(vault.container, f"keys/{old}") is not None


def test_a_machine_without_the_proof_cannot_replace_the_key(vault):
    """Finding 1: a machine holding only its token uploads any bytes as a key and names it current."""
    real, planted = "c" * 32, "d" * 32
    _key(vault, real)
    _set(vault, real)
    _key(vault, planted, b"garbage")
    with pytest.raises(Forbidden, match="key proof"):
        _set(vault, planted, previous=real, proof=secrets.token_hex(32))
    assert vault.vault["key_id"] == real and not vault.vault.get("retired_keys")
    assert vault.rt.primary_blobs.read(vault.container, f"keys/{real}") == b"wrapped"


def test_a_vault_keyed_before_proofs_records_the_proof_at_its_first_change(vault):
    legacy, new = "e" * 32, "f" * 32
    _key(vault, legacy)
    stored = vault.vault
    vault.rt.catalog.vaults.replace({**stored, "key_id": legacy}, stored["_etag"])
    _key(vault, new)
    _set(vault, new, previous=legacy)
    assert vault.vault["key_proof_sha256"] == hashlib.sha256(bytes.fromhex(PROOF)).hexdigest()


def test_a_stale_previous_key_loses_the_race(vault):
    first, second = "1" * 32, "2" * 32
    _key(vault, first)
    _key(vault, second)
    _set(vault, first)
    with pytest.raises(Conflict):
        _set(vault, second)
    assert vault.vault["key_id"] == first


def test_a_key_that_was_never_uploaded_or_is_not_a_block_blob_is_refused(vault):
    with pytest.raises(BadRequest, match="has not been uploaded"):
        _set(vault, "3" * 32)
    from azure.storage.blob import BlobClient

    page = BlobClient.from_connection_string(vault.rt.settings.primary_storage.connection_string, vault.container, "keys/" + "4" * 32)
    page.create_page_blob(512)
    with pytest.raises(BadRequest, match="not a block blob"):
        _set(vault, "4" * 32)
    assert vault.vault["key_id"] is None


def test_a_retired_key_lives_while_a_point_names_it_and_goes_in_both_regions_after(vault, clock):
    old, new = vault.key_id, "5" * 32
    _key(vault, old)
    _set(vault, old)
    point = vault.backup([vault.upload_pack()])
    assert catalog_commit(vault.rt, point) == "committed"
    _key(vault, new)
    _set(vault, new, previous=old)

    clock.advance(hours=vault.rt.settings.gc_grace_hours + 1)
    _maintain(vault)
    assert vault.rt.primary_blobs.blob_size(vault.container, f"keys/{old}") is not None, "a point needs it"

    rp = vault.rt.catalog.recovery_points.get(vault.vault_id, point.recovery_point_id)
    vault.rt.catalog.recovery_points.replace({**rp, "state": "purged"}, rp["_etag"])
    _maintain(vault)
    assert vault.rt.primary_blobs.blob_size(vault.container, f"keys/{old}") is None
    assert vault.rt.primary_blobs.blob_size(vault.container, f"keys/{new}") is not None
    assert not vault.vault["retired_keys"]
    sent = [decode(ReplicationMessage, m.body) for m in vault.rt.queues.browse(vault.rt.settings.replication_queue)]
    assert any(m.vault_id == vault.vault_id and m.op == "delete" and f"keys/{old}" in m.blobs for m in sent), \
        "the paired region's copy goes too"
