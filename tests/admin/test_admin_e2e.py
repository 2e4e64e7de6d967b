"""`backup-admin` run as a subprocess against the local stack: the CLI contract end to end."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from agent_client.http_client import JsonHttpClient

pytestmark = pytest.mark.stack

BIN = Path(sys.executable).parent
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def _env(stack: dict, key: str | None = None, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("BACKUP_")}
    return {**base, "BACKUP_API_URL": stack["BACKUP_API_URL"],
            "BACKUP_ADMIN_KEY": key or stack["BACKUP_ADMIN_KEY"], **extra}


def admin(stack: dict, *args: str, key: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "backup-admin"), *args], env=env or _env(stack, key),
                          capture_output=True, text=True, timeout=120)


def admin_json(stack: dict, *args: str, key: str | None = None):
    result = admin(stack, *args, "--json", key=key)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # exactly one document: json.loads refuses trailing text


def assert_fails(result: subprocess.CompletedProcess, exit_code: int, fragment: str) -> None:
    assert result.returncode == exit_code, (result.returncode, result.stderr)
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("backup-admin: error: ")
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr


class Vault:
    def __init__(self, created: dict, credentials_file: Path) -> None:
        self.created = created
        self.credentials_file = credentials_file
        self.name = created["name"]
        self.vault_id = created["vault_id"]
        self.admin_key = created["admin_key"]


def _create(stack: dict, directory: Path, *options: str) -> Vault:
    name = f"e2e-{uuid.uuid4().hex[:10]}"
    out = directory / f"{name}.json"
    created = admin_json(stack, "vault", "create", name, *options, "--out", str(out))
    return Vault(created, out)


@pytest.fixture(scope="module")
def vault(stack, tmp_path_factory) -> Vault:
    return _create(stack, tmp_path_factory.mktemp("admin"), "--redundancy", "GRS", "--soft-delete-days", "14",
                   "--time-zone", "Europe/Berlin")


@pytest.fixture(scope="module")
def machine(stack, vault) -> dict:
    """A machine registered with the vault's registration key, as `backup-agent register` would."""
    credentials = json.loads(vault.credentials_file.read_text())
    client = JsonHttpClient(credentials["api_url"].rstrip("/").removesuffix("/api"), credentials["registration_key"])
    return client.post("/api/instances", {"name": "web-1"})


# --- vaults ---------------------------------------------------------------------------------

def test_vault_create_returns_keys_and_writes_private_credentials(vault: Vault, stack) -> None:
    assert HEX32.match(vault.vault_id)
    assert (vault.created["redundancy"], vault.created["soft_delete_days"], vault.created["time_zone"]) == (
        "GRS", 14, "Europe/Berlin")
    assert vault.admin_key.startswith(f"bkv_{vault.vault_id}_")
    assert stat.S_IMODE(vault.credentials_file.stat().st_mode) == 0o600
    credentials = json.loads(vault.credentials_file.read_text())
    assert set(credentials) == {"api_url", "vault_id", "vault_name", "registration_key"}
    assert credentials["api_url"] == stack["BACKUP_API_URL"]
    assert (credentials["vault_id"], credentials["vault_name"]) == (vault.vault_id, vault.name)
    assert credentials["registration_key"].startswith(f"bkr_{vault.vault_id}_")


def test_vault_create_human_output_shows_the_admin_key_once(stack, tmp_path: Path) -> None:
    name = f"e2e-{uuid.uuid4().hex[:10]}"
    result = admin(stack, "vault", "create", name, "--redundancy", "LRS", "--out", str(tmp_path / "c.json"))
    assert result.returncode == 0, result.stderr
    keys = re.findall(r"bkv_[0-9a-f]{32}_\S+", result.stdout)
    assert len(keys) == 1
    assert "bkr_" not in result.stdout and result.stderr == ""


