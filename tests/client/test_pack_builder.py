"""Tests of pack building: content-addressed names, readable trailers, target-size flushing, one pack for a small backup."""

from __future__ import annotations

import hashlib
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from agent_client.backup_run import BackupRequest, run_backup
from agent_client.pack_builder import PackBuilder
from shared.formats.pack_index import ChunkKind, parse_trailer


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.binary(min_size=32, max_size=32), st.sampled_from(list(ChunkKind)),
                          st.binary(min_size=29, max_size=300)), max_size=20))
def test_finished_pack_is_named_by_its_hash_and_indexes_every_blob(blobs):
    builder = PackBuilder(1 << 20)
    for chunk_id, kind, sealed in blobs:
        builder.add(chunk_id, kind, sealed)
    pack = builder.take().finish()
    assert pack.name == "packs/" + hashlib.sha256(pack.pack_bytes).hexdigest()
    entries = parse_trailer(pack.pack_bytes, len(pack.pack_bytes))
    assert [(e.chunk_id, e.kind, pack.pack_bytes[e.offset : e.offset + e.length]) for e in entries] == blobs
    assert len(builder) == 0 and builder.size == 0


def test_builder_reports_full_at_its_target_size():
    builder = PackBuilder(1000)
    builder.add(os.urandom(32), ChunkKind.DATA, os.urandom(600))
    assert not builder.is_full
    builder.add(os.urandom(32), ChunkKind.DATA, os.urandom(600))
    assert builder.is_full


def test_a_small_backup_writes_exactly_one_pack(make_context, fake_service, tmp_path):
    """A few small files and the tree share one pack: one Put Blob for the data, not one per file."""
    source = tmp_path / "source"
    source.mkdir()
    for index in range(5):
        (source / f"note{index}.txt").write_bytes(os.urandom(20_000))
    report = run_backup(make_context(pack_size=16 << 20), BackupRequest(sources=[str(source)]))
    packs = [name for name in fake_service.vault_blobs.blobs if name.startswith("packs/")]
    assert len(packs) == 1 and report.packs_uploaded == 1
    assert len(parse_trailer(fake_service.vault_blobs.blobs[packs[0]], len(fake_service.vault_blobs.blobs[packs[0]]))) \
        == report.chunks_stored >= 6  # five files and at least one tree chunk
