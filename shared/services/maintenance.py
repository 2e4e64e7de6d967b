"""The daily maintenance run over every vault: retention, purge, garbage collection, then retired keys."""

from __future__ import annotations

import logging

from shared.services.garbage_collection import collect_garbage
from shared.services.metering import refresh_stored
from shared.services.purge import purge_expired
from shared.services.retention_run import apply_retention
from shared.services.vault_keys import collect_retired_keys
from shared.services.vaults import all_vault_ids

log = logging.getLogger(__name__)


def run_maintenance(rt) -> dict:
    """One vault's failure is logged and does not stop the others; the run is idempotent."""
    report = {}
    for vault_id in all_vault_ids(rt):
        vault = rt.catalog.vaults.find(vault_id, vault_id)
        if vault is None:
            continue
        try:
            report[vault_id] = {
                "retention": apply_retention(rt, vault),
                "purged": purge_expired(rt, vault),
                "garbage": collect_garbage(rt, vault),
                # After purge: a key is released only once no remaining point names it.
                "retired_keys_released": collect_retired_keys(rt, vault),
            }
            # Sweeps send no usage event; refreshing here also gives every day a stored figure.
            refresh_stored(rt, vault)
        except Exception:  # noqa: BLE001 - isolate vaults from each other
            log.exception("maintenance of vault %s failed", vault_id)
            report[vault_id] = {"error": "failed"}
    log.info("maintenance run: %s", report)
    return report
