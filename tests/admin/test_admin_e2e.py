"""`backup-admin` run as a subprocess against the local stack: the CLI contract end to end."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import urllib3

from agent_client.errors import NotFoundError
from agent_client.http_client import JsonHttpClient
from shared.formats import pack_index
from tests.support.manifests import manifest_blob, point_manifest

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


class Machine:
    """A machine registered in a vault that backs up the way backup-agent does, minus the encryption."""

    http = urllib3.PoolManager(retries=False)

    def __init__(self, credentials_file: Path, name: str) -> None:
        credentials = json.loads(credentials_file.read_text())
        root = credentials["api_url"].rstrip("/").removesuffix("/api")
        registered = JsonHttpClient(root, credentials["registration_key"]).post("/api/instances", {"name": name})
        self.instance_id, self.name = registered["instance_id"], name
        self.api = JsonHttpClient(root, registered["token"])

    def upload(self, session: dict, name: str, data: bytes) -> None:
        url = f"{session['container_url']}/{name}?{session['sas']}"
        response = self.http.request("PUT", url, body=data, headers={"x-ms-blob-type": "BlockBlob"})
        assert response.status == 201, (name, response.status)

    def backup(self, upload_pack: bool = True) -> tuple[str, str, bytes]:
        """Uploads a pack (unless told not to), the snapshot and the manifest, then commits."""
        session = self.api.post("/api/backup-sessions")
        rp_id = session["recovery_point_id"]
        sealed = [secrets.token_bytes(40) for _ in range(2)]
        entries = [pack_index.PackEntry(secrets.token_bytes(32), pack_index.ChunkKind.DATA, 40 * n, 40)
                   for n in range(2)]
        pack = b"".join(sealed) + pack_index.serialize_trailer(entries)
        pack_name = f"packs/{hashlib.sha256(pack).hexdigest()}"
        if upload_pack:
            self.upload(session, pack_name, pack)
        snapshot = secrets.token_bytes(32)
        self.upload(session, f"snapshots/{rp_id}", snapshot)
        commit_blob, manifest = manifest_blob(point_manifest(
            rp_id, self.instance_id, snapshot, [{"name": pack_name, "size": len(pack), "chunks": len(entries)}], "0" * 32,
            summary={"files": 2, "dirs": 1, "bytes": 80, "files_new": 2, "files_changed": 0, "files_unchanged": 0,
                     "bytes_read": 80, "bytes_uploaded": len(pack), "partial": False}))
        self.upload(session, commit_blob, manifest)
        self.api.post(f"/api/backup-sessions/{rp_id}/commit", {"commit_blob": commit_blob})
        return rp_id, pack_name, pack

    def wait_for(self, rp_id: str, state: str, seconds: float = 90) -> None:
        deadline = time.monotonic() + seconds
        while self._state(rp_id) != state:
            assert time.monotonic() < deadline, f"recovery point {rp_id} never became {state}"
            time.sleep(0.5)

    def _state(self, rp_id: str) -> str | None:
        try:
            return self.api.get(f"/api/recovery-points/{rp_id}")["state"]
        except NotFoundError:  # the catalog has not picked the commit up yet
            return None


@pytest.fixture(scope="module")
def machine(vault: Vault) -> Machine:
    return Machine(vault.credentials_file, "web-1")


# --- vaults ---------------------------------------------------------------------------------

def test_vault_create_returns_keys_and_writes_private_credentials(vault: Vault, stack) -> None:
    assert HEX32.match(vault.vault_id)
    assert (vault.created["redundancy"], vault.created["soft_delete_days"], vault.created["time_zone"]) == (
        "GRS", 14, "Europe/Berlin")
    assert vault.admin_key.startswith(f"bkv_{vault.vault_id}_")
    assert stat.S_IMODE(vault.credentials_file.stat().st_mode) == 0o600
    credentials = json.loads(vault.credentials_file.read_text())
    assert set(credentials) == {"api_url", "vault_id", "vault_name", "registration_key"}
    assert credentials["api_url"] == stack["BACKUP_API_URL"].rstrip("/").removesuffix("/api")
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

def test_instances_by_name_and_by_id(stack, vault: Vault, machine: Machine) -> None:
    for ident in (vault.name, vault.vault_id):
        items = admin_json(stack, "instances", "--vault", ident)
        assert [(i["instance_id"], i["name"]) for i in items] == [(machine.instance_id, "web-1")]
        assert {"registered_at", "last_backup"} <= set(items[0])


def test_recovery_points_of_a_vault_without_backups(stack, vault: Vault, machine: Machine) -> None:
    assert admin_json(stack, "recovery-points", "--vault", vault.name) == []
    assert admin_json(stack, "recovery-points", "--vault", vault.name, "--instance", "web-1") == []
    assert admin_json(stack, "recovery-points", "--vault", vault.name, "--instance", machine.instance_id) == []
    assert_fails(admin(stack, "recovery-points", "--vault", vault.name, "--instance", "db-9"), 6, "no instance db-9")


@pytest.mark.parametrize("command", ["delete", "undelete"])
def test_unknown_recovery_point(stack, vault: Vault, command: str) -> None:
    assert_fails(admin(stack, command, "--vault", vault.name, "f" * 32), 6, "not found")


def test_unknown_vault(stack) -> None:
    assert_fails(admin(stack, "instances", "--vault", f"nope-{uuid.uuid4().hex[:8]}"), 6, "not found")


# --- policy ---------------------------------------------------------------------------------

def test_policy_set_and_show(stack, vault: Vault, machine: Machine) -> None:
    answer = admin_json(stack, "policy", "set", "--vault", vault.name, "--daily", "7", "--weekly", "4",
                        "--monthly", "12", "--yearly", "10")
    assert answer["policy"] == {"last": 0, "daily": 7, "weekly": 4, "monthly": 12, "yearly": 10}
    assert set(answer["applied"]) >= {"kept", "expired"}
    answer = admin_json(stack, "policy", "set", "--vault", vault.name, "--instance", "web-1", "--last", "3")
    assert answer["policy"]["last"] == 3
    shown = admin_json(stack, "policy", "show", "--vault", vault.vault_id)
    assert shown["default"] == {"last": 0, "daily": 7, "weekly": 4, "monthly": 12, "yearly": 10}
    assert shown["instances"][machine.instance_id] == {"last": 3, "daily": 0, "weekly": 0, "monthly": 0, "yearly": 0}
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


# --- with backups -----------------------------------------------------------------------------

@pytest.fixture
def fresh(stack, tmp_path: Path) -> tuple[Vault, Machine]:
    vault = _create(stack, tmp_path, "--redundancy", "LRS")
    return vault, Machine(vault.credentials_file, "db-1")


def test_backups_are_listed_deleted_undeleted_and_expired_by_policy(stack, fresh) -> None:
    vault, machine = fresh
    ids = []
    for _ in range(3):
        rp_id, _, _ = machine.backup()
        machine.wait_for(rp_id, "committed")  # one at a time, so the catalog's clock orders them
        ids.append(rp_id)
    oldest, middle, newest = ids
    listed = admin_json(stack, "recovery-points", "--vault", vault.name, "--instance", "db-1")
    assert [rp["id"] for rp in listed] == [newest, middle, oldest]
    assert {(rp["instance_name"], rp["state"], rp["files"]) for rp in listed} == {("db-1", "committed", 2)}
    human = admin(stack, "recovery-points", "--vault", vault.vault_id)
    assert human.returncode == 0 and all(rp_id in human.stdout for rp_id in ids)

    deleted = admin(stack, "delete", "--vault", vault.name, oldest)
    assert deleted.returncode == 0 and "can be undeleted until" in deleted.stdout
    states = {rp["id"]: rp["state"] for rp in admin_json(stack, "recovery-points", "--vault", vault.name)}
    assert states == {oldest: "deleted", middle: "committed", newest: "committed"}
    assert admin_json(stack, "undelete", "--vault", vault.name, oldest, key=vault.admin_key)["state"] == "committed"

    answer = admin_json(stack, "policy", "set", "--vault", vault.name, "--instance", "db-1", "--last", "1")
    assert answer["applied"]["expired"] >= 1
    committed = {rp["id"] for rp in admin_json(stack, "recovery-points", "--vault", vault.name, "--state", "committed")}
    assert newest in committed and middle not in committed  # the newest is always kept
    report = admin_json(stack, "usage", "--vault", vault.name)
    assert report["protected_instances"] == 1


def test_a_poison_message_is_listed_and_replayed(stack, fresh) -> None:
    vault, machine = fresh
    rp_id, pack_name, pack = machine.backup(upload_pack=False)  # the catalog must refuse it
    machine.wait_for(rp_id, "rejected")
    deadline = time.monotonic() + 150
    while not (poisoned := [m for m in admin_json(stack, "poison", "list") if rp_id in m["body_preview"]]):
        assert time.monotonic() < deadline, "the rejected commit never reached the poison queue"
        time.sleep(2)
    message_id = f"{poisoned[0]['queue']}/{poisoned[0]['message_id']}"
    assert poisoned[0]["queue"] == "commits"
    assert message_id in admin(stack, "poison", "list").stdout

    machine.upload(machine.api.post("/api/backup-sessions"), pack_name, pack)  # fix the cause
    replayed = admin(stack, "poison", "replay", message_id)
    assert replayed.returncode == 0 and "Replayed" in replayed.stdout
    machine.wait_for(rp_id, "committed")
    assert rp_id not in json.dumps(admin_json(stack, "poison", "list"))


def test_the_credentials_file_registers_backup_agent(stack, tmp_path: Path) -> None:
    vault = _create(stack, tmp_path)
    # A machine has only the credentials file: no BACKUP_API_URL, no admin key.
    agent_env = {**{k: v for k, v in os.environ.items() if not k.startswith("BACKUP_")},
                 "BACKUP_AGENT_HOME": str(tmp_path / "home"), "BACKUP_AGENT_PASSPHRASE": "correct horse battery staple"}
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "notes.txt").write_text("hello\n")
    backed_up = None
    for args in (("register", "--vault-credentials", str(vault.credentials_file), "--name", "laptop"),
                 ("backup", str(tmp_path / "data"))):
        result = subprocess.run([str(BIN / "backup-agent"), *args, "--json"], env=agent_env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        backed_up = json.loads(result.stdout)
    assert [i["name"] for i in admin_json(stack, "instances", "--vault", vault.name)] == ["laptop"]
    deadline = time.monotonic() + 90
    while not (listed := admin_json(stack, "recovery-points", "--vault", vault.name, "--state", "committed")):
        assert time.monotonic() < deadline, "the backup was never cataloged"
        time.sleep(1)
    assert [(rp["id"], rp["instance_name"]) for rp in listed] == [(backed_up["recovery_point_id"], "laptop")]


def _agent(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BACKUP_")},
           "BACKUP_AGENT_HOME": str(home), "BACKUP_AGENT_PASSPHRASE": "correct horse battery staple"}
    return subprocess.run([str(BIN / "backup-agent"), *args], env=env, capture_output=True, text=True, timeout=300)


def test_machine_credentials_are_reissued_rotated_and_revoked_from_the_cli(stack, tmp_path: Path) -> None:
    vault = _create(stack, tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    (data / "notes.txt").write_text("hello\n")
    laptop, desktop = tmp_path / "laptop", tmp_path / "desktop"
    assert _agent(laptop, "register", "--vault-credentials", str(vault.credentials_file), "--name", "laptop").returncode == 0

    reissued = tmp_path / "reissued.json"
    answer = admin_json(stack, "vault", "credentials", vault.name, "--out", str(reissued))
    assert "registration_key" not in answer and stat.S_IMODE(reissued.stat().st_mode) == 0o600
    stale = _agent(desktop, "register", "--vault-credentials", str(vault.credentials_file), "--name", "desktop")
    assert stale.returncode == 5 and stale.stderr.count("\n") == 1, stale.stderr
    assert _agent(desktop, "register", "--vault-credentials", str(reissued), "--name", "desktop").returncode == 0
    taken = _agent(tmp_path / "third", "register", "--vault-credentials", str(reissued), "--name", "Laptop")
    assert taken.returncode == 5 and "already has a machine named Laptop" in taken.stderr

    rotated = tmp_path / "rotated.json"
    admin_json(stack, "instances", "rotate-token", "--vault", vault.name, "laptop", "--out", str(rotated))
    old = _agent(laptop, "list")
    assert old.returncode == 5 and old.stderr.count("\n") == 1 and "invalid credential" in old.stderr
    adopted = _agent(laptop, "register", "--vault-credentials", str(rotated), "--json")
    assert adopted.returncode == 0 and json.loads(adopted.stdout)["name"] == "laptop", adopted.stderr
    assert _agent(laptop, "backup", str(data), "--json").returncode == 0

    revoked = admin_json(stack, "instances", "revoke", "--vault", vault.name, "desktop")
    assert revoked["revoked_at"]
    refused = _agent(desktop, "backup", str(data))
    assert refused.returncode == 5 and "revoked" in refused.stderr and refused.stderr.count("\n") == 1
    listed = {i["name"]: i["revoked_at"] for i in admin_json(stack, "instances", "--vault", vault.name)}
    assert listed["laptop"] is None and listed["desktop"]

    limits = admin_json(stack, "vault", "update", vault.name, "--max-open-sessions", "2", "--quota-bytes", "0")
    assert limits["limits"] == {"max_open_sessions": 2, "quota_bytes": 0}
