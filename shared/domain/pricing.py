"""Estimates a vault's monthly bill from its usage with the seed's billing model.

Pure: no I/O, no Azure. The model (PRODUCT.md promise 6, shaped like Azure Backup's pricing):

* A fee per protected instance per month, by the instance's protected (front-end) size: the
  tier whose ``up_to_gb`` first holds it; above the last tier, ``increment_fee`` for each
  started ``increment_gb`` (1,200 GB is 3 x 500 GB). The size billed is the *largest* front-end
  size seen in the month, so an estimate never drops because of the day it is read.
* Storage per GB-month: the average of the daily stored bytes over the days of the month that
  have a figure (all days for a past month; so far, for the current one, which makes the
  estimate a projection of the whole month). The primary copy is priced at the LRS rate; the
  paired-region copy at the GRS premium (GRS - LRS rate), so a fully replicated GRS vault pays
  exactly the GRS rate and a lagging replica is not charged before it exists.
* Storage tiers: packs may sit in the Cool or Cold tier (cheaper per GB-month, with a minimum
  storage duration); the daily figures of those tiers are priced at ``tier_storage_gb_month``
  and the rest at the Hot price above. A blob deleted before its tier's minimum duration is
  charged the days it missed (``early_deletion_gb_days``, at that tier's price per day).
* Restores and egress are recorded and never charged: their prices must be 0.
* A GB is 2**30 bytes, as in Azure's storage billing. Each part is rounded half-up to
  ``decimal_places``; the total is the sum of the rounded parts, so the parts add up.
"""

from __future__ import annotations

import calendar
import re
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

GB = 2**30
_GB_MONTH_PLACES = Decimal("0.000001")  # how precisely the bill reports GB-months

_Money = Field(ge=0)


class InstanceTier(BaseModel):
    """A protected-instance size tier: instances up to `up_to_gb` pay `monthly_fee`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    up_to_gb: Decimal = Field(gt=0)
    monthly_fee: Decimal = _Money


class PriceTable(BaseModel):
    """Prices of the billing model; the defaults follow Azure Backup's pay-as-you-go list prices."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    instance_tiers: tuple[InstanceTier, ...] = (
        InstanceTier(up_to_gb=Decimal(50), monthly_fee=Decimal(5)),
        InstanceTier(up_to_gb=Decimal(500), monthly_fee=Decimal(10)),
    )
    increment_gb: Decimal = Field(default=Decimal(500), gt=0)
    increment_fee: Decimal = Field(default=Decimal(10), ge=0)
    storage_gb_month: dict[Literal["LRS", "GRS"], Decimal] = {
        "LRS": Decimal("0.0224"),
        "GRS": Decimal("0.0448"),
    }
    # Cool and Cold prices per redundancy (Hot is storage_gb_month), and their minimum days.
    tier_storage_gb_month: dict[Literal["cool", "cold"], dict[Literal["LRS", "GRS"], Decimal]] = {
        "cool": {"LRS": Decimal("0.0122"), "GRS": Decimal("0.0244")},
        "cold": {"LRS": Decimal("0.0045"), "GRS": Decimal("0.0090")},
    }
    tier_minimum_days: dict[Literal["cool", "cold"], int] = {"cool": 30, "cold": 90}
    # Present so that configuration and the bill both state the promise; anything else is refused.
    restore_gb: Decimal = Field(default=Decimal(0), ge=0, le=0)
    egress_gb: Decimal = Field(default=Decimal(0), ge=0, le=0)
    decimal_places: int = Field(default=2, ge=0, le=6)

    @field_validator("instance_tiers")
    @classmethod
    def _tiers_ascend(cls, tiers: tuple[InstanceTier, ...]) -> tuple[InstanceTier, ...]:
        if not tiers:
            raise ValueError("at least one instance tier is needed")
        bounds = [tier.up_to_gb for tier in tiers]
        if bounds != sorted(set(bounds)):
            raise ValueError("instance tiers must have strictly ascending up_to_gb")
        return tiers

    @model_validator(mode="after")
    def _storage_prices(self) -> PriceTable:
        if set(self.storage_gb_month) != {"LRS", "GRS"}:
            raise ValueError("storage_gb_month needs both an LRS and a GRS price")
        for prices in (self.storage_gb_month, *self.tier_storage_gb_month.values()):
            if set(prices) != {"LRS", "GRS"}:
                raise ValueError("every tier needs both an LRS and a GRS price")
            if prices["GRS"] < prices["LRS"]:
                raise ValueError("the GRS storage price cannot be below the LRS price")
            if min(prices.values()) < 0:
                raise ValueError("storage prices cannot be negative")
        return self

    def gb_month(self, tier: str, redundancy: Literal["LRS", "GRS"]) -> Decimal:
        """The price of a GB-month in `tier` ("hot", "cool" or "cold")."""
        return self.storage_gb_month[redundancy] if tier == "hot" else self.tier_storage_gb_month[tier][redundancy]


