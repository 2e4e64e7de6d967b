"""Lists a vault container once per maintenance run: deletes what its layout does not allow, measures the rest.

A machine's create-only SAS can still create a blob of any name and kind (an append or page
blob, a server-side copy): nothing in the service would read such a blob, so it is deleted as
soon as it is found, and counted first, so that it is billed (docs/design.md, "Metering"). A
key blob the vault neither uses nor keeps (a hostile or abandoned upload) goes once older than
the grace period, since a passphrase change uploads its key before it records it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from shared.adapters.blob_account import BlobListing
from shared.formats import blob_names
from shared.services.vault_keys import kept_key_ids
from shared.services.vaults import container_name

log = logging.getLogger(__name__)


@dataclass
class ContainerListing:
    """What one pass over the container found: totals, and the layout's blobs by kind."""

    listed_bytes: int = 0
    junk_blobs: int = 0
    junk_bytes: int = 0
    orphan_keys: int = 0
    packs: list[BlobListing] = field(default_factory=list)
    recovery_blobs: list[BlobListing] = field(default_factory=list)  # snapshots and commit manifests


def sweep_container(rt, vault: dict, documented_packs: set[str], cutoff: datetime) -> ContainerListing:
    """Deletes blobs outside the layout at once and unused key blobs older than `cutoff`.

    A pack that is not a block blob is kept if it has a document (a commit referenced it before
    blob kinds were checked); the pack lifecycle reclaims it.
    """
    container = container_name(vault["id"])
    found = ContainerListing()
    kept_keys = kept_key_ids(vault)
    for blob in list(rt.primary_blobs.list_blobs(container, "")):
        found.listed_bytes += blob.size
        pack = blob_names.parse_pack(blob.name)
        if not blob_names.in_layout(blob.name) or (blob.blob_type != blob_names.BLOCK_BLOB and pack not in documented_packs):
            _delete(rt, container, blob, "outside the layout")
            found.junk_blobs += 1
            found.junk_bytes += blob.size
        elif (key_id := blob_names.parse_key(blob.name)) is not None:
            if key_id not in kept_keys and blob.last_modified < cutoff:
                _delete(rt, container, blob, "an unused key")
                found.orphan_keys += 1
        elif pack is not None:
            found.packs.append(blob)
        else:
            found.recovery_blobs.append(blob)
    return found


def _delete(rt, container: str, blob: BlobListing, why: str) -> None:
    rt.primary_blobs.delete_blob(container, blob.name)
    log.warning("deleted %r (%s blob of %d bytes, %s) from %s", blob.name, blob.blob_type, blob.size, why, container)
