"""One machine against its vault-mates: it may destroy or forge nothing of another machine's points.

The attacker is a second machine of the victim's vault holding its own instance token (findings
1 and 2 of the one-machine review, docs/reliability.md rows 23 and 24): it tries to replace the
vault key, to get its own manifest committed as the victim's point (planted in the instant
between the victim's snapshot and manifest uploads), every API route a machine may call with
the victim's ids, and every destructive blob operation of its SAS on the victim's blobs. After
each attack the victim's committed points restore bit for bit.
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets

import pytest

from agent_client.backup_run import BackupRequest, run_backup
from agent_client.errors import BlobConflictError
from shared.services.openapi_document import openapi_document
from tests.client.e2e_support import restored
from tests.security.test_sas_append_only import _run_attacks, _state
from tests.security.vault_mates import hooked_context, register_attacker, same_tree, source_tree
from tests.support.agents import vault_with_machine
from tests.support.http_backup import HTTP, blob_url, synthetic_pack
from tests.support.manifests import manifest_blob, point_manifest

pytestmark = pytest.mark.stack


def _restores(machine, rp_id: str, source, target) -> bool:
    machine.run("restore", rp_id, "--target", str(target), "--json").json()
    return same_tree(restored(target, source), source.resolve())


def _current_key(api, vault_id: str, admin_key: str) -> str:
    status, vault = api.call("GET", f"/vaults/{vault_id}", admin_key)
    assert status == 200
    return vault["key_id"]


def test_a_machine_without_the_passphrase_cannot_replace_or_delete_the_vault_key(api_client, stack, tmp_path):
    """Finding 1: it uploads any bytes as keys/<new id> and names them the vault's key."""
    with vault_with_machine(stack, tmp_path) as (vault, victim):
        source = source_tree(tmp_path / "source")
        point = victim.backup(source)["recovery_point_id"]
        attacker = register_attacker(api_client, vault)
        admin = stack["BACKUP_ADMIN_KEY"]
        key_id = _current_key(api_client, vault.vault_id, admin)
        key_before = HTTP.request("GET", blob_url(attacker.session(), f"keys/{key_id}")).data

        session, planted = attacker.session(), secrets.token_hex(16)
        assert attacker.put(session, f"keys/{planted}", b'{"version": 1, "garbage": true}') == 201
        refusals = [
            attacker.call("PUT", "/vault-key", {"key_id": planted, "previous_key_id": key_id, "key_proof": secrets.token_hex(32)}),
            attacker.call("PUT", "/vault-key", {"key_id": planted, "previous_key_id": key_id}),
            attacker.call("PUT", "/vault-key", {"key_id": planted, "previous_key_id": None, "key_proof": secrets.token_hex(32)}),
        ]
        assert [status for status, _ in refusals] == [403, 400, 409], refusals
        assert all("\n" not in answer["error"] for _, answer in refusals)

        assert _current_key(api_client, vault.vault_id, admin) == key_id
        assert HTTP.request("GET", blob_url(attacker.session(), f"keys/{key_id}")).data == key_before
        assert _restores(victim, point, source, tmp_path / "target")


def test_a_machine_holding_the_passphrase_changes_it_but_every_point_stays_restorable(api_client, stack, tmp_path):
    """With the passphrase the attacker can prove the key and re-wrap it under a passphrase of its
    own; the old key is kept (retired), so the victim's points open with the victim's passphrase."""
    with vault_with_machine(stack, tmp_path) as (vault, victim):
        source = source_tree(tmp_path / "source")
        point = victim.backup(source)["recovery_point_id"]
        intruder = vault.machine("intruder")
        changed = intruder.run("passphrase", "change", "--json",
                               BACKUP_AGENT_NEW_PASSPHRASE="only the intruder knows this one")
        changed.json()
        assert _restores(victim, point, source, tmp_path / "target")
        assert victim.run("verify", point, "--json").json()["ok"]


