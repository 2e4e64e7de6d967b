"""Tests of the pricing model, with every expected amount worked out by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.domain.pricing import (
    GB,
    InstanceUsage,
    MonthUsage,
    PriceTable,
    days_in_month,
    estimate_bill,
    instance_fee,
)

DEFAULT = PriceTable()


@pytest.mark.parametrize(
    ("protected_bytes", "tier", "fee"),
    [
        (0, "<=50 GB", "5"),
        (50 * GB, "<=50 GB", "5"),
        (50 * GB + 1, "50-500 GB", "10"),
        (500 * GB, "50-500 GB", "10"),
        # Beyond 500 GB: 10 for each started 500 GB.
        (500 * GB + 1, ">500 GB (2 x 500 GB)", "20"),
        (1000 * GB, ">500 GB (2 x 500 GB)", "20"),
        (1200 * GB, ">500 GB (3 x 500 GB)", "30"),
        (10_000 * GB, ">500 GB (20 x 500 GB)", "200"),
    ],
)
def test_default_instance_tiers(protected_bytes: int, tier: str, fee: str) -> None:
    charged = instance_fee("i", protected_bytes, DEFAULT)
    assert (charged.tier, charged.fee) == (tier, Decimal(fee))


def test_default_table() -> None:
    assert DEFAULT.currency == "USD"
    assert DEFAULT.storage_gb_month == {"LRS": Decimal("0.0224"), "GRS": Decimal("0.0448")}
    assert (DEFAULT.restore_gb, DEFAULT.egress_gb) == (0, 0)


def test_month_bill_by_hand() -> None:
    usage = MonthUsage(
        month="2026-11",  # 30 days
        instances=[
            InstanceUsage(instance_id="b", front_end_bytes=[1200 * GB]),
            InstanceUsage(instance_id="a", front_end_bytes=[10 * GB, 60 * GB, 40 * GB]),
            InstanceUsage(instance_id="c", front_end_bytes=[0]),
        ],
        daily_stored_bytes_primary=[100 * GB] * 15 + [200 * GB] * 15,
        daily_stored_bytes_secondary=[0] * 10 + [150 * GB] * 20,
        restores=3, restore_bytes=5 * 1024 * GB, egress_bytes=5 * 1024 * GB, transactions=999,
    )
    bill = estimate_bill(usage, DEFAULT)
    # a: largest size 60 GB -> 50-500 GB tier, 10; b: 1200 GB -> 3 x 10 = 30; c: 5. Sum 45.
    assert [(fee.instance_id, fee.protected_bytes, fee.fee) for fee in bill.instance_fees] == [
        ("a", 60 * GB, Decimal("10.00")), ("b", 1200 * GB, Decimal("30.00")), ("c", 0, Decimal("5.00"))]
    # Primary: average (15 x 100 + 15 x 200) / 30 = 150 GB-month x 0.0224 (LRS) = 3.36.
    assert bill.storage_primary_gb_month == Decimal("150")
    assert bill.storage_primary == Decimal("3.36")
    # Secondary: (10 x 0 + 20 x 150) / 30 = 100 GB-month x (0.0448 - 0.0224) = 2.24.
    assert bill.storage_secondary_gb_month == Decimal("100")
    assert bill.storage_secondary == Decimal("2.24")
    assert (bill.restores, bill.egress) == (Decimal("0.00"), Decimal("0.00"))
    assert bill.total == Decimal("50.60")
    assert bill.currency == "USD"
    assert bill.month == "2026-11"


def test_fully_replicated_grs_pays_the_grs_rate() -> None:
    usage = MonthUsage(month="2026-02", daily_stored_bytes_primary=[1000 * GB] * 28,
                       daily_stored_bytes_secondary=[1000 * GB] * 28)
    bill = estimate_bill(usage, DEFAULT)
    # 1000 GB-month x 0.0224 = 22.40 primary, 1000 x 0.0224 premium = 22.40; 1000 x 0.0448 = 44.80.
    assert (bill.storage_primary, bill.storage_secondary, bill.total) == (
        Decimal("22.40"), Decimal("22.40"), Decimal("44.80"))


def test_current_month_averages_the_days_so_far() -> None:
    usage = MonthUsage(month="2026-11", daily_stored_bytes_primary=[1 * GB, 2 * GB, 3 * GB])
    bill = estimate_bill(usage, DEFAULT)
    # (1 + 2 + 3) / 3 = 2 GB-month x 0.0224 = 0.0448, rounded half-up to 0.04.
    assert bill.storage_primary_gb_month == Decimal("2")
    assert bill.storage_primary == Decimal("0.04")
    assert bill.total == Decimal("0.04")


def test_rounding_is_half_up_per_part() -> None:
    prices = PriceTable(storage_gb_month={"LRS": Decimal("0.025"), "GRS": Decimal("0.05")})
    usage = MonthUsage(month="2026-11", daily_stored_bytes_primary=[GB], daily_stored_bytes_secondary=[GB])
    bill = estimate_bill(usage, prices)
    # 0.025 rounds up to 0.03 (half-even would give 0.02); the total adds the rounded parts.
    assert (bill.storage_primary, bill.storage_secondary, bill.total) == (
        Decimal("0.03"), Decimal("0.03"), Decimal("0.06"))


def test_empty_month_costs_nothing() -> None:
    bill = estimate_bill(MonthUsage(month="2026-11"), DEFAULT)
    assert bill.instance_fees == []
    assert bill.total == Decimal("0.00")


def test_table_from_configuration_json() -> None:
    prices = PriceTable.model_validate_json(
        '{"currency": "EUR", "instance_tiers": [{"up_to_gb": 10, "monthly_fee": "1"},'
        ' {"up_to_gb": 100, "monthly_fee": "4.5"}], "increment_gb": 100, "increment_fee": "7",'
        ' "storage_gb_month": {"LRS": "0.02", "GRS": "0.05"}, "decimal_places": 3}')
    assert instance_fee("i", 10 * GB, prices).fee == Decimal("1")
    assert instance_fee("i", 11 * GB, prices).tier == "10-100 GB"
    # 250 GB: 3 started increments of 100 GB at 7 = 21.
    assert instance_fee("i", 250 * GB, prices).fee == Decimal("21")
    assert instance_fee("i", 250 * GB, prices).tier == ">100 GB (3 x 100 GB)"
    usage = MonthUsage(month="2026-11", instances=[InstanceUsage(instance_id="i", front_end_bytes=[50 * GB])],
                       daily_stored_bytes_primary=[GB], daily_stored_bytes_secondary=[GB])
    bill = estimate_bill(usage, prices)
    # 4.5 + 1 x 0.02 + 1 x (0.05 - 0.02) = 4.550, to 3 places.
    assert (bill.currency, bill.total, bill.storage_secondary) == ("EUR", Decimal("4.550"), Decimal("0.030"))


@pytest.mark.parametrize(
    "config",
    [
        {"restore_gb": "0.01"},
        {"egress_gb": "0.09"},
        {"storage_gb_month": {"LRS": "0.02"}},
        {"storage_gb_month": {"LRS": "0.05", "GRS": "0.02"}},
        {"storage_gb_month": {"LRS": "0.02", "GRS": "0.05", "ZRS": "0.03"}},
        {"instance_tiers": []},
        {"instance_tiers": [{"up_to_gb": 500, "monthly_fee": 10}, {"up_to_gb": 50, "monthly_fee": 5}]},
        {"instance_tiers": [{"up_to_gb": 50, "monthly_fee": -1}]},
        {"increment_gb": 0},
        {"currency": "usd"},
        {"unknown_price": 1},
    ],
)
def test_bad_price_tables_are_refused(config: dict) -> None:
    with pytest.raises(ValidationError):
        PriceTable.model_validate(config)


@pytest.mark.parametrize(
    "usage",
    [
        {"month": "2026-13"},
        {"month": "26-11"},
        {"month": "2026-11", "daily_stored_bytes_primary": [0] * 31},
        {"month": "2026-11", "daily_stored_bytes_secondary": [-1]},
        {"month": "2026-11", "instances": [{"instance_id": "i", "front_end_bytes": []}]},
        {"month": "2026-11", "instances": [{"instance_id": "i", "front_end_bytes": [-5]}]},
        {"month": "2026-11", "restore_bytes": -1},
    ],
)
def test_bad_usage_is_refused(usage: dict) -> None:
    with pytest.raises(ValidationError):
        MonthUsage.model_validate(usage)


def test_days_in_month() -> None:
    assert [days_in_month(m) for m in ("2026-01", "2026-02", "2028-02", "2026-11")] == [31, 28, 29, 30]


def test_bill_serialises_money_as_exact_strings() -> None:
    usage = MonthUsage(month="2026-11", instances=[InstanceUsage(instance_id="i", front_end_bytes=[GB])])
    document = estimate_bill(usage, DEFAULT).model_dump(mode="json")
    assert document["total"] == "5.00"
    assert document["instance_fees"] == [{"instance_id": "i", "protected_bytes": GB, "tier": "<=50 GB", "fee": "5.00"}]


sizes = st.integers(0, 5000 * GB)


@given(st.lists(st.lists(sizes, min_size=1, max_size=5), max_size=6),
       st.lists(sizes, max_size=30), st.lists(sizes, max_size=30))
def test_parts_add_up_to_the_total(instances, primary, secondary) -> None:
    usage = MonthUsage(
        month="2026-11",
        instances=[InstanceUsage(instance_id=f"i{n}", front_end_bytes=s) for n, s in enumerate(instances)],
        daily_stored_bytes_primary=primary, daily_stored_bytes_secondary=secondary)
    bill = estimate_bill(usage, DEFAULT)
    parts = sum((fee.fee for fee in bill.instance_fees), Decimal(0))
    assert bill.total == parts + bill.storage_primary + bill.storage_secondary + bill.restores + bill.egress
    assert bill.restores == bill.egress == 0
    assert all(fee.fee >= 5 for fee in bill.instance_fees)


@given(sizes, sizes)
def test_a_larger_instance_never_pays_less(smaller, larger) -> None:
    smaller, larger = sorted((smaller, larger))
    assert instance_fee("i", smaller, DEFAULT).fee <= instance_fee("i", larger, DEFAULT).fee


def test_cool_and_cold_parts_are_priced_at_their_tier_and_the_rest_at_hot():
    prices = PriceTable()
    usage = MonthUsage(month="2026-11", daily_stored_bytes_primary=[100 * GB] * 30,
                       daily_tier_bytes_primary={"cool": [60 * GB] * 30, "cold": [30 * GB] * 30})
    bill = estimate_bill(usage, prices)
    expected = 10 * prices.storage_gb_month["LRS"] + 60 * prices.tier_storage_gb_month["cool"]["LRS"] + (
        30 * prices.tier_storage_gb_month["cold"]["LRS"])
    assert bill.storage_primary == expected.quantize(Decimal("0.01"))
    hot_only = estimate_bill(MonthUsage(month="2026-11", daily_stored_bytes_primary=[100 * GB] * 30), prices)
    assert bill.storage_primary < hot_only.storage_primary


def test_the_paired_region_pays_each_tiers_grs_premium():
    prices = PriceTable()
    usage = MonthUsage(month="2026-11", daily_stored_bytes_primary=[10 * GB] * 30,
                       daily_stored_bytes_secondary=[10 * GB] * 30,
                       daily_tier_bytes_primary={"cool": [10 * GB] * 30}, daily_tier_bytes_secondary={"cool": [10 * GB] * 30})
    bill = estimate_bill(usage, prices)
    cool = prices.tier_storage_gb_month["cool"]
    assert bill.storage_primary + bill.storage_secondary == (10 * cool["GRS"]).quantize(Decimal("0.01"))


def test_early_deletion_charges_the_missed_days_at_the_tiers_price():
    prices = PriceTable()
    usage = MonthUsage(month="2026-11", early_deletion_gb_days={"cool": Decimal(300)})
    bill = estimate_bill(usage, prices)
    assert bill.early_deletion == (Decimal(300) * prices.tier_storage_gb_month["cool"]["LRS"] / 30).quantize(Decimal("0.01"))
    assert bill.total == bill.early_deletion


@pytest.mark.parametrize("usage", [
    {"month": "2026-11", "daily_stored_bytes_primary": [10], "daily_tier_bytes_primary": {"cool": [11]}},
    {"month": "2026-11", "daily_stored_bytes_primary": [10, 10], "daily_tier_bytes_primary": {"cool": [5]}},
    {"month": "2026-11", "daily_stored_bytes_primary": [10], "daily_tier_bytes_primary": {"cool": [6], "cold": [6]}},
    {"month": "2026-11", "early_deletion_gb_days": {"cold": "-1"}},
])
def test_tier_parts_must_fit_the_days_totals(usage):
    with pytest.raises(ValidationError):
        MonthUsage.model_validate(usage)
