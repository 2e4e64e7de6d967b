"""Row 12: the paired region is down while recovery points are replicated, then comes back.

Through the real host: the secondary Azurite is stopped and backups are committed into a GRS
vault. Bounded run: the region comes back after a few seconds, while replication is retrying.
Soak: it stays down until every replication message has failed five times and sits in poison,
then the operator replays each over the API. Either way every recovery point must end
replicated, with its lag recorded, and every blob of the paired region bit-identical to the
primary's.
"""

from __future__ import annotations

import hashlib
import time

import pytest

from tests.api.conftest import make_tenant
from tests.support.http_backup import HTTP, backup, blob_url, synthetic_pack, wait_for_state, wait_until
from tests.support.queues import poison_mentioning

REGION = "storage-secondary"
OUTAGE_SECONDS = 8


def _blob_digests(session: dict) -> dict[str, str]:
    listing = HTTP.request("GET", f"{session['container_url']}?restype=container&comp=list&{session['sas']}").data
    names = [chunk.split(b"</Name>")[0].decode() for chunk in listing.split(b"<Name>")[1:]]
    return {name: hashlib.sha256(HTTP.request("GET", blob_url(session, name)).data).hexdigest() for name in names}


def _check(api, stack, stack_control, rng, backups: int, until_poison: bool) -> None:
    tenant = make_tenant(api, stack["BACKUP_ADMIN_KEY"])
    stack_control.stop_service(REGION)
    try:
        shared = synthetic_pack(rng)
        points = []
        for index in range(backups):
            own = synthetic_pack(rng)
            points.append(backup(api, tenant, [shared, own], rng, upload=[shared, own] if index == 0 else [own]))
        for rp_id in points:
            rp = wait_for_state(api, tenant["token"], rp_id, {"committed"})
            assert rp["replicated_at"] is None
        if until_poison:
            def all_poisoned():
                found = poison_mentioning(stack["PRIMARY_STORAGE_CONNECTION_STRING"], tenant["vault_id"],
                                          queues=("replication",))
                covered = {rp for rp in points for m in found if rp.encode() in m.body}
                return found if covered == set(points) else None

            poisoned = wait_until(all_poisoned, 1800, "every recovery point's replication message in poison")
        else:
            # Bounded: the region comes back while the first attempt is still in the storage SDK's
            # retries (a first attempt against a dead region takes about 40 s to fail).
            time.sleep(OUTAGE_SECONDS)
        for rp_id in points:
            status, rp = api.call("GET", f"/recovery-points/{rp_id}", tenant["token"])
            assert status == 200 and rp["replicated_at"] is None
    finally:
        stack_control.start_service(REGION)
    if until_poison:
        for message in {m.message_id: m for m in poisoned}.values():
            status, replayed = api.call("POST", f"/poison/replication/{message.message_id}/replay",
                                        stack["BACKUP_ADMIN_KEY"])
            assert status == 200 and replayed["replayed"], replayed
    for rp_id in points:
        rp = wait_until(lambda: (lambda r: r if r[1].get("replicated_at") else None)(
            api.call("GET", f"/recovery-points/{rp_id}", tenant["token"])), 900, f"replication of {rp_id}")[1]
        assert rp["replication_lag_seconds"] is not None and rp["replication_lag_seconds"] > 0, rp
    # Bit for bit: every blob the paired region holds equals the primary's, and it holds all of them.
    primary = {}
    secondary = {}
    for rp_id in points:
        status, session = api.call("POST", "/restore-sessions", tenant["token"], {"recovery_point_id": rp_id})
        assert status == 201
        primary.update(_blob_digests(session))
        status, session = api.call("POST", "/restore-sessions", tenant["token"],
                                   {"recovery_point_id": rp_id, "from_secondary": True})
        assert status == 201, session
        secondary.update(_blob_digests(session))
    assert secondary == primary, {n for n in primary if secondary.get(n) != primary[n]}


@pytest.mark.stack
@pytest.mark.timeout(900)
def test_replication_resumes_after_the_paired_region_returns(api_client, stack, stack_control, rng):
    _check(api_client, stack, stack_control, rng, backups=2, until_poison=False)


@pytest.mark.stack
@pytest.mark.soak
@pytest.mark.timeout(3 * 3600)
def test_soak_replication_poisoned_during_an_outage_replays_after_it(api_client, stack, stack_control, rng):
    _check(api_client, stack, stack_control, rng, backups=5, until_poison=True)
