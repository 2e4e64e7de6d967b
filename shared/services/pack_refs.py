"""Pack documents and pack references: the reference counts the garbage collector relies on."""

from __future__ import annotations

from shared.errors import Conflict, PreconditionFailed


class PackDeleting(Exception):
    """The pack is being swept by the garbage collector and must not gain a reference."""


def ref_id(pack: str, rp_id: str) -> str:
    return f"ref:{pack}:{rp_id}"


def add_refs(rt, vault_id: str, rp_id: str, packs: list[str]) -> None:
    """Creates one reference document per pack; a conflict means it already exists (idempotent)."""
    for pack in packs:
        try:
            rt.catalog.packs.create({
                "id": ref_id(pack, rp_id), "vault_id": vault_id, "type": "ref",
                "pack": pack, "recovery_point_id": rp_id,
            })
        except Conflict:
            pass


def remove_refs(rt, vault_id: str, rp_id: str) -> list[str]:
    """Deletes the references of a recovery point; returns the packs they pointed to."""
    packs = []
    for ref in list(rt.catalog.packs.query(vault_id, "c.type = 'ref' AND c.recovery_point_id = @rp", {"rp": rp_id})):
        rt.catalog.packs.delete(vault_id, ref["id"])
        packs.append(ref["pack"])
    return packs


def packs_of(rt, vault_id: str, rp_id: str) -> list[str]:
    refs = rt.catalog.packs.query(
        vault_id, "c.type = 'ref' AND c.recovery_point_id = @rp", {"rp": rp_id}, select="c.pack"
    )
    return sorted(r["pack"] for r in refs)


def ref_count(rt, vault_id: str, pack: str) -> int:
    counts = list(rt.catalog.packs.query(
        vault_id, "c.type = 'ref' AND c.pack = @pack", {"pack": pack}, select="VALUE COUNT(1)"
    ))
    return int(counts[0]) if counts else 0


def touch_pack(rt, vault_id: str, pack: str, size: int, rp_id: str) -> bool:
    """Marks the pack live and referenced now, creating its document if absent.

    An ETag-conditional write, so it is ordered against the collector's switch to `deleting`.
    Returns True if the document was created for this recovery point, by this call or by an
    earlier delivery of the same commit (the document records who created it), so that a
    redelivered commit meters its new packs exactly once. Raises PackDeleting.
    """
    while True:
        doc = rt.catalog.packs.find(vault_id, pack)
        now = rt.clock().isoformat()
        if doc is None:
            try:
                rt.catalog.packs.create({
                    "id": pack, "vault_id": vault_id, "type": "pack", "size": size, "state": "live",
                    "created": now, "created_by": rp_id, "last_ref_at": now, "condemned_at": None,
                })
                return True
            except Conflict:
                continue
        if doc["state"] == "deleting":
            raise PackDeleting(pack)
        try:
            rt.catalog.packs.replace({**doc, "state": "live", "condemned_at": None, "last_ref_at": now}, doc["_etag"])
            return doc.get("created_by") == rp_id
        except PreconditionFailed:
            continue
