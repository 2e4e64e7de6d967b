"""Builds a vault's usage report for one month, with the estimated bill, from its usage documents."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.domain.pricing import Bill, InstanceUsage, MonthUsage, PriceTable, estimate_bill
from shared.errors import ServiceError
from shared.services.auth import Principal
from shared.services.metering import VAULT_WIDE, as_utc
from shared.services.vaults import resolve_vault

_SUMMED = ("backups", "restores", "restore_bytes", "egress_bytes", "replicated_bytes", "transactions")


class UsageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    month: str | None = Field(default=None, pattern=r"^\d{4}-(0[1-9]|1[0-2])$")  # None: this month

    @field_validator("month")
    @classmethod
    def _representable(cls, value: str | None) -> str | None:
        # The report reads the day after the month's end: 9999-12 has none, and there is no year 0.
        if value is not None and not "0001" <= value[:4] <= "9998":
            raise ValueError("month must be between 0001-01 and 9998-12")
        return value


def month_report(rt, principal: Principal, vault_ident: str, query: UsageQuery) -> dict:
    principal.require("operator", "vault_admin")
    vault = resolve_vault(rt, principal, vault_ident)
    today = as_utc(rt.clock()).date()
    month = query.month or today.strftime("%Y-%m")
    first, last = _month_bounds(month)
    # A past month counts all its days; the current one the days so far (a projection).
    days = [first + timedelta(days=n) for n in range((min(last, today) - first).days + 1)]

    counters = _day_documents(rt, vault["id"], last)
    in_month = [doc for doc in counters if doc["date"] >= first.isoformat()]
    instances, protected_bytes = _protected_instances(rt, vault["id"], counters, in_month, first, last)
    primary, secondary = _daily_stored(rt, vault["id"], days, last)
    totals = {name: sum(doc[name] for doc in in_month) for name in _SUMMED}
    usage = MonthUsage(
        month=month, instances=list(instances.values()),
        daily_stored_bytes_primary=primary, daily_stored_bytes_secondary=secondary,
        **{name: totals[name] for name in ("restores", "restore_bytes", "egress_bytes", "transactions")},
    )
    bill = estimate_bill(usage, _price_table(rt))
    return {
        "month": month, "vault_id": vault["id"], "vault": vault["name"], "redundancy": vault["redundancy"],
        "days": len(days),
        "protected_instances": len(instances),
        "protected_bytes": sum(protected_bytes.values()),
        "stored_bytes_primary": primary[-1] if primary else 0,
        "stored_bytes_secondary": secondary[-1] if secondary else 0,
        "average_stored_bytes_primary": _average(primary),
        "average_stored_bytes_secondary": _average(secondary),
        **totals,
        "estimated_cost": _cost_view(bill),
    }


def _month_bounds(month: str) -> tuple[date, date]:
    year, number = (int(part) for part in month.split("-"))
    return date(year, number, 1), date(year, number, calendar.monthrange(year, number)[1])


def _day_documents(rt, vault_id: str, last: date) -> list[dict]:
    """Every counter document up to the month's end (earlier months give the protected size then)."""
    return list(rt.catalog.usage.query(
        vault_id, "c.type = 'day' AND c.date <= @last", {"last": last.isoformat()},
        select="c.instance_id, c.date, c.latest_backup_at, c.latest_backup_event, c.backup_bytes, "
        "c.backup_bytes_max, " + ", ".join(f"c.{name}" for name in _SUMMED),
    ))


