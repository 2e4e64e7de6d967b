"""The names of a vault container's blobs (docs/design.md, "Blob layout"): how each is built and parsed.

    keys/<key_id>                            a wrapped-key blob (JSON)
    packs/<sha256 of the pack>               encrypted chunks and the pack index
    snapshots/<recovery_point_id>            the encrypted snapshot
    commits/<recovery_point_id>.<sha256>     the commit manifest, named by its own digest
    commits/<recovery_point_id>              the commit manifest of a point written before digests

Nothing else belongs in a vault container: the garbage collector deletes any other name, and any
blob that is not a block blob (clients upload with single Put Blob requests).
A parser returns None for a name that is not of its kind, never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KEYS = "keys/"
PACKS = "packs/"
SNAPSHOTS = "snapshots/"
COMMITS = "commits/"
PREFIXES = (KEYS, PACKS, SNAPSHOTS, COMMITS)
# The one blob type a vault holds; append and page blobs are never written by a client.
BLOCK_BLOB = "BlockBlob"

_HEX32 = "[0-9a-f]{32}"
_HEX64 = "[0-9a-f]{64}"
_KEY = re.compile(rf"^keys/({_HEX32})$")
_PACK = re.compile(rf"^packs/({_HEX64})$")
_SNAPSHOT = re.compile(rf"^snapshots/({_HEX32})$")
_COMMIT = re.compile(rf"^commits/({_HEX32})(?:\.({_HEX64}))?$")
# For pydantic fields that hold a name of one kind.
PACK_PATTERN = _PACK.pattern
COMMIT_PATTERN = rf"^commits/{_HEX32}\.{_HEX64}$"
ANY_COMMIT_PATTERN = _COMMIT.pattern  # the legacy digest-less name too


@dataclass(frozen=True)
class CommitName:
    """A parsed commit manifest name: its recovery point, and its digest (None for a legacy name)."""

    recovery_point_id: str
    sha256: str | None


def key_name(key_id: str) -> str:
    return f"{KEYS}{key_id}"


def pack_name(sha256: str) -> str:
    return f"{PACKS}{sha256}"


def snapshot_name(recovery_point_id: str) -> str:
    return f"{SNAPSHOTS}{recovery_point_id}"


def commit_name(recovery_point_id: str, sha256: str) -> str:
    return f"{COMMITS}{recovery_point_id}.{sha256}"


def legacy_commit_name(recovery_point_id: str) -> str:
    """The manifest name of a point written before digests (read, never written)."""
    return f"{COMMITS}{recovery_point_id}"


def parse_key(name: str) -> str | None:
    """The key id of a `keys/` name."""
    found = _KEY.match(name)
    return found.group(1) if found else None


def parse_pack(name: str) -> str | None:
    """The SHA-256 (hex) a pack is named by."""
    found = _PACK.match(name)
    return found.group(1) if found else None


def parse_snapshot(name: str) -> str | None:
    """The recovery point id of a snapshot name."""
    found = _SNAPSHOT.match(name)
    return found.group(1) if found else None


def parse_commit(name: str) -> CommitName | None:
    found = _COMMIT.match(name)
    return CommitName(found.group(1), found.group(2)) if found else None


def recovery_point_of(name: str) -> str | None:
    """The recovery point a snapshot or commit blob belongs to; None for any other name."""
    commit = parse_commit(name)
    return commit.recovery_point_id if commit else parse_snapshot(name)


def in_layout(name: str) -> bool:
    """Whether a vault container may hold a blob of this name."""
    return any(parse(name) is not None for parse in (parse_key, parse_pack, parse_snapshot, parse_commit))
