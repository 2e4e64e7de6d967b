"""The local Cosmos DB server behaves as Cosmos DB does where devstack/cosmos_server.js corrects the library.

A point read of a missing document is a 404; a partition-scoped query sees only its partition;
the query compiler's rewritten FROM clause gives the same answers (joins, ordering, aggregates,
paging), and it applies to every query shape the service sends.
"""

from __future__ import annotations

import json
import secrets
import subprocess

import pytest

from devstack.stack import REPO_ROOT

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def container(stack):
    from azure.cosmos import CosmosClient, PartitionKey

    client = CosmosClient(stack["COSMOS_ENDPOINT"], credential=stack["COSMOS_KEY"], connection_verify=False)
    database = client.create_database_if_not_exists("devstack-probe")
    name = f"probe-{secrets.token_hex(4)}"
    created = database.create_container(name, partition_key=PartitionKey("/pk"))
    for part in ("a", "b"):
        for n in range(30):
            created.create_item({"id": f"{part}{n:02d}", "pk": part, "n": n, "tags": [n % 3, n % 5],
                                 "created": f"2026-01-{n % 28 + 1:02d}T{n:02d}"})
    yield created
    database.delete_container(name)


def _query(container, sql, partition="a", parameters=None, **options):
    """The query in one partition (the local server wants the key in the WHERE clause too)."""
    where = " FROM c WHERE c.pk = @pk" + (" AND " if " WHERE " in sql else "")
    scoped = sql.replace(" FROM c WHERE ", where, 1) if " WHERE " in sql else sql.replace(" FROM c", where, 1)
    parameters = [*(parameters or []), {"name": "@pk", "value": partition}]
    return list(container.query_items(scoped, parameters=parameters, partition_key=partition, **options))


def test_a_point_read_of_a_missing_document_is_not_found_at_once(container):
    from azure.cosmos import exceptions

    with pytest.raises(exceptions.CosmosResourceNotFoundError):  # the library answered 500, retried by the SDK
        container.read_item("nothing-here", partition_key="a")
    assert container.read_item("a01", partition_key="a")["n"] == 1


def test_a_partition_scoped_query_sees_only_its_partition(container):
    # The key in the WHERE clause would filter anyway: ask for the other partition's ids by name.
    other = list(container.query_items("SELECT * FROM c WHERE c.pk = 'a' OR c.pk = 'b'", partition_key="a"))
    assert {item["id"][0] for item in other} == {"a"}
    assert len(_query(container, "SELECT * FROM c", partition="b")) == 30
    everything = list(container.query_items("SELECT * FROM c", enable_cross_partition_query=True))
    assert len(everything) == 60


@pytest.mark.parametrize("sql, expected", [
    ("SELECT VALUE COUNT(1) FROM c", [30]),
    ("SELECT VALUE SUM(c.n) FROM c WHERE c.n < 10", [45]),
    ("SELECT TOP 3 c.id FROM c ORDER BY c.n DESC", [{"id": "a29"}, {"id": "a28"}, {"id": "a27"}]),
    ("SELECT VALUE c.id FROM c JOIN t IN c.tags WHERE t = 4 AND c.n < 20", ["a04", "a09", "a14", "a19"]),
    ("SELECT VALUE c.n FROM c WHERE ARRAY_CONTAINS(@ids, c.id)", [3, 7]),
])
def test_answers_are_those_of_the_query(container, sql, expected):
    parameters = [{"name": "@ids", "value": ["a03", "a07"]}] if "@ids" in sql else None
    answer = _query(container, sql, parameters=parameters)
    assert (sorted(answer) if isinstance(expected[0], (int, str)) else answer) == expected


def test_paging_with_continuation_tokens_visits_every_document_once(container):
    pages = container.query_items("SELECT c.id FROM c WHERE c.pk = 'a' ORDER BY c.created", partition_key="a",
                                  max_item_count=7).by_page()
    seen = [item["id"] for page in pages for item in page]
    assert sorted(seen) == sorted(f"a{n:02d}" for n in range(30)) and len(seen) == 30


def test_every_query_shape_the_service_sends_compiles_without_the_quadratic_from_clause():
    """The rewrite must apply to each shape (it is a text rewrite of the compiler's output):
    filtered, ordered, aggregated, projected and TOP queries. (A JOIN keeps a quadratic step of
    its own; the service sends none.)"""
    shapes = ["SELECT * FROM c WHERE c.vault_id = @v AND (c.type = 'pack')",
              "SELECT c.id, c.state FROM c WHERE c.vault_id = @v ORDER BY c.created DESC",
              "SELECT VALUE COUNT(1) FROM c WHERE c.vault_id = @v", "SELECT TOP 1 c.id FROM c WHERE c.x = 1",
              "SELECT VALUE SUM(c.size) FROM c WHERE c.vault_id = @v"]
    script = f"""
const query = require("@zeit/cosmosdb-query").default;
const {{ linearFrom }} = require("./devstack/cosmos_server_patches.js");
for (const sql of {json.dumps(shapes)}) {{
  const code = linearFrom(query(sql).code);
  if (code.includes("[...$")) {{ console.log("quadratic: " + sql); process.exit(1); }}
}}"""
    result = subprocess.run(["node", "-e", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
