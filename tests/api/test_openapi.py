"""The OpenAPI document is served and describes exactly the routes the function app registers."""

import random
import re
from urllib.parse import quote

import jsonschema
import pytest

from shared.services.openapi_document import CONFLICTS, OPERATIONS, RESPONSES, openapi_document
from tests.api.conftest import make_tenant, registered_routes
from tests.support.http_backup import backup, synthetic_pack, wait_for_state


def test_document_lists_exactly_the_registered_routes():
    documented = {(method, path) for path, item in openapi_document()["paths"].items() for method in item}
    assert documented == set(registered_routes())


def test_document_is_served(api):
    status, document = api.call("GET", "/openapi.json")
    assert status == 200 and document["openapi"].startswith("3.")
    assert document == openapi_document() or set(document["paths"]) == set(openapi_document()["paths"])


def test_every_path_parameter_is_declared():
    for path, item in openapi_document()["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for operation in item.values():
            declared = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
            assert declared == names, path


def test_bad_bodies_are_400_with_one_line_reason(api, tenants):
    victim, _ = tenants
    for raw in (b"not json", b"[]", b'{"name": 5}', b'{"name": "x", "surprise": 1}'):
        status, payload = api.call("POST", "/instances", victim["registration_key"], raw=raw)
        assert status == 400 and "\n" not in payload["error"], payload


def _success_schema(operation_id: str) -> dict:
    method, path, status = next((op[0], op[1], op[8]) for op in OPERATIONS if op[2] == operation_id)
    return openapi_document()["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]


def test_every_success_response_has_a_valid_schema_and_conflicts_are_documented():
    for method, path, operation_id, *_ in OPERATIONS:
        schema = _success_schema(operation_id)
        assert schema.get("type") == "object", operation_id
        jsonschema.Draft202012Validator.check_schema(schema)
        responses = openapi_document()["paths"][path][method]["responses"]
        assert set(CONFLICTS.get(operation_id, {})) <= set(responses), operation_id
    assert set(RESPONSES) == {op[2] for op in OPERATIONS}


def test_live_responses_match_their_schemas(api, tenants, stack):
    """The main objects as the host returns them: vault, instance, recovery point, page, policy, usage, session."""
    victim, _ = tenants
    operator, admin, token = stack["BACKUP_ADMIN_KEY"], victim["admin_key"], victim["token"]
    vault = f"/vaults/{victim['vault_id']}"
    calls = [
        ("listVaults", "GET", "/vaults", operator, None), ("getVault", "GET", vault, admin, None),
        ("listInstances", "GET", f"{vault}/instances", admin, None),
        ("getInstance", "GET", f"{vault}/instances/{victim['instance_id']}", admin, None),
        ("getPolicy", "GET", f"{vault}/policy", admin, None), ("getUsage", "GET", f"{vault}/usage", admin, None),
        ("listRecoveryPoints", "GET", "/recovery-points?state=all", token, None),
        ("getRecoveryPoint", "GET", f"/recovery-points/{victim['rp_id']}", token, None),
        ("openBackupSession", "POST", "/backup-sessions", token, {}),
        ("openRestoreSession", "POST", "/restore-sessions", token, {"recovery_point_id": victim["rp_id"]}),
        ("listPoison", "GET", "/poison", operator, None), ("getOpenApi", "GET", "/openapi.json", None, None),
    ]
    for operation_id, method, path, credential, body in calls:
        status, payload = api.call(method, path, credential, body)
        assert status < 300, (operation_id, status, payload)
        jsonschema.validate(payload, _success_schema(operation_id))
    with pytest.raises(jsonschema.ValidationError):  # the check has teeth
        jsonschema.validate({"vault_id": "nope"}, _success_schema("getVault"))


@pytest.mark.stack
def test_recovery_points_page_with_continuation_and_filter_by_time(api, stack):
    tenant = make_tenant(api, stack["BACKUP_ADMIN_KEY"])
    rng = random.Random(tenant["vault_id"])
    made = []
    for _ in range(3):  # one after the other: each is cataloged, so `created` ascends
        rp_id = backup(api, tenant, [synthetic_pack(rng)], rng)
        made.append(wait_for_state(api, tenant["token"], rp_id, {"committed"}))
    newest_first = [rp["id"] for rp in sorted(made, key=lambda rp: rp["created"], reverse=True)]

    seen, continuation, pages = [], None, 0
    while True:
        path = "/recovery-points?limit=1" + (f"&continuation={quote(continuation)}" if continuation else "")
        status, page = api.call("GET", path, tenant["token"])
        assert status == 200 and len(page["items"]) <= 1, page
        jsonschema.validate(page, _success_schema("listRecoveryPoints"))
        seen += [rp["id"] for rp in page["items"]]
        pages += 1
        continuation = page["continuation"]
        if not continuation:
            break
        assert pages < 10, "the listing never ended"
    assert seen == newest_first and pages >= 3

    oldest, middle, newest = sorted(made, key=lambda rp: rp["created"])
    status, page = api.call("GET", f"/recovery-points?since={quote(middle['created'])}", tenant["token"])
    assert status == 200 and [rp["id"] for rp in page["items"]] == [newest["id"], middle["id"]]
    status, page = api.call("GET", f"/recovery-points?until={quote(newest['created'])}", tenant["token"])
    assert status == 200 and [rp["id"] for rp in page["items"]] == [middle["id"], oldest["id"]]
    window = f"since={quote(oldest['created'])}&until={quote(newest['created'])}&limit=1"
    status, page = api.call("GET", f"/recovery-points?{window}", tenant["token"])
    assert status == 200 and [rp["id"] for rp in page["items"]] == [middle["id"]] and page["continuation"]
