"""The month's usage report adds up the usage documents exactly, and prices them with the pricing model."""

import json
from datetime import datetime

import pytest
from pydantic import ValidationError

from shared.domain.messages import UsageEvent
from shared.errors import Forbidden, NotFound
from shared.services.auth import Principal
from shared.services.metering import record_usage
from shared.services.usage_report import UsageQuery, month_report

pytestmark = pytest.mark.stack

GIB = 2**30
A, B, C, D, E = (letter * 32 for letter in "abcde")


def _at(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T10:00:00+00:00")


@pytest.fixture(scope="module")
def metered_vault(make_module_vault):
    """January to March 2026 of a vault, metered through record_usage (today is 2026-03-10).

    A backs up in January (40 GiB) and February (60, then 30 GiB) and restores 1 + 2 GiB in
    February and 7 GiB in March; B backed up in January only; C first backs up in March; D backed
    up in January and its only point is soft-deleted now; E's point was never metered.
    """
    grs_vault = make_module_vault("GRS")
    rt = grs_vault.rt
    events = [
        ("backup", 1, A, "2026-01-20", 40 * GIB, 0), ("backup", 2, A, "2026-02-05", 60 * GIB, 10),
        ("backup", 3, A, "2026-02-20", 30 * GIB, 4), ("backup", 4, B, "2026-01-10", 10 * GIB, 0),
        ("backup", 5, C, "2026-03-02", 5 * GIB, 0), ("backup", 6, D, "2026-01-15", 100 * GIB, 0),
        ("restore", 7, A, "2026-02-07", 1 * GIB, 0), ("restore", 8, A, "2026-02-25", 2 * GIB, 0),
        ("restore", 9, A, "2026-03-03", 7 * GIB, 0), ("replicated", 10, A, "2026-02-05", 3 * GIB, 6),
    ]
    for kind, n, instance, day, size, transactions in events:
        record_usage(rt, UsageEvent(event_id=f"{kind}:{n:032x}", vault_id=grs_vault.vault_id, instance_id=instance,
                                    kind=kind, occurred_at=_at(day), bytes=size, transactions=transactions))
    for instance, created, state in ((A, "2026-02-20", "committed"), (B, "2026-01-10", "committed"),
                                     (C, "2026-03-02", "committed"), (D, "2026-01-15", "deleted"),
                                     (E, "2026-01-01", "committed")):
        grs_vault.committed_point([], instance_id=instance, created=_at(created), state=state, front_end_bytes=2 * GIB)
    # Stored bytes as the daily snapshots left them (the metering tests prove the snapshots).
    for day, primary, secondary in (("2026-01-25", 10, 10), ("2026-02-15", 20, 16), ("2026-03-10", 30, 30)):
        rt.catalog.usage.upsert({
            "id": f"stored:{day}", "vault_id": grs_vault.vault_id, "type": "stored", "instance_id": "vault",
            "date": day, "stored_bytes_primary": primary * GIB, "stored_bytes_secondary": secondary * GIB,
        })
    return grs_vault


def test_past_month_report_is_exact(metered_vault):
    report = month_report(metered_vault.rt, Principal("operator"), metered_vault.vault_id, UsageQuery(month="2026-02"))

    assert report["days"] == 28
    # A backed up in February; B and E still hold points made by then; C came later; D's is deleted.
    assert report["protected_instances"] == 3
    assert report["protected_bytes"] == (30 + 10 + 2) * GIB  # A's latest backup, not its largest
    assert (report["stored_bytes_primary"], report["stored_bytes_secondary"]) == (20 * GIB, 16 * GIB)
    # 14 days carried from January's 10 GiB, then 14 days at 20 (primary) and 16 GiB (secondary).
    assert (report["average_stored_bytes_primary"], report["average_stored_bytes_secondary"]) == (15 * GIB, 13 * GIB)
    assert (report["backups"], report["restores"], report["restore_bytes"], report["egress_bytes"]) == (2, 2, 3 * GIB, 3 * GIB)
    assert (report["replicated_bytes"], report["transactions"]) == (3 * GIB, 20)
    assert report["estimated_cost"] == {
        "currency": "USD",
        "instance_fees": [  # A is billed on its largest size of the month, 60 GiB
            {"instance_id": A, "protected_bytes": 60 * GIB, "tier": "50-500 GB", "fee": 10},
            {"instance_id": B, "protected_bytes": 10 * GIB, "tier": "<=50 GB", "fee": 5},
            {"instance_id": E, "protected_bytes": 2 * GIB, "tier": "<=50 GB", "fee": 5},
        ],
        "storage_primary_gb_month": 15, "storage_secondary_gb_month": 13,
        "storage_primary": 0.34,  # 15 GB-months x 0.0224
        "storage_secondary": 0.29,  # 13 GB-months x (0.0448 - 0.0224)
        "restores": 0, "egress": 0, "total": 20.63,
    }


def test_current_month_is_the_default_and_counts_the_days_so_far(metered_vault):
    admin = Principal("vault_admin", metered_vault.vault_id)
    report = month_report(metered_vault.rt, admin, metered_vault.name, UsageQuery())

    assert (report["month"], report["days"]) == ("2026-03", 10)
    assert report["protected_instances"] == 4  # C joins; A enters March with its 30 GiB
    assert report["protected_bytes"] == (30 + 10 + 5 + 2) * GIB
    assert (report["restores"], report["restore_bytes"], report["transactions"]) == (1, 7 * GIB, 0)
    # Nine days carried from February (20 and 16 GiB), then today's 30 GiB: a projection.
    assert report["average_stored_bytes_primary"] == 21 * GIB
    assert report["average_stored_bytes_secondary"] == round(17.4 * GIB)
    cost = report["estimated_cost"]
    assert [fee["fee"] for fee in cost["instance_fees"]] == [5, 5, 5, 5]  # A's 30 GiB is under 50
    assert (cost["storage_primary"], cost["storage_secondary"], cost["total"]) == (0.47, 0.39, 20.86)


def test_price_table_setting_overrides_the_default(metered_vault, make_runtime):
    prices = {"currency": "EUR", "storage_gb_month": {"LRS": "0.02", "GRS": "0.05"},
              "instance_tiers": [{"up_to_gb": "100", "monthly_fee": "7"}]}
    rt = make_runtime(PRICE_TABLE=json.dumps(prices))
    cost = month_report(rt, Principal("operator"), metered_vault.vault_id, UsageQuery(month="2026-02"))["estimated_cost"]
    assert cost["currency"] == "EUR"
    assert [fee["fee"] for fee in cost["instance_fees"]] == [7, 7, 7]
    assert (cost["storage_primary"], cost["storage_secondary"], cost["total"]) == (0.3, 0.39, 21.69)


def test_month_before_the_vault_costs_nothing_and_a_future_month_only_fees(metered_vault):
    rt, operator = metered_vault.rt, Principal("operator")
    december = month_report(rt, operator, metered_vault.vault_id, UsageQuery(month="2025-12"))
    assert (december["protected_instances"], december["average_stored_bytes_primary"]) == (0, 0)
    assert december["estimated_cost"]["total"] == 0
    april = month_report(rt, operator, metered_vault.vault_id, UsageQuery(month="2026-04"))
    assert (april["days"], april["stored_bytes_primary"], april["estimated_cost"]["storage_primary"]) == (0, 0, 0)
    assert april["estimated_cost"]["total"] == 20  # A, B, C and E still hold recovery points


@pytest.mark.parametrize("month", ["2026-13", "2026-2", "26-02", "2026-02-01", ""])
def test_bad_month_is_refused(month):
    with pytest.raises(ValidationError):
        UsageQuery(month=month)


def test_only_admins_of_the_vault_read_its_usage(metered_vault):
    rt, vault_id = metered_vault.rt, metered_vault.vault_id
    with pytest.raises(Forbidden):
        month_report(rt, Principal("instance", vault_id, A), vault_id, UsageQuery())
    with pytest.raises(NotFound):
        month_report(rt, Principal("vault_admin", "f" * 32), vault_id, UsageQuery())