class InstanceUsage(BaseModel):
    """One protected instance in the month: the front-end sizes seen (one per day or per backup)."""

    instance_id: str
    front_end_bytes: list[int] = Field(min_length=1)

    @field_validator("front_end_bytes")
    @classmethod
    def _non_negative(cls, sizes: list[int]) -> list[int]:
        if min(sizes) < 0:
            raise ValueError("front-end sizes cannot be negative")
        return sizes


class MonthUsage(BaseModel):
    """A vault's usage in one month; daily lists hold one figure per day, oldest first."""

    model_config = ConfigDict(extra="forbid")

    month: str
    instances: list[InstanceUsage] = []
    daily_stored_bytes_primary: list[int] = []
    daily_stored_bytes_secondary: list[int] = []
    # The part of each day's figure (same days) held in the Cool or Cold tier; the rest is Hot.
    daily_tier_bytes_primary: dict[Literal["cool", "cold"], list[int]] = {}
    daily_tier_bytes_secondary: dict[Literal["cool", "cold"], list[int]] = {}
    # GB-days a blob deleted before its tier's minimum duration missed, by tier.
    early_deletion_gb_days: dict[Literal["cool", "cold"], Decimal] = {}
    restores: int = Field(default=0, ge=0)
    restore_bytes: int = Field(default=0, ge=0)
    egress_bytes: int = Field(default=0, ge=0)
    transactions: int = Field(default=0, ge=0)

    @field_validator("month")
    @classmethod
    def _month(cls, month: str) -> str:
        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
            raise ValueError("month must be YYYY-MM")
        return month

    @model_validator(mode="after")
    def _days_fit_month(self) -> MonthUsage:
        days = days_in_month(self.month)
        for name in ("daily_stored_bytes_primary", "daily_stored_bytes_secondary"):
            figures = getattr(self, name)
            if len(figures) > days:
                raise ValueError(f"{name} has more figures than {self.month} has days")
            if figures and min(figures) < 0:
                raise ValueError(f"{name} cannot hold negative figures")
            tiers = getattr(self, name.replace("stored_bytes", "tier_bytes"))
            for tier, parts in tiers.items():
                if len(parts) != len(figures) or any(part < 0 or part > whole for part, whole in zip(parts, figures)):
                    raise ValueError(f"the {tier} part of {name} must be a figure per day within the day's total")
            if any(sum(day) > whole for day, whole in zip(zip(*tiers.values()), figures)):
                raise ValueError(f"the tier parts of {name} exceed the day's total")
        if any(value < 0 for value in self.early_deletion_gb_days.values()):
            raise ValueError("early deletion GB-days cannot be negative")
        return self


class InstanceFee(BaseModel):
    """The fee of one protected instance and the tier it falls in."""

    instance_id: str
    protected_bytes: int
    tier: str
    fee: Decimal


class Bill(BaseModel):
    """The estimated bill of a month, in parts that add up to the total."""

    month: str
    currency: str
    instance_fees: list[InstanceFee]
    storage_primary_gb_month: Decimal
    storage_secondary_gb_month: Decimal
    storage_primary: Decimal
    storage_secondary: Decimal
    storage_by_tier: dict[str, Decimal]  # primary and secondary together, by tier (each rounded on its own)
    early_deletion: Decimal
    restores: Decimal
    egress: Decimal
    total: Decimal