def test_a_vault_mate_cannot_get_its_manifest_committed_as_the_victims_point(api_client, stack, tmp_path):
    """Finding 2, as a deterministic interleaving: the moment the victim's snapshot is stored, the
    attacker (who sees it in the listing) plants manifests for that recovery point under the old
    name and under a name of its own digest, and tries to commit the victim's session."""
    with vault_with_machine(stack, tmp_path) as (vault, victim):
        source = source_tree(tmp_path / "source")
        attacker = register_attacker(api_client, vault)
        planted: list[tuple[str, int]] = []

        def plant_after_snapshot(name: str) -> None:
            if not name.startswith("commits/") or planted:
                return
            rp_id = name.split("/")[1].split(".")[0]
            session = attacker.session()
            pack_name, pack = synthetic_pack(random.Random(rp_id))
            assert attacker.put(session, pack_name, pack) in (201, 409)
            forged = point_manifest(rp_id, victim.instance_id, b"forged snapshot", [
                {"name": pack_name, "size": len(pack), "chunks": 2}], "0" * 32,
                summary={"files": 1, "dirs": 0, "bytes": 123456789, "files_new": 1, "files_changed": 0,
                         "files_unchanged": 0, "bytes_read": 1, "bytes_uploaded": 1, "partial": False})
            forged_name, forged_bytes = manifest_blob(forged)
            planted.append(("legacy name", attacker.put(session, f"commits/{rp_id}", forged_bytes)))
            planted.append(("digest name", attacker.put(session, forged_name, forged_bytes)))
            planted.append(("commit the victim's session", attacker.call(
                "POST", f"/backup-sessions/{rp_id}/commit", {"commit_blob": forged_name})[0]))

        report = run_backup(hooked_context(victim, plant_after_snapshot), BackupRequest(sources=[str(source)]))
        assert planted == [("legacy name", 201), ("digest name", 201), ("commit the victim's session", 404)]

        point = victim.run("list", "--json").json()[0]
        assert point["id"] == report.recovery_point_id and point["bytes"] == report.bytes
        status, catalog = api_client.call("GET", f"/recovery-points/{report.recovery_point_id}", victim_token(victim))
        commit_blob = catalog["commit_blob"]
        raw = vault.container_client().download_blob(commit_blob).readall()
        assert commit_blob.endswith(hashlib.sha256(raw).hexdigest()) and json.loads(raw)["summary"]["bytes"] == report.bytes
        assert _restores(victim, report.recovery_point_id, source, tmp_path / "target")
        again = victim.backup(source)  # the victim's next incremental reads its own tree, not a planted one
        assert again["files_unchanged"] == 4 and again["files_new"] == 0


def victim_token(machine) -> str:
    return json.loads((machine.home / "config.json").read_text())["token"]


def test_a_name_taken_before_the_victim_writes_it_fails_the_backup_loudly_and_commits_nothing(api_client, stack, tmp_path):
    with vault_with_machine(stack, tmp_path) as (vault, victim):
        source = source_tree(tmp_path / "source", files=2)
        attacker = register_attacker(api_client, vault)

        def plant_before_snapshot(name: str) -> None:
            if name.startswith("snapshots/"):
                assert attacker.put(attacker.session(), name, b"planted snapshot") == 201

        with pytest.raises(BlobConflictError, match="already exists with other content") as raised:
            run_backup(hooked_context(victim, plant_before_snapshot), BackupRequest(sources=[str(source)]))
        assert "\n" not in str(raised.value)
        assert victim.run("list", "--json").json() == []
        assert victim.backup(source)["files_new"] == 2  # the next backup is a fresh session, unharmed


def _requests_on(victim_ids: dict) -> list[tuple[str, str, str, dict | None]]:
    """(operation, method, path, body) of every route, filled with the victim's ids."""
    bodies = {
        "commitBackupSession": {"commit_blob": f"commits/{victim_ids['session']}.{'0' * 64}"},
        "setVaultKey": {"key_id": "0" * 32, "previous_key_id": victim_ids["key"], "key_proof": "0" * 64},
        "openRestoreSession": {"recovery_point_id": victim_ids["rp"]},
        "completeRestoreSession": {"bytes": 1}, "putPolicy": {"last": 1}, "updateVault": {"soft_delete_days": 0},
        "createVault": {"name": f"x-{secrets.token_hex(4)}"}, "registerInstance": {"name": f"x-{secrets.token_hex(4)}"},
    }
    requests = []
    for path, item in openapi_document()["paths"].items():
        for method, operation in item.items():
            filled = (path.replace("{vault}", victim_ids["vault"]).replace("{instance}", victim_ids["instance"])
                      .replace("{rp}", victim_ids["rp"]).replace("{queue}", "commits").replace("{message}", victim_ids["rp"])
                      .replace("{session}", victim_ids["restore_session" if "complete" in path else "session"]))
            requests.append((operation["operationId"], method.upper(), filled, bodies.get(operation["operationId"])))
    return requests


