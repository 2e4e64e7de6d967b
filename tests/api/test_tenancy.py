"""Tenant B's credentials against every route with tenant A's ids: 401, 403 or 404, never data."""

import pytest

from shared.services.openapi_document import OPERATIONS

PUBLIC = {"getHealth", "getOpenApi"}


def _path(template: str, tenant: dict) -> str:
    return (template.replace("{vault}", tenant["vault_id"]).replace("{instance}", tenant["instance_id"])
            .replace("{rp}", tenant["session_id"]).replace("{session}", tenant["session_id"])
            .replace("{queue}", "commits").replace("{message}", "x"))


def _leaks(payload, tenant: dict) -> bool:
    text = str(payload)
    return any(tenant[k] in text for k in ("vault_id", "instance_id", "name", "session_id"))


@pytest.mark.parametrize("operation", [op for op in OPERATIONS if op[2] not in PUBLIC], ids=lambda op: op[2])
@pytest.mark.parametrize("credential", ["admin_key", "token", "registration_key"])
def test_other_tenants_credentials_never_see_data(api, tenants, operation, credential):
    victim, attacker = tenants
    method, template = operation[0].upper(), operation[1]
    path = _path(template, victim)
    if "{" not in template and template in ("/recovery-points",):
        path += f"?vault={victim['vault_id']}&instance={victim['instance_id']}"
    elif method in ("GET", "DELETE") or template.endswith("/undelete"):
        path += f"?vault={victim['vault_id']}"
    body = {"recovery_point_id": victim["session_id"], "commit_blob": f"commits/{victim['session_id']}",
            "key_id": "0" * 32, "bytes": 1, "name": "x", "daily": 1}
    status, payload = api.call(method, path, attacker[credential], body)
    if status < 400:
        assert not _leaks(payload, victim), f"{method} {path} answered {status} with the victim's data"
    else:
        assert status in (400, 401, 403, 404, 409), (status, payload)
        assert not _leaks(payload, victim)


def test_unknown_and_foreign_ids_answer_alike(api, tenants):
    victim, attacker = tenants
    foreign = api.call("GET", f"/recovery-points/{victim['session_id']}", attacker["token"])
    unknown = api.call("GET", f"/recovery-points/{'0' * 32}", attacker["token"])
    assert foreign == unknown == (404, {"error": "recovery point not found"})
    foreign = api.call("GET", f"/vaults/{victim['vault_id']}", attacker["admin_key"])
    unknown = api.call("GET", f"/vaults/{'0' * 32}", attacker["admin_key"])
    assert foreign == unknown == (404, {"error": "vault not found"})


def test_the_vault_comes_from_the_credential_not_the_body(api, tenants):
    victim, attacker = tenants
    status, session = api.call("POST", "/backup-sessions", attacker["token"], {"vault_id": victim["vault_id"]})
    assert status == 201 and victim["vault_id"] not in session["container_url"]


def test_bad_credentials_are_401(api):
    for token in (None, "garbage", "bko_" + "A" * 43, "bkv_" + "0" * 32 + "_" + "A" * 43):
        status, payload = api.call("GET", "/vaults", token)
        assert status == 401 and set(payload) == {"error"}
