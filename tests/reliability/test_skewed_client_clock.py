"""Row 7: recovery points dated far in the future or far in the past by a skewed client clock.

Through the real host: the client's manifest carries its clock (`client_time`); the catalog must
stamp `created` with its own clock, record the client's as given, order and filter by `created`,
and retention (applied over HTTP by a policy change) must decide on `created` alone, so that no
point expires before the server's clock says so.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from shared.domain.retention import RetentionPolicy, apply_policy
from tests.api.conftest import make_tenant
from tests.support.http_backup import backup, synthetic_pack, wait_for_state

# The extremes a datetime can hold, some with offsets whose UTC value is outside years 1..9999.
EXTREME_CLIENT_TIMES = [
    "9999-12-31T23:59:59+00:00", "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+00:00",
    "0001-01-01T00:00:00+14:00", "1970-01-01T00:00:00+00:00",
]


def _committed(api, tenant) -> list[str]:
    status, listing = api.call("GET", "/recovery-points?state=committed&limit=1000", tenant["token"])
    assert status == 200, listing
    return [item["id"] for item in listing["items"]]


def _check(api, operator_key: str, rng, client_times: list[str], policies: list[dict]) -> None:
    tenant = make_tenant(api, operator_key)
    before = datetime.now(timezone.utc)
    sent = [(backup(api, tenant, [synthetic_pack(rng)], rng, client_time=datetime.fromisoformat(client_time)),
             client_time) for client_time in client_times]
    points = []
    for rp_id, client_time in sent:
        rp = wait_for_state(api, tenant["token"], rp_id, {"committed", "rejected"})
        assert rp["state"] == "committed", f"client time {client_time}: {rp.get('rejected_reason')}"
        assert datetime.fromisoformat(rp["client_time"]) == datetime.fromisoformat(client_time)
        points.append((rp_id, datetime.fromisoformat(rp["created"])))
    after = datetime.now(timezone.utc)
    for (rp_id, created), (_, client_time) in zip(points, sent):
        # The catalog's own clock, read between the first commit call and the last answer.
        assert before - timedelta(seconds=1) <= created <= after + timedelta(seconds=1), (client_time, created)
    newest_first = [rp_id for rp_id, _ in sorted(points, key=lambda p: p[1], reverse=True)]
    assert _committed(api, tenant) == newest_first, "the listing is not ordered by the catalog's clock"
    since = (min(c for _, c in points) - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    status, window = api.call("GET", f"/recovery-points?since={since}&limit=1000", tenant["token"])
    assert status == 200 and {i["id"] for i in window["items"]} == {rp for rp, _ in points}

    for policy in policies:
        alive = [(rp, c) for rp, c in points if rp in set(_committed(api, tenant))]
        status, applied = api.call("PUT", f"/vaults/{tenant['vault_id']}/policy", tenant["admin_key"], policy)
        assert status == 200, applied
        expected = apply_policy(RetentionPolicy(**policy), alive, "UTC", datetime.now(timezone.utc))
        kept = set(_committed(api, tenant))
        assert kept == set(expected.keep), f"policy {policy}: kept {kept}, server time keeps {set(expected.keep)}"
        # The newest by the catalog's clock always survives, whatever its client claimed.
        assert newest_first[0] in kept


@pytest.mark.stack
def test_extreme_client_clocks_do_not_steer_ordering_or_retention(api_client, stack, rng):
    # An honest point first, then the extremes, so that by the client's clock the newest point is
    # the oldest, and the far-future one would outlive every policy.
    client_times = [datetime.now(timezone.utc).isoformat(), *EXTREME_CLIENT_TIMES]
    policies = [{"last": len(client_times)}, {"last": 3}, {"yearly": 1, "monthly": 1}, {"last": 1}]
    _check(api_client, stack["BACKUP_ADMIN_KEY"], rng, client_times, policies)


@pytest.mark.stack
@pytest.mark.soak
@pytest.mark.timeout(3600)
def test_soak_random_client_skews(api_client, stack, rng):
    for _ in range(5):
        skews = [timedelta(days=rng.uniform(-730_000, 2_900_000)) for _ in range(rng.randint(5, 12))]
        client_times = [(datetime.now(timezone.utc) + skew).isoformat() for skew in skews]
        policies = [{rule: rng.randint(1, 4)} for rule in rng.sample(["last", "daily", "weekly", "monthly", "yearly"], 3)]
        _check(api_client, stack["BACKUP_ADMIN_KEY"], rng, client_times, policies + [{"last": 1}])
