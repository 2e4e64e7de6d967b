"""The catalog turns commits into recovery points idempotently and rejects bad ones without a trace."""

import random
import secrets

import pytest

from shared.errors import CommitRejected
from shared.services import pack_refs
from shared.services.catalog import catalog_commit


def _rp(vault, rp_id):
    return vault.rt.catalog.recovery_points.get(vault.vault_id, rp_id)


def _catalog_state(vault):
    """Everything the catalog wrote for the vault, without volatile system fields."""
    strip = lambda d: {k: v for k, v in d.items() if not k.startswith("_")}  # noqa: E731
    rps = sorted((strip(d) for d in vault.rt.catalog.recovery_points.query(vault.vault_id)), key=lambda d: d["id"])
    packs = sorted((strip(d) for d in vault.rt.catalog.packs.query(vault.vault_id)), key=lambda d: d["id"])
    return rps, packs


def test_commit_becomes_a_recovery_point_with_pack_references(vault):
    packs = [vault.upload_pack(), vault.upload_pack(chunks=5)]
    message = vault.backup(packs)
    assert catalog_commit(vault.rt, message) == "committed"
    rp = _rp(vault, message.recovery_point_id)
    assert rp["state"] == "committed" and rp["created"] is not None
    for pack in packs:
        name = pack["name"].removeprefix("packs/")
        assert pack_refs.ref_count(vault.rt, vault.vault_id, name) == 1
        assert vault.rt.catalog.packs.get(vault.vault_id, name)["state"] == "live"
    assert pack_refs.packs_of(vault.rt, vault.vault_id, message.recovery_point_id) == sorted(
        p["name"].removeprefix("packs/") for p in packs
    )


@pytest.mark.parametrize("deliveries", [2, 5])
def test_duplicate_and_shuffled_deliveries_change_nothing(vault, clock, deliveries):
    shared_pack = vault.upload_pack()
    messages = [vault.backup([shared_pack, vault.upload_pack()]) for _ in range(3)]
    for message in messages:
        catalog_commit(vault.rt, message)
    once = _catalog_state(vault)
    replays = [m for m in messages for _ in range(deliveries)]
    random.Random(deliveries).shuffle(replays)
    for message in replays:
        clock.advance(minutes=1)  # a replay must not restamp anything
        catalog_commit(vault.rt, message)
    assert _catalog_state(vault) == once
    assert pack_refs.ref_count(vault.rt, vault.vault_id, shared_pack["name"].removeprefix("packs/")) == 3


def test_missing_pack_is_rejected_then_replay_after_fix_catalogs_it(vault):
    present, late = vault.upload_pack(), vault.upload_pack()
    late_data = vault.rt.primary_blobs.read(vault.container, late["name"])
    vault.rt.primary_blobs.delete_blob(vault.container, late["name"])
    message = vault.backup([present, late])
    _, packs_before = _catalog_state(vault)
    with pytest.raises(CommitRejected, match="missing"):
        catalog_commit(vault.rt, message)
    rp = _rp(vault, message.recovery_point_id)
    assert rp["state"] == "rejected" and late["name"] in rp["rejected_reason"]
    assert _catalog_state(vault)[1] == packs_before  # no reference, no pack document left behind
    # The cause is fixed (here: the pack arrives), and the replay catalogs it.
    vault.rt.primary_blobs.put_blob(vault.container, late["name"], late_data)
    assert catalog_commit(vault.rt, message) == "committed"
    assert _rp(vault, message.recovery_point_id)["rejected_reason"] is None


@pytest.mark.parametrize("tamper, reason", [
    ("chunk_count", "holds 3 chunks"),
    ("size", "not 1"),
    ("no_manifest", "does not exist"),
    ("other_instance", "does not belong"),
    ("planted_manifest", "does not match the digest"),
    ("planted_snapshot", "does not match the digest its manifest names"),
    ("legacy_name", "names no manifest digest"),
    ("page_blob_pack", "not a block blob"),
])
def test_bad_commits_are_rejected_with_a_reason(vault, tamper, reason):
    pack = vault.upload_pack(chunks=3)
    if tamper == "chunk_count":
        pack = {**pack, "chunks": 4}
    if tamper == "size":
        pack = {**pack, "size": 1}
    if tamper == "page_blob_pack":
        pack = _as_page_blob(vault, pack)
    message = vault.backup([pack], upload_manifest=tamper not in ("no_manifest", "planted_manifest"))
    if tamper == "other_instance":
        message = message.model_copy(update={"instance_id": "f" * 32})
    if tamper == "planted_manifest":  # a vault-mate got its own manifest under the name first
        forged = vault.backup([vault.upload_pack()])
        raw = vault.rt.primary_blobs.read(vault.container, forged.commit_blob)
        vault.rt.primary_blobs.put_blob(vault.container, message.commit_blob, raw.replace(
            forged.recovery_point_id.encode(), message.recovery_point_id.encode()))
    if tamper == "planted_snapshot":
        vault.rt.primary_blobs.put_blob(vault.container, f"snapshots/{message.recovery_point_id}",
                                        secrets.token_bytes(64), overwrite=True)
    if tamper == "legacy_name":
        raw = vault.rt.primary_blobs.read(vault.container, message.commit_blob)
        message = message.model_copy(update={"commit_blob": f"commits/{message.recovery_point_id}"})
        vault.rt.primary_blobs.put_blob(vault.container, message.commit_blob, raw)
    _, packs_before = _catalog_state(vault)
    with pytest.raises(CommitRejected, match=reason):
        catalog_commit(vault.rt, message)
    assert _catalog_state(vault)[1] == packs_before  # no reference, no pack document: nothing stored or billed


