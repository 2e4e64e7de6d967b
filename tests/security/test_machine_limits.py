"""One machine cannot store unbilled data, outlive its revocation, flood the service or bill itself low.

Findings 3 to 6 of the one-machine review (docs/reliability.md rows 25 to 28), each tried on the
local stack with a machine's own credentials: blobs outside the layout (other names, append and
page blobs, server-side copies) are deleted by the next maintenance run and billed first; a
revoked or rotated token stops at once and a revoked machine's sessions cannot commit; limits on
open sessions, commits per hour and the vault's quota answer 429 with Retry-After; the fee tier
uses at least the bytes the catalog measured; names that would rewrite a terminal are refused.
"""

from __future__ import annotations

import json
import secrets
import threading
from datetime import timedelta

import pytest

from shared.domain.messages import CommitMessage, encode
from shared.services.catalog import catalog_commit
from shared.services.garbage_collection import collect_garbage
from shared.services.metering import LISTING_ID, refresh_stored
from shared.errors import CommitRejected
from tests.pipeline.conftest import Clock
from tests.security.vault_mates import register_attacker, source_tree
from tests.support.agents import vault_with_machine
from tests.support.http_backup import HTTP, blob_url, synthetic_pack
from tests.support.manifests import manifest_blob, point_manifest
from tests.support.runtimes import private_queues, service_runtime

pytestmark = pytest.mark.stack
MIB = 1 << 20


def _vault(rt, vault_id: str) -> dict:
    return rt.catalog.vaults.get(vault_id, vault_id)


def test_blobs_outside_the_layout_are_billed_then_reclaimed(api_client, stack, tmp_path, rng):
    """Finding 3: one 8 MiB upload, ten server-side copies, append and page blobs, junk keys."""
    with vault_with_machine(stack, tmp_path) as (vault, victim):
        source = source_tree(tmp_path / "source", files=2)
        point = victim.backup(source)["recovery_point_id"]
        attacker = register_attacker(api_client, vault)
        session = attacker.session()
        junk = rng.randbytes(8 * MIB)
        assert attacker.put(session, "junk/payload", junk) == 201
        copies = [HTTP.request("PUT", blob_url(session, f"junk/copy-{n}"),
                               headers={"x-ms-copy-source": blob_url(session, "junk/payload")}).status for n in range(10)]
        assert copies == [202] * 10, copies
        kinds = {
            f"packs/{secrets.token_hex(32)}": attacker.put(session, f"packs/{secrets.token_hex(32)}", b"", "AppendBlob"),
            "junk/page": attacker.put(session, "junk/page", b"", "PageBlob", **{"x-ms-blob-content-length": str(64 * MIB)}),
            f"keys/{secrets.token_hex(16)}": attacker.put(session, f"keys/{secrets.token_hex(16)}", junk),
        }
        assert list(kinds.values()) == [201, 201, 201], kinds
        planted = 11 * len(junk) + 64 * MIB

        clock = Clock()
        rt = service_runtime(stack, clock, **private_queues())
        catalog_only = refresh_stored(rt, _vault(rt, vault.vault_id))["stored_bytes_primary"]
        report = collect_garbage(rt, _vault(rt, vault.vault_id))
        assert report["junk"] == 13, report  # 11 junk names, the append blob, the page blob
        listing = rt.catalog.usage.get(vault.vault_id, LISTING_ID)
        assert listing["junk_bytes"] == planted
        billed = refresh_stored(rt, _vault(rt, vault.vault_id))["stored_bytes_primary"]
        assert billed >= catalog_only + planted + len(junk), "every blob the container held is billed"
        left = set(vault.blob_names(""))
        assert not {name for name in left if name.startswith("junk/")}

        clock.advance(hours=rt.settings.gc_grace_hours + 1)  # the unused key blob outlives the grace period
        report = collect_garbage(rt, _vault(rt, vault.vault_id))
        assert report["orphan_keys"] == 1, report
        assert rt.catalog.usage.get(vault.vault_id, LISTING_ID)["unaccounted_bytes"] >= len(junk), "billed the day it goes"
        collect_garbage(rt, _vault(rt, vault.vault_id))  # the next run finds only manifests and the key
        assert rt.catalog.usage.get(vault.vault_id, LISTING_ID)["unaccounted_bytes"] < MIB
        assert victim.run("verify", point, "--json").json()["ok"]


