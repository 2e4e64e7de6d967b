"""Row 9 (second half): a property test that mixes one tenant's credentials with another tenant's ids.

Two tenants with data (a committed recovery point, machines, a policy, usage). Hypothesis draws an
operation of the API, a credential of the attacker, and for every path parameter, query parameter
and body field an id of the victim, of the attacker, or of nobody; it may also swap the vault
segment of a credential. Whatever it sends: no 5xx, and no response (success or error) holds an
identifier of the victim.
"""

from __future__ import annotations

import secrets

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from shared.services.openapi_document import OPERATIONS
from tests.api.conftest import make_tenant
from tests.support.http_backup import backup, synthetic_pack, wait_for_state
from tests.support.suite import SEED

PUBLIC = {"getHealth", "getOpenApi"}
CREDENTIALS = ("admin_key", "token", "registration_key")


def _tenant(api, stack, rng) -> dict:
    tenant = make_tenant(api, stack["BACKUP_ADMIN_KEY"])
    name = f"machine-{secrets.token_hex(6)}"
    status, machine = api.call("POST", "/instances", tenant["registration_key"], {"name": name})
    assert status == 201
    rp_id = backup(api, tenant, [synthetic_pack(rng)], rng)
    wait_for_state(api, tenant["token"], rp_id, {"committed"})
    status, restore = api.call("POST", "/restore-sessions", tenant["token"], {"recovery_point_id": rp_id})
    assert status == 201
    status, _ = api.call("PUT", f"/vaults/{tenant['vault_id']}/policy", tenant["admin_key"], {"daily": 7})
    assert status == 200
    return {**tenant, "rp_id": rp_id, "restore_id": restore["session_id"], "instance_name": name,
            "instance2_id": machine["instance_id"]}


def _secrets_of(tenant: dict) -> list[str]:
    """What must never appear in an answer to someone else."""
    return [tenant[k] for k in ("vault_id", "name", "instance_id", "instance2_id", "instance_name", "rp_id",
                                "session_id", "restore_id", "admin_key", "token", "registration_key")]


def _ids(tenant: dict) -> dict[str, list[str]]:
    return {
        "vault": [tenant["vault_id"], tenant["name"]],
        "instance": [tenant["instance_id"], tenant["instance2_id"]],
        "rp": [tenant["rp_id"], tenant["session_id"]],
        "session": [tenant["session_id"], tenant["restore_id"], tenant["rp_id"]],
        "queue": ["commits", "replication", "metering"],
        "message": ["1", "ffffffff-0000-0000-0000-000000000000"],
    }


@st.composite
def requests(draw, victim: dict, attacker: dict):
    operation = draw(st.sampled_from([op for op in OPERATIONS if op[2] not in PUBLIC]))
    method, template, body_model = operation[0].upper(), operation[1], operation[5]
    pools = {"victim": _ids(victim), "attacker": _ids(attacker)}
    unknown = draw(st.binary(min_size=16, max_size=16)).hex()
    nobody = {"vault": unknown, "instance": unknown, "rp": unknown, "session": unknown, "queue": "nope",
              "message": "x"}

    def pick(kind: str) -> str:
        owner = draw(st.sampled_from(["victim", "attacker", "nobody"]))
        return nobody[kind] if owner == "nobody" else draw(st.sampled_from(pools[owner][kind]))

    path = template
    for kind in ("vault", "instance", "rp", "session", "queue", "message"):
        path = path.replace("{" + kind + "}", pick(kind))
    query = {}
    if draw(st.booleans()):
        query["vault"] = pick("vault")
    if template == "/recovery-points" and draw(st.booleans()):
        query["instance"] = pick("instance")
    if template == "/recovery-points" and draw(st.booleans()):
        query["state"] = draw(st.sampled_from(["all", "committed", "deleted", "rejected", "pending"]))
    body = None
    if body_model is not None or method in ("POST", "PUT", "PATCH"):
        body = {}
        fields = getattr(body_model, "model_fields", {}) if body_model else {}
        for field in fields:
            if field in ("recovery_point_id",):
                body[field] = pick("rp")
            elif field in ("instance_id",):
                body[field] = pick("instance")
            elif field == "commit_blob":
                body[field] = f"commits/{pick('rp')}.{'0' * 64}"
            elif field in ("key_id", "previous_key_id"):
                body[field] = draw(st.sampled_from([unknown, None]))
            elif field == "key_proof":
                body[field] = "0" * 64
            elif field == "name":
                body[field] = f"x-{unknown[:8]}"
            elif field == "bytes":
                body[field] = draw(st.integers(0, 1 << 40))
            elif field in ("last", "daily", "weekly", "monthly", "yearly"):
                body[field] = draw(st.integers(0, 3))
        body = {k: v for k, v in body.items() if v is not None}
    credential = attacker[draw(st.sampled_from(CREDENTIALS))]
    if draw(st.integers(0, 9)) == 0:
        # The victim's vault id spliced into the attacker's credential (a forged prefix).
        credential = credential.replace(attacker["vault_id"], victim["vault_id"])
    suffix = "&".join(f"{k}={v}" for k, v in query.items())
    return method, path + (f"?{suffix}" if suffix else ""), credential, body


def _check(api, victim: dict, attacker: dict, max_examples: int) -> int:
    forbidden = _secrets_of(victim)
    sent = []

    @seed(SEED)
    @settings(max_examples=max_examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(requests(victim, attacker))
    def property_(request):
        method, path, credential, body = request
        status, payload = api.call(method, path, credential, body)
        sent.append((method, path, status))
        assert status < 500, f"{method} {path} -> {status} {payload}"
        text = str(payload)
        leaked = [value for value in forbidden if value in text]
        assert not leaked, f"{method} {path} ({status}) answered with the victim's {leaked}: {text[:500]}"

    property_()
    return len(sent)


@pytest.fixture(scope="module")
def two_tenants(api_client, stack):
    import random

    rng = random.Random(SEED)
    return _tenant(api_client, stack, rng), _tenant(api_client, stack, rng)


@pytest.mark.stack
def test_swapped_ids_and_credentials_never_reach_the_other_tenant(api_client, two_tenants):
    victim, attacker = two_tenants
    assert _check(api_client, victim, attacker, 60) >= 60
    assert _check(api_client, attacker, victim, 30) >= 30


@pytest.mark.stack
@pytest.mark.soak
@pytest.mark.timeout(4 * 3600)
def test_soak_swapped_ids_and_credentials(api_client, two_tenants):
    victim, attacker = two_tenants
    _check(api_client, victim, attacker, 3000)
    _check(api_client, attacker, victim, 3000)