def test_duplicate_vault_name_is_refused_and_writes_nothing(stack, vault: Vault, tmp_path: Path) -> None:
    out = tmp_path / "again.json"
    assert_fails(admin(stack, "vault", "create", vault.name, "--out", str(out)), 5, "already exists")
    assert not out.exists()


def test_vault_create_needs_the_operator_key(stack, vault: Vault, tmp_path: Path) -> None:
    result = admin(stack, "vault", "create", f"e2e-{uuid.uuid4().hex[:10]}", "--out", str(tmp_path / "x.json"),
                   key=vault.admin_key)
    assert_fails(result, 5, "")
    assert not (tmp_path / "x.json").exists()


def test_vault_list_by_operator_and_by_vault_admin(stack, vault: Vault) -> None:
    everything = admin_json(stack, "vault", "list")
    assert vault.vault_id in {v["vault_id"] for v in everything}
    own = admin_json(stack, "vault", "list", key=vault.admin_key)
    assert [v["vault_id"] for v in own] == [vault.vault_id]
    human = admin(stack, "vault", "list", key=vault.admin_key)
    assert human.returncode == 0 and vault.name in human.stdout and human.stderr == ""


def test_a_vault_admin_key_sees_no_other_vault(stack, vault: Vault, tmp_path_factory) -> None:
    other = _create(stack, tmp_path_factory.mktemp("other"))
    assert_fails(admin(stack, "instances", "--vault", other.name, key=vault.admin_key), 6, "not found")
    assert_fails(admin(stack, "policy", "show", "--vault", other.vault_id, key=vault.admin_key), 6, "not found")


def test_bad_credential(stack) -> None:
    assert_fails(admin(stack, "vault", "list", key="bko_" + "A" * 43), 5, "")


# --- instances, recovery points, delete and undelete ----------------------------------------

def test_instances_by_name_and_by_id(stack, vault: Vault, machine: dict) -> None:
    for ident in (vault.name, vault.vault_id):
        items = admin_json(stack, "instances", "--vault", ident)
        assert [(i["instance_id"], i["name"]) for i in items] == [(machine["instance_id"], "web-1")]
        assert {"registered_at", "last_backup"} <= set(items[0])


def test_recovery_points_of_a_vault_without_backups(stack, vault: Vault, machine: dict) -> None:
    assert admin_json(stack, "recovery-points", "--vault", vault.name) == []
    assert admin_json(stack, "recovery-points", "--vault", vault.name, "--instance", "web-1") == []
    assert admin_json(stack, "recovery-points", "--vault", vault.name, "--instance", machine["instance_id"]) == []
    assert_fails(admin(stack, "recovery-points", "--vault", vault.name, "--instance", "db-9"), 6, "no instance db-9")


@pytest.mark.parametrize("command", ["delete", "undelete"])
def test_unknown_recovery_point(stack, vault: Vault, command: str) -> None:
    assert_fails(admin(stack, command, "--vault", vault.name, "f" * 32), 6, "not found")


def test_unknown_vault(stack) -> None:
    assert_fails(admin(stack, "instances", "--vault", f"nope-{uuid.uuid4().hex[:8]}"), 6, "not found")


# --- policy ---------------------------------------------------------------------------------

def test_policy_set_and_show(stack, vault: Vault, machine: dict) -> None:
    answer = admin_json(stack, "policy", "set", "--vault", vault.name, "--daily", "7", "--weekly", "4",
                        "--monthly", "12", "--yearly", "10")
    assert answer["policy"] == {"last": 0, "daily": 7, "weekly": 4, "monthly": 12, "yearly": 10}
    assert set(answer["applied"]) >= {"kept", "expired"}
    answer = admin_json(stack, "policy", "set", "--vault", vault.name, "--instance", "web-1", "--last", "3")
    assert answer["policy"]["last"] == 3
    shown = admin_json(stack, "policy", "show", "--vault", vault.vault_id)
    assert shown["default"] == {"last": 0, "daily": 7, "weekly": 4, "monthly": 12, "yearly": 10}
    assert shown["instances"][machine["instance_id"]] == {"last": 3, "daily": 0, "weekly": 0, "monthly": 0, "yearly": 0}
    human = admin(stack, "policy", "show", "--vault", vault.name, key=vault.admin_key)
    assert human.returncode == 0 and "daily 7, weekly 4, monthly 12, yearly 10" in human.stdout


