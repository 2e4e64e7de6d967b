"""Retention runs on the catalog's clock: a client's skewed or forged clock cannot expire real points."""

from datetime import datetime, timedelta, timezone

from shared.services import policies
from shared.services.auth import Principal
from shared.services.catalog import catalog_commit

OPERATOR = Principal("operator")


def _committed(vault):
    return {rp["id"] for rp in vault.rt.catalog.recovery_points.query(
        vault.vault_id, "c.type = 'recovery_point' AND c.state = 'committed'")}


def test_forged_client_clocks_do_not_push_real_points_out(vault, clock):
    real = []
    for day in range(3):
        message = vault.backup([vault.upload_pack()])
        catalog_commit(vault.rt, message)
        real.append(message.recovery_point_id)
        clock.advance(days=1)
    # A compromised client stamps its points far in the future and far in the past.
    for skew in (timedelta(days=3650), -timedelta(days=3650)):
        forged = vault.backup([vault.upload_pack()], client_time=datetime.now(timezone.utc) + skew)
        catalog_commit(vault.rt, forged)
        real.append(forged.recovery_point_id)
        clock.advance(minutes=1)
    result = policies.set_policy(vault.rt, OPERATOR, vault.vault_id, policies.PolicyRequest(daily=2))
    kept = _committed(vault)
    # Days on the catalog's clock: day 0, day 1, day 2 (+ the two forged points cataloged on day 3).
    assert real[-1] in kept and real[-2] not in kept  # day 3's newest is kept, the older one that day is not
    assert real[2] in kept  # day 2
    assert real[0] not in kept and real[1] not in kept
    assert result["applied"] == {"kept": 2, "expired": 3}


def test_retention_is_stable_under_reruns(vault, clock):
    for _ in range(4):
        catalog_commit(vault.rt, vault.backup([vault.upload_pack()]))
        clock.advance(hours=30)
    policies.set_policy(vault.rt, OPERATOR, vault.vault_id, policies.PolicyRequest(last=2))
    once = _committed(vault)
    policies.set_policy(vault.rt, OPERATOR, vault.vault_id, policies.PolicyRequest(last=2))
    assert _committed(vault) == once and len(once) == 2