def _protected_instances(rt, vault_id: str, counters: list[dict], in_month: list[dict],
                         first: date, last: date) -> tuple[dict[str, InstanceUsage], dict[str, int]]:
    """Instances protected in the month: the front-end sizes seen in it, and the size at its end.

    Protected: backed up during the month, or holding a recovery point created by the month's
    end that is still committed today. Sizes seen: the latest backup before the month (the size
    it entered the month with), then the largest backup of each day of the month. The size at
    the end is the latest backup's, not a sum.
    """
    ids = {doc["instance_id"] for doc in in_month if doc["backups"] > 0}
    end = (last + timedelta(days=1)).isoformat()
    kept = rt.catalog.recovery_points.query(
        vault_id, "c.type = 'recovery_point' AND c.state = 'committed' AND c.created < @end",
        {"end": end}, select="c.instance_id, c.summary.bytes",
    )
    fallback: dict[str, int] = {}
    for rp in kept:
        ids.add(rp["instance_id"])
        fallback[rp["instance_id"]] = max(fallback.get(rp["instance_id"], 0), rp.get("bytes") or 0)
    instances, protected = {}, {}
    for instance_id in sorted(ids - {VAULT_WIDE}):
        backed_up = [d for d in counters if d["instance_id"] == instance_id and d["backups"] > 0]
        before = [d for d in backed_up if d["date"] < first.isoformat()]
        sizes = [_latest(before)["backup_bytes"]] if before else []
        sizes += [d["backup_bytes_max"] for d in backed_up if d["date"] >= first.isoformat()]
        # No metered backup at all (metering lagging behind the catalog): the catalog's figure.
        protected[instance_id] = _latest(backed_up)["backup_bytes"] if backed_up else fallback.get(instance_id, 0)
        instances[instance_id] = InstanceUsage(instance_id=instance_id, front_end_bytes=sizes or [protected[instance_id]])
    return instances, protected


def _latest(backed_up: list[dict]) -> dict:
    """The day document holding the latest backup (by when it happened, then by event id)."""
    return max(backed_up, key=lambda d: (d["latest_backup_at"], d["latest_backup_event"]))


def _daily_stored(rt, vault_id: str, days: list[date], last: date) -> tuple[list[int], list[int]]:
    """Stored bytes per region for each day, carrying forward the last day that has a figure."""
    snapshots = list(rt.catalog.usage.query(
        vault_id, "c.type = 'stored' AND c.date <= @last", {"last": last.isoformat()},
        select="c.date, c.stored_bytes_primary, c.stored_bytes_secondary", order_by="c.date",
    ))
    primary, secondary = [], []
    current = {"stored_bytes_primary": 0, "stored_bytes_secondary": 0}
    pending = iter(snapshots)
    upcoming = next(pending, None)
    for day in days:
        while upcoming is not None and upcoming["date"] <= day.isoformat():
            current, upcoming = upcoming, next(pending, None)
        primary.append(current["stored_bytes_primary"])
        secondary.append(current["stored_bytes_secondary"])
    return primary, secondary


def _average(figures: list[int]) -> int:
    return round(sum(figures) / len(figures)) if figures else 0


def _price_table(rt) -> PriceTable:
    try:
        return PriceTable.model_validate(dict(rt.settings.price_table))
    except ValidationError as exc:
        raise ServiceError(f"app setting PRICE_TABLE is invalid: {exc.errors()[0]['msg']}") from exc


def _cost_view(bill: Bill) -> dict[str, Any]:
    """The bill as JSON numbers (amounts are already rounded to the table's decimal places)."""
    def number(amount: Decimal) -> float | int:
        return int(amount) if amount == amount.to_integral_value() else float(amount)

    return {
        "currency": bill.currency,
        "instance_fees": [
            {"instance_id": fee.instance_id, "protected_bytes": fee.protected_bytes, "tier": fee.tier,
             "fee": number(fee.fee)}
            for fee in bill.instance_fees
        ],
        "storage_primary_gb_month": number(bill.storage_primary_gb_month),
        "storage_secondary_gb_month": number(bill.storage_secondary_gb_month),
        "storage_primary": number(bill.storage_primary),
        "storage_secondary": number(bill.storage_secondary),
        "restores": number(bill.restores),
        "egress": number(bill.egress),
        "total": number(bill.total),
    }