def test_a_revoked_or_rotated_token_stops_at_once_and_a_revoked_machines_sessions_cannot_commit(api_client, stack, tmp_path, rng):
    """Finding 4: nothing could be revoked, rotated or re-issued."""
    with vault_with_machine(stack, tmp_path) as (vault, victim):
        admin = stack["BACKUP_ADMIN_KEY"]
        attacker = register_attacker(api_client, vault)
        old_token = attacker.token
        status, rotated = api_client.call("POST", f"/vaults/{vault.vault_id}/instances/{attacker.instance_id}/token", admin)
        assert status == 200 and rotated["token"] != old_token
        assert attacker.call("POST", "/backup-sessions", {})[0] == 401
        attacker.token = rotated["token"]
        session = attacker.session()  # opened before the revocation, commit message queued just after
        pack = synthetic_pack(rng)
        assert attacker.put(session, *pack) == 201
        snapshot = rng.randbytes(32)
        assert attacker.put(session, f"snapshots/{session['session_id']}", snapshot) == 201
        commit_blob, manifest = manifest_blob(point_manifest(session["session_id"], attacker.instance_id, snapshot, [
            {"name": pack[0], "size": len(pack[1]), "chunks": 2}], "0" * 32))
        assert attacker.put(session, commit_blob, manifest) == 201

        status, revoked = api_client.call("POST", f"/vaults/{vault.vault_id}/instances/{attacker.instance_id}/revoke", admin)
        assert status == 200 and revoked["revoked_at"]
        status, answer = attacker.call("POST", f"/backup-sessions/{session['session_id']}/commit", {"commit_blob": commit_blob})
        assert status == 401 and "revoked" in answer["error"]
        rt = service_runtime(stack, **private_queues())
        queued = CommitMessage(vault_id=vault.vault_id, instance_id=attacker.instance_id,
                               recovery_point_id=session["session_id"], commit_blob=commit_blob, enqueued_at=rt.clock())
        with pytest.raises(CommitRejected, match="revoked"):
            catalog_commit(rt, queued)

        registration_key = json.loads(vault.credentials.read_text())["registration_key"]
        status, issued = api_client.call("POST", f"/vaults/{vault.vault_id}/registration-key", admin)
        assert status == 200
        assert api_client.call("POST", "/instances", registration_key, {"name": "late"})[0] == 401
        assert api_client.call("POST", "/instances", issued["registration_key"], {"name": "late"})[0] == 201
        # One name per machine that is not revoked; the revoked machine's name is free again.
        status, answer = api_client.call("POST", "/instances", issued["registration_key"], {"name": "ALPHA"})
        assert status == 409 and "already has a machine named" in answer["error"]
        assert api_client.call("POST", "/instances", issued["registration_key"], {"name": "mallory"})[0] == 201
        assert victim.run("list", "--json").code == 0


def _raw(method: str, url: str, token: str, body=None):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    response = HTTP.request(method, url, body=json.dumps(body or {}).encode(), headers=headers)
    return response.status, response.headers.get("Retry-After"), json.loads(response.data or b"{}")


