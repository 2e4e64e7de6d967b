"""A chunk held by several packs: restore and verify fall back to a good copy before calling a file damaged."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from agent_client.backup_run import BackupRequest, run_backup
from agent_client.chunk_index import ChunkIndex
from agent_client.errors import IntegrityError
from agent_client.pack_builder import PackBuilder
from agent_client.ports import BlobListing
from agent_client.restore_run import run_restore
from agent_client.verify_run import run_verify
from shared.formats import blob_names
from shared.formats.pack_index import ChunkKind, PackEntry, parse_trailer

from .test_restore_batch_descriptors import Vault, file_entry, leftovers


def _copy_pack(vault: Vault, pack_name: str) -> str:
    """A second pack holding the same sealed chunks as `pack_name` (a re-upload), added to the index after it."""
    copy = _copy_into_vault(vault.blobs, pack_name)
    data = vault.blobs.blobs[copy]
    vault.index.add_pack(BlobListing(copy, len(data)), parse_trailer(data, len(data)))
    return copy


def test_a_damaged_first_copy_is_restored_from_the_good_second_copy(tmp_path):
    vault = Vault(tmp_path)
    content = os.urandom(50_000)
    first, (chunk_id,) = vault.add_pack([content])
    second = _copy_pack(vault, first)
    assert vault.index.locate(chunk_id).pack_name == first
    vault.blobs.flip_byte(first, 100)
    batch = vault.batch()
    batch.add(file_entry("restored.bin", [(chunk_id, len(content))]), str(tmp_path / "restored.bin").encode())
    batch.run()
    (job,) = vault.finished
    assert job.damage is None and job.error is None
    assert (tmp_path / "restored.bin").read_bytes() == content
    assert list(batch.damaged_packs) == [first], "the damaged copy's pack is still reported"
    assert second not in batch.damaged_packs


def test_a_chunk_damaged_in_every_pack_names_each_pack_and_writes_nothing(tmp_path):
    vault = Vault(tmp_path)
    content = os.urandom(50_000)
    first, (chunk_id,) = vault.add_pack([content])
    second = _copy_pack(vault, first)
    for copy in [vault.index.locate(chunk_id), *vault.index.other_copies(chunk_id)]:
        vault.blobs.flip_byte(copy.pack_name, copy.offset + 100)
    batch = vault.batch()
    batch.add(file_entry("restored.bin", [(chunk_id, len(content))]), str(tmp_path / "restored.bin").encode())
    batch.run()
    (job,) = vault.finished
    assert job.damage is not None and first in job.damage and second in job.damage
    assert not (tmp_path / "restored.bin").exists() and leftovers(tmp_path) == []
    assert set(batch.damaged_packs) == {first, second}


def test_the_index_keeps_every_copy_but_costs_nothing_extra_for_single_copies():
    index = ChunkIndex()
    ids = [os.urandom(32) for _ in range(3)]
    index.add_pack(BlobListing("packs/a", 300), [PackEntry(chunk_id, ChunkKind.DATA, n * 100, 100)
                                                 for n, chunk_id in enumerate(ids)])
    index.add_pack(BlobListing("packs/b", 100), [PackEntry(ids[1], ChunkKind.DATA, 0, 100)])
    assert index.locate(ids[1]).pack_name == "packs/a"
    assert [copy.pack_name for copy in index.other_copies(ids[1])] == ["packs/b"]
    assert index.other_copies(ids[0]) == [] and len(index._other_copies) == 1


def test_restore_and_verify_of_a_recovery_point_fall_back_to_a_re_uploaded_copy(make_context, fake_service, tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    contents = {f"file{n}.bin": os.urandom(200_000) for n in range(3)}
    for name, content in contents.items():
        (source / name).write_bytes(content)
    context = make_context()
    recovery_point_id = run_backup(context, BackupRequest(sources=[str(source)])).recovery_point_id
    blobs = fake_service.vault_blobs.blobs
    original = next(name for name in sorted(blobs) if name.startswith("packs/")
                    and any(e.kind == ChunkKind.DATA for e in parse_trailer(blobs[name], len(blobs[name]))))
    copy = _copy_into_vault(fake_service.vault_blobs, original)
    point = fake_service.recovery_points[recovery_point_id]
    manifest = json.loads(blobs[point["commit_blob"]])
    manifest["packs"] = sorted(manifest["packs"] + [{"name": copy, "size": len(blobs[copy]),
                                                     "chunks": len(parse_trailer(blobs[copy], len(blobs[copy])))}],
                               key=lambda pack: pack["name"])
    # As if the point had been committed naming both copies: a manifest of its own digest.
    rewritten = json.dumps(manifest).encode()
    point["commit_blob"] = blob_names.commit_name(recovery_point_id, hashlib.sha256(rewritten).hexdigest())
    blobs[point["commit_blob"]] = rewritten
    damaged = min(original, copy)  # the index reads packs in manifest order: the first copy is this one's
    entry = next(e for e in parse_trailer(blobs[damaged], len(blobs[damaged])) if e.kind == ChunkKind.DATA)
    fake_service.vault_blobs.flip_byte(damaged, entry.offset + entry.length // 2)

    target = tmp_path / "target"
    with pytest.raises(IntegrityError, match=f"every restored file is intact, but pack {damaged}"):
        run_restore(context, recovery_point_id, str(target), [])
    restored = target / str(source).lstrip("/")
    for name, content in contents.items():
        assert (restored / name).read_bytes() == content
    report = run_verify(context, recovery_point_id)
    assert report.damaged_paths == [] and list(report.damaged_packs) == [damaged]


def _copy_into_vault(vault_blobs, pack_name: str) -> str:
    """Uploads a pack with the same sealed chunks as `pack_name`, the first twice (so its name differs)."""
    data = vault_blobs.blobs[pack_name]
    entries = parse_trailer(data, len(data))
    builder = PackBuilder()
    for entry in [*entries, entries[0]]:
        builder.add(entry.chunk_id, entry.kind, data[entry.offset : entry.offset + entry.length])
    pack = builder.take().finish()
    vault_blobs.put_new(pack.name, pack.pack_bytes)
    return pack.name
