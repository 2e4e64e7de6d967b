"""Tenant B's credentials against every route with tenant A's ids: 403 or 404, never data, no oracle.

Tenant A (the victim) has something behind each of its ids: a vault with a policy and metered
usage, a machine, a committed recovery point, an open backup session and an open restore session.
Every route the function app registers is called with each of tenant B's credentials and A's ids,
then again with ids that exist nowhere: both answers must be the same (status and body, or body
shape for B's own successful calls), so an answer never tells whether A's id exists.
"""

import secrets

import pytest

from shared.services.openapi_document import openapi_document
from tests.api.conftest import registered_routes

CREDENTIALS = ("admin_key", "token", "registration_key")
# Routes anyone may call; they name no tenant.
PUBLIC = {"getHealth", "getOpenApi"}
# (operation, credential) whose tenancy comes from the credential alone: the call acts on B's own
# vault (an instance's recovery-point listing ignores the vault parameter), so it may succeed or
# fail on B's data; it must still answer exactly as it does for unknown ids and show none of A's.
OWN_SCOPE = {("listVaults", "admin_key"), ("listRecoveryPoints", "token"), ("openBackupSession", "token"),
             ("setVaultKey", "token"), ("registerInstance", "registration_key")}
TENANT_IDS = ("vault_id", "name", "instance_id", "instance_name", "rp_id", "session_id", "restore_session_id")
ROUTES = registered_routes()


def _operation_id(route: tuple[str, str]) -> str:
    method, path = route
    return openapi_document()["paths"][path][method]["operationId"]


def _request(operation_id: str, path: str, ids: dict) -> tuple[str, dict | None]:
    """The route's path filled with `ids`, its query naming them, and a valid body naming them."""
    path = (path.replace("{vault}", ids["vault_id"]).replace("{instance}", ids["instance_id"])
            .replace("{rp}", ids["rp_id"]).replace("{queue}", "commits").replace("{message}", ids["rp_id"]))
    path = path.replace("{session}", ids["restore_session_id" if operation_id == "completeRestoreSession" else "session_id"])
    query = {
        "listRecoveryPoints": f"?vault={ids['vault_id']}&instance={ids['instance_id']}&state=all",
        "getRecoveryPoint": f"?vault={ids['vault_id']}", "deleteRecoveryPoint": f"?vault={ids['vault_id']}",
        "undeleteRecoveryPoint": f"?vault={ids['vault_id']}",
    }.get(operation_id, "")
    body = {
        "createVault": {"name": ids["name"]}, "updateVault": {"soft_delete_days": 3},
        "putPolicy": {"last": 1, "instance_id": ids["instance_id"]}, "registerInstance": {"name": f"intruder-{secrets.token_hex(4)}"},
        "commitBackupSession": {"commit_blob": f"commits/{ids['session_id']}.{'0' * 64}"},
        "setVaultKey": {"key_id": "0" * 32, "key_proof": "0" * 64},
        "openRestoreSession": {"recovery_point_id": ids["rp_id"]},
        "completeRestoreSession": {"bytes": 1}, "openBackupSession": {"vault_id": ids["vault_id"]},
    }.get(operation_id)
    return path + query, body


def _ghost() -> dict:
    """Ids of the same form as a tenant's that belong to nobody."""
    return {"vault_id": secrets.token_hex(16), "name": f"tenant-{secrets.token_hex(5)}",
            "instance_id": secrets.token_hex(16), "instance_name": f"machine-{secrets.token_hex(5)}",
            "rp_id": secrets.token_hex(16), "session_id": secrets.token_hex(16),
            "restore_session_id": secrets.token_hex(16)}


def _shape(value):
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def _leaked(payload, tenant: dict) -> list[str]:
    text = str(payload)
    return [key for key in TENANT_IDS if tenant[key] in text]


def test_every_registered_route_is_documented_and_probed():
    documented = {(method, path) for path, item in openapi_document()["paths"].items() for method in item}
    assert set(ROUTES) == documented and len(ROUTES) == len(documented)


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: f"{route[0].upper()} {route[1]}")
@pytest.mark.parametrize("credential", CREDENTIALS)
def test_other_tenants_credentials_never_see_data(api, tenants, route, credential):
    victim, attacker = tenants
    operation_id = _operation_id(route)
    method = route[0].upper()
    path, body = _request(operation_id, route[1], victim)
    status, payload = api.call(method, path, attacker[credential], body)
    assert not _leaked(payload, victim), f"{method} {path} answered {status} with the victim's {_leaked(payload, victim)}"
    ghost_path, ghost_body = _request(operation_id, route[1], _ghost())
    ghost_status, ghost_payload = api.call(method, ghost_path, attacker[credential], ghost_body)
    assert ghost_status == status, f"{method}: A's ids answer {status} {payload}, unknown ids {ghost_status} {ghost_payload}"
    if operation_id in PUBLIC:
        assert status == 200
    elif (operation_id, credential) in OWN_SCOPE:
        assert _shape(ghost_payload) == _shape(payload)
    else:
        assert status in (403, 404), (method, path, status, payload)
        assert ghost_payload == payload


def test_the_victim_has_data_behind_each_id(api, tenants):
    """Guards the test above: with A's own credentials the same ids do answer with data."""
    victim, _ = tenants
    for path in (f"/recovery-points/{victim['rp_id']}", f"/recovery-points?instance={victim['instance_id']}"):
        status, payload = api.call("GET", path, victim["token"])
        assert status == 200 and victim["rp_id"] in str(payload), (path, payload)
    for path in (f"/vaults/{victim['vault_id']}/instances/{victim['instance_id']}", f"/vaults/{victim['vault_id']}/policy",
                 f"/vaults/{victim['vault_id']}/usage"):
        status, payload = api.call("GET", path, victim["admin_key"])
        assert status == 200 and victim["vault_id"] in str(payload), (path, payload)
    assert api.call("GET", f"/vaults/{victim['vault_id']}/policy", victim["admin_key"])[1]["instances"]
    # The restore session is open: completing it is what the route with the victim's id would do.
    status, _ = api.call("POST", f"/restore-sessions/{victim['restore_session_id']}/complete", victim["token"], {"bytes": 0})
    assert status == 200


def test_unknown_and_foreign_ids_answer_alike(api, tenants):
    victim, attacker = tenants
    foreign = api.call("GET", f"/recovery-points/{victim['rp_id']}", attacker["token"])
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
