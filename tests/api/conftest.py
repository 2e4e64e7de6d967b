"""Fixtures for HTTP API tests through the local Functions host: two tenants with their credentials."""

from __future__ import annotations

import json
import random
import secrets
from functools import lru_cache

import pytest
import urllib3

import function_app
from tests.support.http_backup import backup, synthetic_pack, wait_for_state, wait_until


class Api:
    """Minimal HTTP client for tests: returns (status, decoded JSON)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = urllib3.PoolManager(retries=False, timeout=30)

    def call(self, method: str, path: str, token: str | None = None, body=None, raw: bytes | None = None):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        response = self.http.request(method, self.base_url + path, body=data, headers=headers)
        try:
            payload = json.loads(response.data) if response.data else None
        except ValueError:
            payload = response.data
        return response.status, payload


@lru_cache(maxsize=1)  # the app refuses a second get_functions(): it sees each name twice
def registered_routes() -> tuple[tuple[str, str], ...]:
    """(method, /route) of every HTTP function the function app registers, sorted."""
    routes = []
    for function in function_app.app.get_functions():
        for binding in function.get_bindings():
            spec = binding.get_dict_repr()
            if spec.get("type") == "httpTrigger":
                routes += [(str(method).split(".")[-1].lower(), "/" + spec["route"]) for method in spec["methods"]]
    return tuple(sorted(routes))


@pytest.fixture(scope="session")
def api(stack) -> Api:
    return Api(stack["BACKUP_API_URL"])


def make_tenant(api: Api, operator_key: str) -> dict:
    """A vault with one registered machine (named uniquely) and an open backup session."""
    status, vault = api.call("POST", "/vaults", operator_key, {"name": f"tenant-{secrets.token_hex(5)}", "redundancy": "GRS"})
    assert status == 201, vault
    instance_name = f"machine-{secrets.token_hex(5)}"
    status, machine = api.call("POST", "/instances", vault["registration_key"], {"name": instance_name})
    assert status == 201, machine
    status, session = api.call("POST", "/backup-sessions", machine["token"], {})
    assert status == 201, session
    return {**vault, "instance_id": machine["instance_id"], "instance_name": instance_name, "token": machine["token"],
            "session_id": session["session_id"]}


def populate(api: Api, tenant: dict) -> dict:
    """Gives a tenant something behind every id: a committed recovery point (cataloged by the
    queue trigger), an open restore session of it, a retention policy and metered usage."""
    rng = random.Random(tenant["vault_id"])
    rp_id = backup(api, tenant, [synthetic_pack(rng)], rng)
    wait_for_state(api, tenant["token"], rp_id, {"committed"})
    status, restore = api.call("POST", "/restore-sessions", tenant["token"], {"recovery_point_id": rp_id})
    assert status == 201, restore
    status, policy = api.call("PUT", f"/vaults/{tenant['vault_id']}/policy", tenant["admin_key"],
                              {"last": 5, "instance_id": tenant["instance_id"]})
    assert status == 200, policy

    def usage_metered():
        status, report = api.call("GET", f"/vaults/{tenant['vault_id']}/usage", tenant["admin_key"])
        return status == 200 and report["protected_instances"] == 1

    wait_until(usage_metered, 60, "metering of the tenant's backup")
    return {**tenant, "rp_id": rp_id, "restore_session_id": restore["session_id"]}


@pytest.fixture(scope="session")
def tenants(api, stack) -> tuple[dict, dict]:
    """(victim, attacker): the victim has data behind each of its ids, the attacker only credentials."""
    victim = populate(api, make_tenant(api, stack["BACKUP_ADMIN_KEY"]))
    return victim, make_tenant(api, stack["BACKUP_ADMIN_KEY"])
