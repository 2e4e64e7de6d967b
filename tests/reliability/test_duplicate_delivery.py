"""Row 3: every queue message delivered 2 and 5 times, shuffled, racing, some late, changes nothing.

The same seeded workload runs once with single, in-order delivery and once with duplicates; the two
vaults must end identical: recovery points, pack documents and references, usage counters (so
metering counted every event once), stored bytes and the blobs of both regions.
"""

from __future__ import annotations

import random

import pytest

from tests.reliability.delivery import Deliverer
from tests.reliability.service_workload import run_workload
from tests.support.runtimes import fixed_clock, private_queues, service_runtime
from tests.support.vault_view import differences, vault_view


def _run(stack, seed: int, copies: int, size: int) -> tuple[dict, Deliverer]:
    clock = fixed_clock()
    rt = service_runtime(stack, clock, **private_queues())
    deliverer = Deliverer(rt, stack["PRIMARY_STORAGE_CONNECTION_STRING"], random.Random(seed + copies),
                          copies=copies, workers=1 if copies == 1 else 4, late_share=0.0 if copies == 1 else 0.3)
    vault, names = run_workload(rt, clock, seed, deliverer, size=size)
    return vault_view(rt, vault.vault_id, names, clock_fields=True), deliverer


def _check(stack, seed: int, size: int) -> None:
    once, single = _run(stack, seed, 1, size)
    assert not single.poison, f"seed {seed}: single delivery poisoned {single.poison}"
    assert once["recovery_points"] and once["usage"], "the workload produced nothing to compare"
    for copies in (2, 5):
        repeated, deliverer = _run(stack, seed, copies, size)
        assert not deliverer.poison, f"seed {seed}: valid messages would end in poison: {deliverer.poison[:3]}"
        found = differences(once, repeated)
        assert not found, f"seed {seed}, {copies} deliveries each: " + "; ".join(found[:8])


@pytest.mark.stack
def test_duplicated_shuffled_deliveries_end_as_single_delivery(stack, rng):
    _check(stack, rng.randrange(1 << 31), size=3)


@pytest.mark.stack
@pytest.mark.soak
@pytest.mark.timeout(3600)
def test_soak_duplicated_deliveries_over_many_seeds(stack, rng):
    for _ in range(12):
        _check(stack, rng.randrange(1 << 31), size=rng.randint(4, 12))
