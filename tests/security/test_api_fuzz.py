"""Row 9 (first half): schemathesis against /api/openapi.json on the live host, with every kind of credential.

Every operation, generated examples, boundary values (coverage phase), random data (fuzzing) and
call sequences (stateful phase, along links this test adds to the document: the service's own
document has none yet). Check: no 5xx, ever. Each credential runs as its own schemathesis run,
seeded from RELIABILITY_SEED, so a failure replays with the printed seed.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import urllib3

from shared.services.openapi_document import OPERATIONS
from tests.api.conftest import make_tenant

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# TRACE is left out of the coverage phase's "unexpected method" requests: the local host's HTTP
# server answers it 501 before any function runs (Azure's front end answers 405/404).
CONFIG = """
[phases.coverage]
unexpected-methods = ["get", "put", "post", "delete", "patch", "options"]
"""

# OpenAPI links between operations, so that the stateful phase chains real ids.
LINKS = {
    ("/vaults", "post", "201"): {
        "GetVault": ("getVault", {"vault": "$response.body#/vault_id"}),
        "UpdateVault": ("updateVault", {"vault": "$response.body#/vault_id"}),
        "ListInstances": ("listInstances", {"vault": "$response.body#/vault_id"}),
        "GetPolicy": ("getPolicy", {"vault": "$response.body#/vault_id"}),
        "PutPolicy": ("putPolicy", {"vault": "$response.body#/vault_id"}),
        "GetUsage": ("getUsage", {"vault": "$response.body#/vault_id"}),
    },
    ("/instances", "post", "201"): {
        "GetInstance": ("getInstance", {"vault": "$response.body#/vault_id", "instance": "$response.body#/instance_id"}),
    },
    ("/backup-sessions", "post", "201"): {
        "Commit": ("commitBackupSession", {"session": "$response.body#/session_id"}),
        "GetRecoveryPoint": ("getRecoveryPoint", {"rp": "$response.body#/session_id"}),
        "DeleteRecoveryPoint": ("deleteRecoveryPoint", {"rp": "$response.body#/session_id"}),
    },
    ("/restore-sessions", "post", "201"): {
        "Complete": ("completeRestoreSession", {"session": "$response.body#/session_id"}),
    },
}


def linked_document(document: dict) -> dict:
    linked = copy.deepcopy(document)
    for (path, method, status), links in LINKS.items():
        response = linked["paths"][path][method]["responses"][status]
        response["links"] = {name: {"operationId": op, "parameters": params} for name, (op, params) in links.items()}
    return linked


def run_schemathesis(stack: dict, folder: Path, credential: str | None, seed: int, max_examples: int,
                     phases: str, operations: list[str] | None = None) -> tuple[int, str, int]:
    """One schemathesis run; returns its exit code, its output and how many cases it generated."""
    http = urllib3.PoolManager()
    document = json.loads(http.request("GET", f"{stack['BACKUP_API_URL']}/openapi.json").data)
    schema = folder / "openapi-linked.json"
    schema.write_text(json.dumps(linked_document(document)))
    config = folder / "schemathesis.toml"
    config.write_text(CONFIG)
    junit = folder / f"junit-{seed}.xml"
    command = [str(SCHEMATHESIS), "--config-file", str(config), "run", str(schema), "--url", stack["BACKUP_API_URL"],
               "--checks", "not_a_server_error", "--seed", str(seed), "--max-examples", str(max_examples),
               "--phases", phases, "--report", "junit", "--report-junit-path", str(junit),
               "--request-timeout", "60", "--workers", "2", "--suppress-health-check", "all"]
    if credential:
        command += ["-H", f"Authorization: Bearer {credential}"]
    for operation in operations or []:
        command += ["--include-operation-id", operation]
    done = subprocess.run(command, capture_output=True, text=True, cwd=folder, timeout=3000)
    generated = re.search(r"^\s*(\d+) generated", done.stdout, re.MULTILINE)
    return done.returncode, done.stdout + done.stderr, int(generated.group(1)) if generated else 0


def _credentials(api, stack) -> dict[str, str | None]:
    tenant = make_tenant(api, stack["BACKUP_ADMIN_KEY"])
    return {"operator": stack["BACKUP_ADMIN_KEY"], "vault admin": tenant["admin_key"],
            "instance": tenant["token"], "registration": tenant["registration_key"], "none": None}


@pytest.mark.stack
def test_boundary_months_of_the_usage_report_are_refused_not_crashed(api_client, stack):
    tenant = make_tenant(api_client, stack["BACKUP_ADMIN_KEY"])
    for month in ("0000-01", "9999-12", "0001-01", "9998-12"):
        status, body = api_client.call("GET", f"/vaults/{tenant['vault_id']}/usage?month={month}", tenant["admin_key"])
        assert status in (200, 400), f"month {month}: {status} {body}"


def _fuzz(api, stack, rng, folder: Path, plan) -> None:
    """plan(role) -> [(phases, max_examples, operations or None)]: the schemathesis runs of each credential."""
    failures, total = [], 0
    for role, credential in _credentials(api, stack).items():
        for phases, max_examples, operations in plan(role):
            seed = rng.randrange(1 << 31)
            code, output, generated = run_schemathesis(stack, folder, credential, seed, max_examples, phases, operations)
            total += generated
            print(f"{role}: {phases} on {len(operations or OPERATIONS)} operations, seed {seed}: {generated} cases")
            if code != 0:
                failures.append(f"--- {role}, {phases} (seed {seed}) ---\n{output[-6000:]}")
    print(f"{total} generated cases in all")
    assert not failures, "\n".join(failures)


@pytest.mark.stack
@pytest.mark.parametrize("token", ["\U00034807", "é", "{}", "garbage", "{\"token\": null}"])
def test_forged_continuation_tokens_are_refused_not_crashed(api_client, stack, token):
    """Found by schemathesis: the token travels to Cosmos in a header, which must be ASCII."""
    from urllib.parse import quote

    tenant = make_tenant(api_client, stack["BACKUP_ADMIN_KEY"])
    status, body = api_client.call("GET", f"/recovery-points?continuation={quote(token)}", tenant["token"])
    assert status in (200, 400), (token, status, body)


@pytest.mark.stack
@pytest.mark.timeout(900)
def test_no_operation_answers_5xx_to_generated_requests(api_client, stack, rng, tmp_path):
    # Bounded: every operation gets examples and call sequences with every credential, a fuzzed
    # case with the operator's and an instance's; the coverage phase's boundary values (hundreds
    # of cases in all) go to two seeded operations.
    sampled = rng.sample([operation[2] for operation in OPERATIONS], 2)

    def plan(role):
        if role not in ("operator", "instance"):
            return [("examples,stateful", 1, None)]
        return [("examples,fuzzing,stateful", 1, None)] + ([("coverage", 1, sampled)] if role == "operator" else [])

    _fuzz(api_client, stack, rng, tmp_path, plan)


@pytest.mark.stack
@pytest.mark.soak
@pytest.mark.timeout(4 * 3600)
def test_soak_no_operation_answers_5xx(api_client, stack, rng, tmp_path):
    _fuzz(api_client, stack, rng, tmp_path, lambda role: [("examples,coverage,fuzzing,stateful", 100, None)])