def test_limits_refuse_with_429_one_sentence_and_retry_after(api_client, stack, tmp_path):
    """Finding 4: 200 concurrent session opens and ~900 commits by one machine were all accepted."""
    with vault_with_machine(stack, tmp_path) as (vault, victim):
        admin, base = stack["BACKUP_ADMIN_KEY"], stack["BACKUP_API_URL"].rstrip("/")
        status, _ = api_client.call("PATCH", f"/vaults/{vault.vault_id}", admin,
                                    {"limits": {"max_open_sessions": 3, "max_commits_per_hour": 2}})
        assert status == 200
        attacker = register_attacker(api_client, vault)
        answers = []

        def open_one():
            answers.append(_raw("POST", f"{base}/backup-sessions", attacker.token))

        threads = [threading.Thread(target=open_one) for _ in range(24)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        opened = [body for status, _, body in answers if status == 201]
        refused = [(after, body) for status, after, body in answers if status == 429]
        assert len(opened) == 3 and len(refused) == 21, [a[0] for a in answers]
        assert all(int(after) > 0 and "\n" not in body["error"] and "sessions open" in body["error"] for after, body in refused)

        status, _, _ = _raw("DELETE", f"{base}/backup-sessions/{opened[0]['session_id']}", attacker.token)
        assert status == 200
        assert _raw("POST", f"{base}/backup-sessions", attacker.token)[0] == 201  # its slot was freed

        # Commits: two per hour, then 429 until the next hour.
        source = source_tree(tmp_path / "source", files=1)
        for _ in range(2):
            victim.backup(source)
        third = victim.run("backup", str(source), "--json")
        assert third.code == 9 and third.stderr.count("\n") == 1 and "this hour" in third.stderr, third.stderr

        # Quota: a vault at its quota refuses new backups until an operator acts.
        api_client.call("PATCH", f"/vaults/{vault.vault_id}", admin, {"limits": {"quota_bytes": 1, "max_commits_per_hour": 0}})
        rt = service_runtime(stack, **private_queues())
        refresh_stored(rt, _vault(rt, vault.vault_id))
        status, after, body = _raw("POST", f"{base}/backup-sessions", victim_token(victim))
        assert status == 429 and int(after) > 0 and "quota" in body["error"]
        refused = victim.run("backup", str(source))
        assert refused.code == 9 and "quota" in refused.stderr and refused.stderr.count("\n") == 1


def victim_token(machine) -> str:
    return json.loads((machine.home / "config.json").read_text())["token"]


def test_the_fee_tier_counts_at_least_what_the_catalog_measured(api_client, stack, tmp_path, rng):
    """Finding 5: a machine declared 10 bytes for a point storing megabytes."""
    with vault_with_machine(stack, tmp_path) as (vault, _):
        attacker = register_attacker(api_client, vault)
        rt = service_runtime(stack, **private_queues())
        session = attacker.session()
        pack = synthetic_pack(rng, chunks=4, sealed_size=MIB)
        assert attacker.put(session, *pack) == 201
        snapshot = rng.randbytes(32)
        assert attacker.put(session, f"snapshots/{session['session_id']}", snapshot) == 201
        commit_blob, manifest = manifest_blob(point_manifest(
            session["session_id"], attacker.instance_id, snapshot, [{"name": pack[0], "size": len(pack[1]), "chunks": 4}],
            "0" * 32, summary={"files": 1, "dirs": 0, "bytes": 10, "files_new": 1, "files_changed": 0,
                               "files_unchanged": 0, "bytes_read": 10, "bytes_uploaded": 10, "partial": False}))
        assert attacker.put(session, commit_blob, manifest) == 201
        message = CommitMessage(vault_id=vault.vault_id, instance_id=attacker.instance_id,
                                recovery_point_id=session["session_id"], commit_blob=commit_blob, enqueued_at=rt.clock())
        assert catalog_commit(rt, message) == "committed"
        events = [json.loads(m.body) for m in rt.queues.peek(rt.settings.metering_queue)]
        backup, = [event for event in events if event["event_id"] == f"backup:{session['session_id']}"]
        assert backup["bytes"] >= len(pack[1]) > 10


@pytest.mark.parametrize("name", ["evil\u202eexe.txt", "line\nbreak", "c1\u009bcontrol", "zero\u200bwidth",
                                  " padded", "bell\a", "del\x7f"])
def test_machine_names_that_would_rewrite_a_terminal_are_refused(api_client, stack, name):
    """Finding 6: names took C1 control and bidi characters that reached the terminal raw."""
    from tests.api.conftest import make_tenant

    tenant = make_tenant(api_client, stack["BACKUP_ADMIN_KEY"])
    status, answer = api_client.call("POST", "/instances", tenant["registration_key"], {"name": name})
    assert status == 400 and "name" in answer["error"] and "\n" not in answer["error"]


def test_a_vault_name_shaped_like_a_vault_id_is_refused(api_client, stack):
    """Finding 6: a vault named like another vault's id would shadow it in every {vault} route."""
    status, answer = api_client.call("POST", "/vaults", stack["BACKUP_ADMIN_KEY"], {"name": secrets.token_hex(16)})
    assert status == 400 and "32 hex digits" in answer["error"]
    status, answer = api_client.call("POST", "/vaults", stack["BACKUP_ADMIN_KEY"], {"name": secrets.token_hex(16).upper()})
    assert status == 400