def instance_fee(instance_id: str, protected_bytes: int, prices: PriceTable) -> InstanceFee:
    """The tier and monthly fee of an instance protecting `protected_bytes` front-end bytes."""
    size_gb = Decimal(protected_bytes) / GB
    lower = Decimal(0)
    for tier in prices.instance_tiers:
        if size_gb <= tier.up_to_gb:
            label = f"<={_gb(tier.up_to_gb)} GB" if lower == 0 else f"{_gb(lower)}-{_gb(tier.up_to_gb)} GB"
            return InstanceFee(instance_id=instance_id, protected_bytes=protected_bytes, tier=label,
                               fee=tier.monthly_fee)
        lower = tier.up_to_gb
    increments = (size_gb / prices.increment_gb).to_integral_value(rounding=ROUND_CEILING)
    label = f">{_gb(lower)} GB ({increments} x {_gb(prices.increment_gb)} GB)"
    return InstanceFee(instance_id=instance_id, protected_bytes=protected_bytes, tier=label,
                       fee=increments * prices.increment_fee)


def estimate_bill(usage: MonthUsage, prices: PriceTable) -> Bill:
    """The month's estimated bill: instance fees, storage per copy, restores and egress at 0."""
    cents = Decimal(1).scaleb(-prices.decimal_places)

    def money(amount: Decimal) -> Decimal:
        return amount.quantize(cents, rounding=ROUND_HALF_UP)

    fees = []
    for instance in sorted(usage.instances, key=lambda instance: instance.instance_id):
        fee = instance_fee(instance.instance_id, max(instance.front_end_bytes), prices)
        fees.append(fee.model_copy(update={"fee": money(fee.fee)}))
    primary_gb_month = _average(usage.daily_stored_bytes_primary) / GB
    secondary_gb_month = _average(usage.daily_stored_bytes_secondary) / GB
    primary = _by_tier(usage.daily_stored_bytes_primary, usage.daily_tier_bytes_primary)
    secondary = _by_tier(usage.daily_stored_bytes_secondary, usage.daily_tier_bytes_secondary)
    by_tier = {tier: money(primary[tier] * prices.gb_month(tier, "LRS") + secondary[tier] * (
        prices.gb_month(tier, "GRS") - prices.gb_month(tier, "LRS"))) for tier in TIERS}
    storage_primary = money(sum((primary[tier] * prices.gb_month(tier, "LRS") for tier in TIERS), Decimal(0)))
    storage_secondary = money(sum((secondary[tier] * (prices.gb_month(tier, "GRS") - prices.gb_month(tier, "LRS"))
                                   for tier in TIERS), Decimal(0)))
    early = money(sum((gb_days * prices.gb_month(tier, "LRS") / days_in_month(usage.month)
                       for tier, gb_days in usage.early_deletion_gb_days.items()), Decimal(0)))
    restores = money(Decimal(usage.restore_bytes) / GB * prices.restore_gb)
    egress = money(Decimal(usage.egress_bytes) / GB * prices.egress_gb)
    total = (sum((fee.fee for fee in fees), Decimal(0)) + storage_primary + storage_secondary + early
             + restores + egress)
    return Bill(
        month=usage.month,
        currency=prices.currency,
        instance_fees=fees,
        storage_primary_gb_month=primary_gb_month.quantize(_GB_MONTH_PLACES, rounding=ROUND_HALF_UP),
        storage_secondary_gb_month=secondary_gb_month.quantize(_GB_MONTH_PLACES, rounding=ROUND_HALF_UP),
        storage_primary=storage_primary,
        storage_secondary=storage_secondary,
        storage_by_tier=by_tier,
        early_deletion=early,
        restores=restores,
        egress=egress,
        total=money(total),
    )


def days_in_month(month: str) -> int:
    """How many days the month `YYYY-MM` has."""
    year, number = (int(part) for part in month.split("-"))
    return calendar.monthrange(year, number)[1]


TIERS = ("hot", "cool", "cold")


def _by_tier(daily: list[int], tiers: dict[str, list[int]]) -> dict[str, Decimal]:
    """The month's average GB per tier; Hot is what the Cool and Cold parts leave of each day."""
    averages = {tier: _average(tiers.get(tier, [])) / GB for tier in ("cool", "cold")}
    return {"hot": _average(daily) / GB - sum(averages.values()), **averages}


def _average(figures: list[int]) -> Decimal:
    return Decimal(sum(figures)) / len(figures) if figures else Decimal(0)


def _gb(amount: Decimal) -> str:
    return format(amount.normalize(), "f")
