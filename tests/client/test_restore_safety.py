"""A hostile or damaged tree can never make restore write outside the target."""

from __future__ import annotations

import os

import pytest

from agent_client.chunk_codec import ChunkCodec
from agent_client.commit_flow import utc_now, write_recovery_point
from agent_client.errors import IntegrityError
from agent_client.pack_builder import PackBuilder
from agent_client.ports import BlobListing
from agent_client.restore_run import run_restore
from agent_client.snapshot_doc import SnapshotDocument
from agent_client.tree_format import SEGMENT, EntryKind, TreeEntry, encode_entry
from agent_client.restore_target import UnsafePathError, check_tree_path
from shared.formats.commit_manifest import CommitSummary
from shared.formats.pack_index import ChunkKind


def plant_recovery_point(context, entries: list[TreeEntry], contents: dict[bytes, bytes]) -> str:
    """Writes a recovery point whose tree is exactly `entries` (in the given order), as a hostile client could."""
    opened = context.open_backup()
    codec, builder = ChunkCodec(opened.master_keys), PackBuilder()
    for entry in entries:
        if entry.kind == EntryKind.FILE:
            content = contents.get(entry.path, b"payload")
            chunk_id = codec.chunk_id(content)
            builder.add(chunk_id, ChunkKind.DATA, codec.seal(chunk_id, ChunkKind.DATA, content))
            entry.segments, entry.size = SEGMENT.pack(chunk_id, len(content)), len(content)
    stream = b"BKTREE01" + b"".join(encode_entry(entry) for entry in entries)
    tree_id = codec.chunk_id(stream)
    builder.add(tree_id, ChunkKind.TREE, codec.seal(tree_id, ChunkKind.TREE, stream))
    pack = builder.take().finish()
    opened.vault_blobs.put_new(pack.name, pack.pack_bytes)
    session = opened.session
    document = SnapshotDocument(session.recovery_point_id, context.config.instance_id, "evil", utc_now().isoformat(),
                                ["/"], [tree_id.hex()], len(entries), len(stream))
    summary = CommitSummary(files=1, dirs=0, bytes=0, files_new=1, files_changed=0, files_unchanged=0,
                            bytes_read=0, bytes_uploaded=0, partial=False)
    written = write_recovery_point(opened.vault_blobs, opened.master_keys, opened.key_id, session, document,
                                   [(BlobListing(pack.name, len(pack.pack_bytes)), len(pack.entries))], summary)
    context.api.commit(session.session_id, written.commit_blob)
    return session.recovery_point_id


def _file(path: bytes, **fields) -> TreeEntry:
    return TreeEntry(path, EntryKind.FILE, mode=0o644, mtime_ns=1, **fields)


@pytest.mark.parametrize("path", [b"../evil", b"/etc/evil", b"a/../../evil", b"a\0b", b"", b"a//b", b"./x"])
def test_escaping_paths_are_refused_by_the_path_check(path):
    with pytest.raises(UnsafePathError):
        check_tree_path(path)


@pytest.mark.parametrize("evil", [b"../evil", b"/tmp/evil-absolute", b"ok/../../evil"])
def test_restore_refuses_escaping_entries_and_restores_the_rest(make_context, tmp_path, evil):
    context = make_context()
    recovery_point_id = plant_recovery_point(context, [_file(evil), _file(b"zz-good")], {})
    target = tmp_path / "deep" / "target"
    with pytest.raises(IntegrityError, match="unsafe paths") as caught:
        run_restore(context, recovery_point_id, str(target), [])
    assert any(os.fsdecode(evil) in path for path in caught.value.damaged_paths)
    assert (target / "zz-good").read_bytes() == b"payload"
    assert not (tmp_path / "deep" / "evil").exists() and not os.path.exists("/tmp/evil-absolute")


def test_restore_never_writes_through_a_restored_symlink(make_context, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    context = make_context()
    link = TreeEntry(b"link", EntryKind.SYMLINK, mode=0o777, link_target=os.fsencode(outside))
    recovery_point_id = plant_recovery_point(context, [link, _file(b"link/pwned")], {})
    with pytest.raises(IntegrityError, match="unsafe"):
        run_restore(context, recovery_point_id, str(tmp_path / "target"), [])
    assert list(outside.iterdir()) == []
    assert os.readlink(tmp_path / "target" / "link") == str(outside)


def test_restore_never_writes_through_a_symlink_already_in_the_target(make_context, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    os.symlink(outside, target / "dir")
    context = make_context()
    recovery_point_id = plant_recovery_point(context, [TreeEntry(b"dir", EntryKind.DIR, mode=0o755), _file(b"dir/f")], {})
    with pytest.raises(IntegrityError, match="unsafe"):
        run_restore(context, recovery_point_id, str(target), [])
    assert list(outside.iterdir()) == []


def test_a_hard_link_is_only_ever_made_to_a_file_this_restore_wrote(make_context, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("not yours")
    context = make_context()
    follower = _file(b"innocent", hardlink_to=os.fsencode(victim).lstrip(b"/"), nlink=2)
    recovery_point_id = plant_recovery_point(context, [follower], {b"innocent": b"own content"})
    run_restore(context, recovery_point_id, str(tmp_path / "target"), [])
    assert (tmp_path / "target" / "innocent").read_bytes() == b"own content"
    assert os.stat(victim).st_nlink == 1


def test_out_of_order_trees_are_refused(make_context, tmp_path):
    context = make_context()
    recovery_point_id = plant_recovery_point(context, [_file(b"b"), _file(b"a")], {})
    with pytest.raises(IntegrityError, match="order"):
        run_restore(context, recovery_point_id, str(tmp_path / "target"), [])