# What a machine may do with a vault-mate's ids (docs/design.md "HTTP API"): read the catalog and
# open a restore of its points; everything else must refuse without changing anything.
MAY_READ = {"getHealth", "getOpenApi", "listRecoveryPoints", "getRecoveryPoint", "openRestoreSession", "openBackupSession"}


def test_every_route_a_machine_can_call_leaves_a_vault_mates_data_untouched(api_client, stack, tmp_path):
    with vault_with_machine(stack, tmp_path) as (vault, victim):
        source = source_tree(tmp_path / "source", files=2)
        point = victim.backup(source)["recovery_point_id"]
        token = victim_token(victim)
        status, open_session = api_client.call("POST", "/backup-sessions", token, {})
        status, restore = api_client.call("POST", "/restore-sessions", token, {"recovery_point_id": point})
        ids = {"vault": vault.vault_id, "instance": victim.instance_id, "rp": point, "session": open_session["session_id"],
               "restore_session": restore["session_id"], "key": _current_key(api_client, vault.vault_id, stack["BACKUP_ADMIN_KEY"])}
        attacker = register_attacker(api_client, vault)
        admin = stack["BACKUP_ADMIN_KEY"]
        before = _victim_view(api_client, admin, ids)

        answers = {}
        for operation, method, path, body in _requests_on(ids):
            answers[operation] = attacker.call(method, path, body)[0]
        allowed = {op: code for op, code in answers.items() if code < 400 and op not in MAY_READ}
        assert not allowed, f"a vault-mate's token got through: {allowed}"
        assert all(code in (400, 401, 403, 404, 409) for op, code in answers.items() if op not in MAY_READ), answers
        assert _victim_view(api_client, admin, ids) == before
        assert _restores(victim, point, source, tmp_path / "target")


def _victim_view(api, admin_key: str, ids: dict) -> dict:
    """What an operator sees of the victim: its vault, its machine, its point, its policy."""
    view = {}
    for path in (f"/vaults/{ids['vault']}", f"/vaults/{ids['vault']}/instances/{ids['instance']}",
                 f"/recovery-points/{ids['rp']}?vault={ids['vault']}", f"/vaults/{ids['vault']}/policy"):
        view[path] = api.call("GET", path, admin_key)
    return view


def test_every_destructive_blob_operation_of_a_vault_mates_sas_is_refused(api_client, stack, tmp_path):
    with vault_with_machine(stack, tmp_path) as (vault, victim):
        source = source_tree(tmp_path / "source", files=2)
        point = victim.backup(source)["recovery_point_id"]
        attacker = register_attacker(api_client, vault)
        session = attacker.session()
        status, catalog = api_client.call("GET", f"/recovery-points/{point}", victim_token(victim))
        pack = next(name for name in vault.blob_names("packs/"))
        key = f"keys/{catalog['key_id']}"
        names = {"packs": pack, "snapshots": catalog["snapshot"]["name"], "commits": catalog["commit_blob"], "keys": key}
        blobs = {kind: (name, None) for kind, name in names.items()}
        before = {kind: _state(session, name) for kind, name in names.items()}
        source_name = f"snapshots/{secrets.token_hex(16)}"
        assert attacker.put(session, source_name, b"attacker bytes") == 201

        results = _run_attacks(session, blobs, source_name)
        accepted = [(kind, op, code) for kind, op, code in results if code < 400]
        assert not accepted, accepted
        assert {kind: _state(session, name) for kind, name in names.items()} == before
        assert victim.run("verify", point, "--json").json()["ok"]
