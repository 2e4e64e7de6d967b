"""Through the local host: a continuation token pages one listing to its end, and only that listing."""

import random
from urllib.parse import quote

import pytest

from tests.api.conftest import make_tenant
from tests.support.http_backup import backup, synthetic_pack, wait_for_state

pytestmark = pytest.mark.stack
REFUSED = "the continuation token is not one this listing returned"


@pytest.fixture(scope="module")
def three_points(api, stack) -> tuple[dict, list[str]]:
    """A tenant with three committed recovery points, and their ids newest first."""
    tenant = make_tenant(api, stack["BACKUP_ADMIN_KEY"])
    rng = random.Random(tenant["vault_id"])
    made = [wait_for_state(api, tenant["token"], backup(api, tenant, [synthetic_pack(rng)], rng), {"committed"})
            for _ in range(3)]
    return tenant, [rp["id"] for rp in sorted(made, key=lambda rp: rp["created"], reverse=True)]


def _page(api, token: str, query: str, continuation: str | None):
    path = f"/recovery-points?{query}" + (f"&continuation={quote(continuation)}" if continuation else "")
    return api.call("GET", path, token)


def _first_token(api, tenant: dict, query: str = "limit=1") -> str:
    status, page = _page(api, tenant["token"], query, None)
    assert status == 200 and page["continuation"], page
    return page["continuation"]


def test_a_returned_token_pages_to_the_end(api, three_points):
    tenant, newest_first = three_points
    seen, continuation = [], None
    for _ in range(len(newest_first) + 2):
        status, page = _page(api, tenant["token"], "limit=1", continuation)
        assert status == 200, page
        seen += [rp["id"] for rp in page["items"]]
        continuation = page["continuation"]
        if not continuation:
            break
    assert seen == newest_first and continuation is None


@pytest.mark.parametrize("junk", [
    "abc",
    '{"token":"x","range":{"min":"","max":"FF"}}',  # well-formed for the SDK; the local server ignores it
    "[]",
])
def test_a_token_the_service_never_returned_is_refused(api, three_points, junk):
    tenant, _ = three_points
    status, body = _page(api, tenant["token"], "limit=1", junk)
    assert (status, body) == (400, {"error": REFUSED})


def test_an_edited_token_is_refused(api, three_points):
    tenant, _ = three_points
    token = _first_token(api, tenant)
    edited = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert _page(api, tenant["token"], "limit=1", edited) == (400, {"error": REFUSED})


@pytest.mark.parametrize("other_filter", ["state=all", "state=deleted", "since=2020-01-01T00:00:00Z"])
def test_a_token_of_another_filter_is_refused(api, three_points, other_filter):
    tenant, _ = three_points
    token = _first_token(api, tenant)
    assert _page(api, tenant["token"], f"limit=1&{other_filter}", token) == (400, {"error": REFUSED})


def test_a_token_of_another_vault_is_refused(api, stack, three_points):
    tenant, _ = three_points
    token = _first_token(api, tenant)
    other = make_tenant(api, stack["BACKUP_ADMIN_KEY"])
    assert _page(api, other["token"], "limit=1", token) == (400, {"error": REFUSED})
