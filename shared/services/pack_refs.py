"""Pack documents and pack references: the reference counts the garbage collector relies on."""

from __future__ import annotations

from shared.errors import Conflict, NotFound, PreconditionFailed


class PackDeleting(Exception):
    """The pack is being swept by the garbage collector and must not gain a reference."""


def ref_id(pack: str, rp_id: str) -> str:
    return f"ref:{pack}:{rp_id}"


def add_refs(rt, vault_id: str, rp_id: str, packs: list[str]) -> None:
    """Writes one reference document per pack, whether or not it exists (idempotent).

    Always a write: it gives the reference a new ETag, so a rejection of the same recovery point
    that read it before, and deletes only what is unchanged since, leaves it to this delivery.
    """
    for pack in packs:
        rt.catalog.packs.upsert({
            "id": ref_id(pack, rp_id), "vault_id": vault_id, "type": "ref", "pack": pack, "recovery_point_id": rp_id,
        })


def refs_of(rt, vault_id: str, rp_id: str) -> list[dict]:
    """The reference documents of a recovery point as they are now, ETags included."""
    return list(rt.catalog.packs.query(vault_id, "c.type = 'ref' AND c.recovery_point_id = @rp", {"rp": rp_id}))


def remove_refs(rt, vault_id: str, rp_id: str) -> list[str]:
    """Deletes the references of a recovery point; returns the packs they pointed to."""
    refs = refs_of(rt, vault_id, rp_id)
    for ref in refs:
        rt.catalog.packs.delete(vault_id, ref["id"])
    return [ref["pack"] for ref in refs]


def remove_unchanged_refs(rt, vault_id: str, refs: list[dict]) -> None:
    """Deletes each reference unless it was written since `refs` were read: then a delivery that
    took the recovery point over holds it, and needs it."""
    for ref in refs:
        try:
            rt.catalog.packs.delete(vault_id, ref["id"], ref["_etag"])
        except PreconditionFailed:
            pass


def remove_unreferenced_packs(rt, vault_id: str, rp_id: str) -> int:
    """Deletes the live pack documents `rp_id` created that have no reference; returns how many.

    Each document is read before its references are counted and deleted only if unchanged since:
    a commit that references the pack after the count touches it after (a write), which either
    makes the delete fail or, coming after it, creates the document again. The blob stays: with
    no document it is an upload no commit claimed, which the collector treats as an orphan.
    """
    removed = 0
    created = rt.catalog.packs.query(vault_id, "c.type = 'pack' AND c.state = 'live' AND c.created_by = @rp", {"rp": rp_id})
    for doc in list(created):
        if ref_count(rt, vault_id, doc["id"]) > 0:
            continue
        try:
            rt.catalog.packs.delete(vault_id, doc["id"], doc["_etag"])
            removed += 1
        except PreconditionFailed:
            pass  # touched since it was read: a commit references it now
    return removed


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


# Names per query when pack documents are read in bulk (keeps the query text small).
_BULK_READ = 500


def pack_documents(rt, vault_id: str, packs: list[str]) -> dict[str, dict]:
    """The pack documents that exist among `packs`, by name: one query per few hundred names."""
    found: dict[str, dict] = {}
    for start in range(0, len(packs), _BULK_READ):
        names = packs[start : start + _BULK_READ]
        for doc in rt.catalog.packs.query(vault_id, "c.type = 'pack' AND ARRAY_CONTAINS(@names, c.id)", {"names": names}):
            found[doc["id"]] = doc
    return found


def touch_pack(rt, vault_id: str, pack: str, size: int, rp_id: str, known: dict | None = None) -> tuple[bool, dict]:
    """Marks the pack live and referenced now, creating its document if absent.

    An ETag-conditional write, so it is ordered against the collector's switch to `deleting`.
    `size` is the blob's, as read by the caller: a document never records a size the blob did
    not have. Returns whether the document was created for this recovery point, by this call or
    by an earlier delivery of the same commit (the document records who created it), so that a
    redelivered commit meters its new packs exactly once; and the document as written.
    `known` is the document as read in bulk before (None: absent then); a stale one only costs a
    retry, because every write is conditional. Raises PackDeleting.
    """
    doc = known
    while True:
        now = rt.clock().isoformat()
        if doc is None:
            try:
                return True, rt.catalog.packs.create({
                    "id": pack, "vault_id": vault_id, "type": "pack", "size": size, "state": "live",
                    "created": now, "created_by": rp_id, "last_ref_at": now, "condemned_at": None,
                })
            except Conflict:
                pass
        elif doc["state"] == "deleting":
            raise PackDeleting(pack)
        else:
            try:
                written = rt.catalog.packs.replace({**doc, "state": "live", "condemned_at": None, "last_ref_at": now}, doc["_etag"])
                return doc.get("created_by") == rp_id, written
            except (PreconditionFailed, NotFound):
                pass  # changed, or removed by a rejected commit that created it
        doc = rt.catalog.packs.find(vault_id, pack)  # changed since it was read: read it again


def record_checked(rt, doc: dict, blob, chunks: int) -> None:
    """Notes on the pack document that the blob (`size`, `etag`) had a valid index of `chunks` chunks.

    A later commit that finds the same ETag (a blob's ETag changes with any write) skips reading
    the index again. The blob's size is written too, which puts right a document that recorded
    another. Conditional: if the document changed meanwhile, nothing is recorded.
    """
    checked = {"etag": blob.etag, "chunks": chunks}
    if doc.get("checked") == checked and doc.get("size") == blob.size:
        return
    try:
        rt.catalog.packs.replace({**doc, "checked": checked, "size": blob.size}, doc["_etag"])
    except (Conflict, NotFound):
        pass  # PreconditionFailed is a Conflict
