"""Reports whether the service can reach its catalog database and storage."""

from __future__ import annotations

import logging

from shared.errors import ServiceError, StorageUnavailable

log = logging.getLogger(__name__)


def check(rt) -> dict:
    """Liveness plus one cheap call to each dependency; raises StorageUnavailable (503) if one fails."""
    checks: dict[str, str] = {}
    probes = {
        "catalog": lambda: rt.catalog.vaults.find("registry", "health-probe"),
        "primary_storage": lambda: rt.queues.peek(rt.settings.commit_queue, 1),
    }
    if rt.secondary_blobs is not None:
        probes["secondary_storage"] = lambda: list(rt.secondary_blobs.list_blobs("health-probe"))
    for name, probe in probes.items():
        try:
            probe()
            checks[name] = "ok"
        except (ServiceError, OSError) as exc:
            log.warning("health check %s failed: %s", name, exc)
            checks[name] = "unavailable"
    if checks.get("catalog") != "ok" or checks.get("primary_storage") != "ok":
        raise StorageUnavailable("the service cannot reach " + ", ".join(k for k, v in checks.items() if v != "ok"))
    return {"status": "ok" if all(v == "ok" for v in checks.values()) else "degraded", "checks": checks}