def _as_page_blob(vault, pack: dict) -> dict:
    """The same pack bytes stored as a page blob (padded to 512 bytes): no client writes one."""
    from azure.storage.blob import BlobClient

    data = vault.rt.primary_blobs.read(vault.container, pack["name"])
    vault.rt.primary_blobs.delete_blob(vault.container, pack["name"])
    padded = data + bytes(-len(data) % 512)
    client = BlobClient.from_connection_string(vault.rt.settings.primary_storage.connection_string,
                                               vault.container, pack["name"])
    client.upload_blob(padded, blob_type="PageBlob")
    return {**pack, "size": len(padded)}


def test_a_commit_cannot_reference_another_vaults_session(runtime, vault):
    from tests.pipeline.conftest import VaultFixture

    other = VaultFixture(runtime)
    message = vault.backup([vault.upload_pack()])
    forged = message.model_copy(update={"vault_id": other.vault_id, "instance_id": other.instance_id})
    with pytest.raises(CommitRejected):
        catalog_commit(runtime, forged)
    assert runtime.catalog.recovery_points.find(other.vault_id, message.recovery_point_id)["state"] == "rejected"


def test_a_pack_index_is_read_again_whenever_the_blob_or_the_declared_count_changed(vault):
    """A reused pack's index is trusted only for the blob it was read from (same ETag, same count)."""
    pack = vault.upload_pack(chunks=3)
    name = pack["name"].removeprefix("packs/")
    assert catalog_commit(vault.rt, vault.backup([pack])) == "committed"
    recorded = vault.rt.catalog.packs.get(vault.vault_id, name)["checked"]
    assert recorded == {"etag": vault.rt.primary_blobs.blob_properties(vault.container, pack["name"]).etag, "chunks": 3}

    with pytest.raises(CommitRejected, match="holds 3 chunks, the commit declares 4"):
        catalog_commit(vault.rt, vault.backup([{**pack, "chunks": 4}]))

    # Rewritten behind the service with the same bytes: a new ETag, read again, still valid.
    data = vault.rt.primary_blobs.read(vault.container, pack["name"])
    vault.rt.primary_blobs.put_blob(vault.container, pack["name"], data, overwrite=True)
    assert catalog_commit(vault.rt, vault.backup([pack])) == "committed"
    renewed = vault.rt.catalog.packs.get(vault.vault_id, name)["checked"]
    assert renewed["etag"] != recorded["etag"] and renewed["chunks"] == 3

    # Rewritten with garbage of the same size: the recorded check no longer applies.
    vault.rt.primary_blobs.put_blob(vault.container, pack["name"], bytes(len(data)), overwrite=True)
    with pytest.raises(CommitRejected, match="unreadable index"):
        catalog_commit(vault.rt, vault.backup([pack]))


def test_a_pack_document_holds_the_blobs_size_and_a_wrong_one_is_corrected(vault):
    """Stored bytes are billed, and replication checks sizes, from the pack document: it takes the
    size from the blob, never from the client's declaration alone."""
    pack = vault.upload_pack()
    name = pack["name"].removeprefix("packs/")
    assert catalog_commit(vault.rt, vault.backup([pack])) == "committed"
    doc = vault.rt.catalog.packs.get(vault.vault_id, name)
    assert doc["size"] == pack["size"]
    # A document written wrong (by an older catalog) is put right by the next commit that checks the blob.
    vault.rt.catalog.packs.replace({**doc, "size": pack["size"] + 7, "checked": None}, doc["_etag"])
    assert catalog_commit(vault.rt, vault.backup([pack])) == "committed"
    assert vault.rt.catalog.packs.get(vault.vault_id, name)["size"] == pack["size"]


def test_a_rejected_commit_removes_only_the_pack_documents_nobody_else_references(vault, monkeypatch):
    """The rejected commit created both pack documents; another commit references one of them just
    as the rejection found it unreferenced. That one stays, with its reference; the other goes."""
    shared, other = vault.upload_pack(), vault.upload_pack()
    shared_id, other_id = (p["name"].removeprefix("packs/") for p in (shared, other))
    rejected = vault.backup([shared, {**other, "chunks": other["chunks"] + 1}])
    concurrent = vault.backup([shared])
    packs = vault.rt.catalog.packs
    live_delete = packs.delete
    raced = []

    def delete(vault_id, doc_id, *args, **kwargs):
        if doc_id == shared_id and not raced:
            raced.append(catalog_commit(vault.rt, concurrent))
        return live_delete(vault_id, doc_id, *args, **kwargs)

    monkeypatch.setattr(packs, "delete", delete)
    with pytest.raises(CommitRejected, match="holds 3 chunks"):
        catalog_commit(vault.rt, rejected)
    monkeypatch.undo()
    assert raced == ["committed"]
    assert pack_refs.ref_count(vault.rt, vault.vault_id, shared_id) == 1
    assert vault.rt.catalog.packs.get(vault.vault_id, shared_id)["state"] == "live"
    assert vault.rt.catalog.packs.find(vault.vault_id, other_id) is None