def test_policy_bounds_are_checked_before_calling(stack, vault: Vault) -> None:
    assert_fails(admin(stack, "policy", "set", "--vault", vault.name, "--daily", "10000"), 2, "--daily")


# --- usage and poison -----------------------------------------------------------------------

def test_usage_report_has_the_contract_fields(stack, vault: Vault) -> None:
    for extra in ((), ("--month", "2026-01")):
        report = admin_json(stack, "usage", "--vault", vault.name, *extra, key=vault.admin_key)
        assert {"protected_instances", "protected_bytes", "stored_bytes_primary", "stored_bytes_secondary",
                "restores", "restore_bytes", "estimated_cost"} <= set(report)
        cost = report["estimated_cost"]
        assert {"currency", "instance_fees", "storage_primary", "storage_secondary", "restores", "egress",
                "total"} <= set(cost)
        assert float(cost["restores"]) == 0 and float(cost["egress"]) == 0
    assert report["month"] == "2026-01"
    human = admin(stack, "usage", "--vault", vault.name)
    assert human.returncode == 0 and "Estimated cost" in human.stdout


def test_poison_list_and_replay(stack, vault: Vault) -> None:
    assert isinstance(admin_json(stack, "poison", "list"), list)
    assert_fails(admin(stack, "poison", "list", key=vault.admin_key), 5, "")
    assert_fails(admin(stack, "poison", "replay", "no-such-queue/abc"), 6, "not found")


# --- with a real backup, when the machine CLI is there ---------------------------------------

def test_delete_undelete_and_retention_of_real_backups(stack, tmp_path: Path) -> None:
    agent = BIN / "backup-agent"
    try:
        import agent_client.cli  # noqa: F401
    except ImportError:
        pytest.skip("backup-agent (agent_client.cli) is not written yet")
    created = _create(stack, tmp_path, "--redundancy", "LRS")
    agent_env = _env(stack, BACKUP_AGENT_HOME=str(tmp_path / "home"), BACKUP_AGENT_PASSPHRASE="correct horse battery staple")

    def run_agent(*args: str) -> dict:
        result = subprocess.run([str(agent), *args, "--json"], env=agent_env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    run_agent("register", "--vault-credentials", str(created.credentials_file), "--name", "laptop")
    source = tmp_path / "data"
    source.mkdir()
    ids = []
    for n in range(3):
        (source / "file.txt").write_text(f"version {n}\n")
        ids.append(run_agent("backup", str(source))["recovery_point_id"])
    # The catalog works from a queue; wait until it has cataloged all three.
    for _ in range(120):
        listed = admin_json(stack, "recovery-points", "--vault", created.name, "--state", "committed")
        if len(listed) == 3:
            break
        time.sleep(1)
    assert sorted(rp["id"] for rp in listed) == sorted(ids)
    assert all(rp["instance_name"] == "laptop" for rp in listed)

    oldest, newest = ids[0], ids[-1]
    deleted = admin_json(stack, "delete", "--vault", created.name, oldest)
    assert deleted["state"] == "deleted"
    states = {rp["id"]: rp["state"] for rp in admin_json(stack, "recovery-points", "--vault", created.name)}
    assert states[oldest] == "deleted"
    assert admin_json(stack, "undelete", "--vault", created.name, oldest)["state"] == "committed"

    applied = admin_json(stack, "policy", "set", "--vault", created.name, "--last", "1")["applied"]
    assert applied["expired"] >= 1
    committed = admin_json(stack, "recovery-points", "--vault", created.name, "--state", "committed")
    assert newest in {rp["id"] for rp in committed}  # the newest is always kept
    assert ids[1] not in {rp["id"] for rp in committed}
