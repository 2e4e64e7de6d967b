"""Fixtures for HTTP API tests through the local Functions host: two tenants with their credentials."""

from __future__ import annotations

import json
import secrets

import pytest
import urllib3


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


@pytest.fixture(scope="session")
def api(stack) -> Api:
    return Api(stack["BACKUP_API_URL"])


def make_tenant(api: Api, operator_key: str) -> dict:
    status, vault = api.call("POST", "/vaults", operator_key, {"name": f"tenant-{secrets.token_hex(5)}", "redundancy": "GRS"})
    assert status == 201, vault
    status, machine = api.call("POST", "/instances", vault["registration_key"], {"name": "machine"})
    assert status == 201, machine
    status, session = api.call("POST", "/backup-sessions", machine["token"], {})
    assert status == 201, session
    return {**vault, "instance_id": machine["instance_id"], "token": machine["token"], "session_id": session["session_id"]}


@pytest.fixture(scope="session")
def tenants(api, stack) -> tuple[dict, dict]:
    return make_tenant(api, stack["BACKUP_ADMIN_KEY"]), make_tenant(api, stack["BACKUP_ADMIN_KEY"])
