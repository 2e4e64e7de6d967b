"""A vault's whole state (catalog, pack documents, usage, both regions' blobs) in a form two runs can compare.

The ids the service issues (recovery points, instances, restore sessions) differ between two runs of
one workload, so they are replaced by labels the workload gives them; so do the digests of what
embeds them (a manifest names its point; its blob name carries its digest), which are compared
as present, not by value. Everything else is compared as stored.
"""

from __future__ import annotations

import re

from shared.services.metering import stored_bytes_primary, stored_bytes_secondary
from shared.services.vaults import container_name

RP_FIELDS = ("state", "pack_count", "stored_bytes", "summary", "snapshot", "key_id",
             "replicated_bytes", "replicated_blobs", "transactions", "retention_hold", "deleted_by")
CLOCK_FIELDS = ("client_time", "created", "received_at", "deleted_at", "purged_at", "replicated_at", "replication_lag_seconds")
USAGE_COUNTERS = ("backups", "backup_bytes", "backup_bytes_max", "restores", "restore_bytes", "egress_bytes",
                  "replicated_bytes", "transactions")


_DIGEST = re.compile(r"\.[0-9a-f]{64}$")


def _renamer(names: dict[str, str]):
    def rename(text):
        if not isinstance(text, str):
            return text
        for issued, label in names.items():
            text = text.replace(issued, label)
        return _DIGEST.sub(".<sha256>", text)

    return rename


def vault_view(rt, vault_id: str, names: dict[str, str], *, clock_fields: bool) -> dict:
    """names: issued id -> label; clock_fields: compare timestamps too (both runs on one hand-moved clock)."""
    rename = _renamer(names)
    fields = RP_FIELDS + (CLOCK_FIELDS if clock_fields else ())
    points = {}
    for rp in rt.catalog.recovery_points.query(vault_id, "c.type = 'recovery_point'"):
        view = {name: rp.get(name) for name in fields}
        view["replicated"] = bool(rp.get("replicated_at"))
        view["snapshot"] = {k: bool(v) if k == "sha256" else rename(v) for k, v in (rp.get("snapshot") or {}).items()}
        points[rename(rp["id"])] = view
    packs, refs = {}, []
    for doc in rt.catalog.packs.query(vault_id):
        if doc["type"] == "pack":
            packs[doc["id"]] = {"state": doc["state"], "size": doc["size"],
                                **({"condemned_at": doc.get("condemned_at")} if clock_fields else {})}
        else:
            refs.append((doc["pack"], rename(doc["recovery_point_id"])))
    usage = {}
    for doc in rt.catalog.usage.query(vault_id, "c.type = 'day'"):
        key = f"{doc['date']}:{rename(doc['instance_id'])}"
        usage[key] = {name: doc[name] for name in USAGE_COUNTERS}
        usage[key]["events"] = sorted(rename(event) for event in doc["applied_events"])
        if clock_fields:
            usage[key]["latest_backup_at"] = doc["latest_backup_at"]
    instances = {}
    for doc in rt.catalog.instances.query(vault_id, "c.type = 'instance'"):
        instances[rename(doc["id"])] = {"has_last_backup": bool(doc.get("last_backup")),
                                        **({"last_backup": doc.get("last_backup")} if clock_fields else {})}
    vault = rt.catalog.vaults.get(vault_id, vault_id)
    container = container_name(vault_id)
    return {
        "recovery_points": points, "packs": packs, "refs": sorted(refs), "usage": usage, "instances": instances,
        "key_id": vault.get("key_id"),
        "stored_bytes": {"primary": stored_bytes_primary(rt, vault_id),
                         "secondary": stored_bytes_secondary(rt, vault)},
        "primary_blobs": sorted((rename(b.name), b.size) for b in rt.primary_blobs.list_blobs(container)),
        "secondary_blobs": sorted(
            (rename(b.name), b.size) for b in (rt.secondary_blobs.list_blobs(container) if rt.secondary_blobs else [])
        ),
    }


def differences(expected: dict, actual: dict, path: str = "") -> list[str]:
    """Readable differences between two views (the first few are enough to debug)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        found = []
        for key in sorted(set(expected) | set(actual), key=str):
            if key not in actual:
                found.append(f"{path}/{key}: missing (expected {expected[key]!r})")
            elif key not in expected:
                found.append(f"{path}/{key}: unexpected {actual[key]!r}")
            else:
                found += differences(expected[key], actual[key], f"{path}/{key}")
        return found
    return [] if expected == actual else [f"{path}: expected {expected!r}, got {actual!r}"]
