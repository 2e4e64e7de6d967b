"""One CosmosCatalog shared by many threads, as the function process shares it, on the local Cosmos server."""

from __future__ import annotations

import secrets
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.adapters.cosmos_documents import CosmosCatalog
from shared.settings import CosmosConnection

THREADS = 32
ROUNDS = 6
PAGE = 2

pytestmark = pytest.mark.stack


@pytest.fixture
def catalog(stack) -> CosmosCatalog:
    return CosmosCatalog(CosmosConnection(stack["COSMOS_ENDPOINT"], stack["COSMOS_KEY"]), "backup")


def _workload(catalog: CosmosCatalog, start: threading.Barrier) -> list[str]:
    """Creates, replaces, finds and pages through documents of a partition of its own; returns
    what went wrong (an exception, or a listing that lost or borrowed documents)."""
    vault_id = secrets.token_hex(16)
    docs = catalog.recovery_points
    problems, made = [], []
    start.wait()
    try:
        for round_no in range(ROUNDS):
            created = docs.create({"id": secrets.token_hex(16), "vault_id": vault_id, "type": "thread_probe",
                                   "round": round_no})
            made.append(created["id"])
            docs.replace({**created, "replaced": True}, created["_etag"])
            if docs.find(vault_id, created["id"]) is None:
                problems.append(f"find lost {created['id']}")
            listed, continuation = [], None
            while True:
                items, continuation = docs.query_page(vault_id, "c.type = 'thread_probe'", {}, order_by="c.id",
                                                      limit=PAGE, continuation=continuation)
                listed += [item["id"] for item in items]
                if not continuation:
                    break
            if listed != sorted(made):
                problems.append(f"paging listed {len(listed)} documents, not the {len(made)} of its partition")
            if len(list(docs.query(vault_id, "c.replaced = true"))) != len(made):
                problems.append("a query lost a replaced document")
        for doc_id in made:
            docs.delete(vault_id, doc_id)
    except Exception as exc:  # noqa: BLE001 - the test reports every failure, whatever its type
        problems.append(f"{type(exc).__name__}: {exc}")
    return problems


@pytest.fixture
def eager_thread_switches():
    """Threads switch every microsecond instead of every 5 ms, so a race on shared state shows in
    a few seconds instead of once in many thousand requests."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def test_threads_sharing_one_catalog_neither_crash_nor_read_each_others_pages(catalog, eager_thread_switches):
    start = threading.Barrier(THREADS)
    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(lambda _: _workload(catalog, start), range(THREADS)))
    problems = [problem for outcome in outcomes for problem in outcome]
    assert problems == []
