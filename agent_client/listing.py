"""Lists recovery points from the catalog and the entries of one recovery point's tree."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timezone

from agent_client.agent_context import AgentContext
from agent_client.recovery_point_access import open_recovery_point
from agent_client.tree_format import EntryKind, TreeEntry


def list_recovery_points(context: AgentContext, deleted: bool, all_machines: bool) -> list[dict]:
    """The contract's `list` rows, newest first: id, instance, created, state, files, bytes."""
    instance_id = None if all_machines else context.config.instance_id
    rows = []
    for item in context.api.list_recovery_points(instance_id, "deleted" if deleted else "committed"):
        summary = item.get("summary") or {}
        rows.append({
            "id": item.get("id"), "instance": item.get("instance_name") or item.get("instance_id"),
            "instance_id": item.get("instance_id"), "created": item.get("created"), "state": item.get("state"),
            "files": item.get("files", summary.get("files")), "bytes": item.get("bytes", summary.get("bytes")),
            "deleted_at": item.get("deleted_at"),
        })
    return rows


def list_tree(context: AgentContext, recovery_point_id: str, path: str | None) -> Iterator[dict]:
    """The entries at or below `path` (every entry without one), in tree order."""
    prefix = os.fsencode(path).strip(b"/") if path else b""
    opened = open_recovery_point(context, recovery_point_id)
    for entry in opened.entries():
        if not prefix or entry.path == prefix or entry.path.startswith(prefix + b"/"):
            yield entry_row(entry)


def entry_row(entry: TreeEntry) -> dict:
    row = {
        "path": "/" + os.fsdecode(entry.path), "type": entry.kind.name.lower(), "mode": f"{entry.mode:04o}",
        "uid": entry.uid, "gid": entry.gid, "size": entry.size,
        "mtime": datetime.fromtimestamp(entry.mtime_ns / 1e9, timezone.utc).isoformat(timespec="seconds"),
    }
    if entry.kind == EntryKind.SYMLINK:
        row["target"] = os.fsdecode(entry.link_target)
    if entry.hardlink_to:
        row["hardlink_to"] = "/" + os.fsdecode(entry.hardlink_to)
    return row
