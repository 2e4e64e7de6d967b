"""The walking skeleton through the real host: SAS upload, commit over HTTP, catalog by queue trigger."""

import hashlib
import secrets
import time
from urllib.parse import quote

import pytest
import urllib3

from shared.formats import pack_index
from tests.support.manifests import manifest_blob, point_manifest
from tests.support.runtimes import service_runtime

HTTP = urllib3.PoolManager(retries=False)


def _put(session: dict, name: str, data: bytes) -> int:
    url = f"{session['container_url']}/{name}?{session['sas']}"
    return HTTP.request("PUT", url, body=data, headers={"x-ms-blob-type": "BlockBlob", "If-None-Match": "*"}).status


def _pack(chunks: int = 2) -> tuple[str, bytes]:
    body, entries, offset = b"", [], 0
    for _ in range(chunks):
        sealed = secrets.token_bytes(64)
        entries.append(pack_index.PackEntry(secrets.token_bytes(32), pack_index.ChunkKind.DATA, offset, len(sealed)))
        body, offset = body + sealed, offset + len(sealed)
    data = body + pack_index.serialize_trailer(entries)
    return f"packs/{hashlib.sha256(data).hexdigest()}", data


def _commit(api, tenant: dict, packs: list[tuple[str, bytes]], upload: list[tuple[str, bytes]]) -> str:
    status, session = api.call("POST", "/backup-sessions", tenant["token"], {})
    assert status == 201
    rp_id = session["recovery_point_id"]
    for name, data in upload:
        assert _put(session, name, data) == 201
    snapshot = secrets.token_bytes(32)
    assert _put(session, f"snapshots/{rp_id}", snapshot) == 201
    commit_blob, manifest = manifest_blob(point_manifest(
        rp_id, tenant["instance_id"], snapshot, [{"name": n, "size": len(d), "chunks": 2} for n, d in packs], "0" * 32))
    assert _put(session, commit_blob, manifest) == 201
    status, accepted = api.call("POST", f"/backup-sessions/{rp_id}/commit", tenant["token"], {"commit_blob": commit_blob})
    assert status == 202 and accepted["state"] == "pending"
    return rp_id


def _pack_documents(catalog, vault_id: str) -> list[dict]:
    """The vault's pack and reference documents, without system fields."""
    docs = ({k: v for k, v in doc.items() if not k.startswith("_")} for doc in catalog.packs.query(vault_id))
    return sorted(docs, key=lambda doc: doc["id"])


def _wait_for_state(api, tenant, rp_id, states, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, rp = api.call("GET", f"/recovery-points/{rp_id}", tenant["token"])
        if status == 200 and rp["state"] in states:
            return rp
        time.sleep(0.3)
    pytest.fail(f"recovery point {rp_id} never reached {states}")


def test_commit_is_cataloged_by_the_queue_trigger_and_listed(api, tenants):
    tenant = tenants[0]
    pack = _pack()
    rp_id = _commit(api, tenant, [pack], [pack])
    rp = _wait_for_state(api, tenant, rp_id, {"committed"})
    assert rp["instance_id"] == tenant["instance_id"] and rp["files"] == 1
    status, listing = api.call("GET", f"/recovery-points?instance={tenant['instance_id']}", tenant["token"])
    assert status == 200 and rp_id in [item["id"] for item in listing["items"]]


def test_the_client_sas_cannot_overwrite_or_delete(api, tenants):
    tenant = tenants[0]
    status, session = api.call("POST", "/backup-sessions", tenant["token"], {})
    name = f"snapshots/{session['recovery_point_id']}"
    assert _put(session, name, b"first") == 201
    url = f"{session['container_url']}/{name}?{session['sas']}"
    assert HTTP.request("PUT", url, body=b"second", headers={"x-ms-blob-type": "BlockBlob"}).status == 403
    assert HTTP.request("DELETE", url).status == 403
    assert HTTP.request("GET", url).data == b"first"


def test_bad_commit_goes_to_poison_with_reason_then_replays_after_the_fix(api, tenants, stack):
    tenant = tenants[1]
    catalog = service_runtime(stack).catalog
    packs_before = _pack_documents(catalog, tenant["vault_id"])
    name, data = _pack()
    rp_id = _commit(api, tenant, [(name, data)], upload=[])  # the pack was never uploaded
    rejected = _wait_for_state(api, tenant, rp_id, {"rejected"})
    assert name in rejected["rejected_reason"]
    deadline = time.monotonic() + 90
    poisoned = None
    while poisoned is None and time.monotonic() < deadline:
        status, poison = api.call("GET", "/poison", stack["BACKUP_ADMIN_KEY"])
        poisoned = next((m for m in poison["items"] if rp_id in m["body_preview"]), None)
        time.sleep(1)
    assert poisoned is not None and poisoned["queue"] == "commits"
    # The catalog holds no recovery point for it, only the rejection.
    status, listing = api.call("GET", "/recovery-points?state=committed", tenant["token"])
    assert rp_id not in [item["id"] for item in listing["items"]]
    assert _pack_documents(catalog, tenant["vault_id"]) == packs_before  # no reference, no pack document
    # Fix the cause (upload the pack through a fresh session's SAS), then replay.
    status, session = api.call("POST", "/backup-sessions", tenant["token"], {})
    assert _put(session, name, data) == 201
    status, replayed = api.call("POST", f"/poison/commits/{poisoned['message_id']}/replay", stack["BACKUP_ADMIN_KEY"])
    assert status == 200 and replayed["replayed"]
    _wait_for_state(api, tenant, rp_id, {"committed"})
    pack_id = name.removeprefix("packs/")
    cataloged = _pack_documents(catalog, tenant["vault_id"])
    assert {doc["id"] for doc in cataloged} - {doc["id"] for doc in packs_before} == {pack_id, f"ref:{pack_id}:{rp_id}"}
    assert next(doc for doc in cataloged if doc["id"] == pack_id)["size"] == len(data)


@pytest.mark.parametrize("token", ["+Aw+'[$a|", "{}", "[1]", "é", "%00"])
def test_a_malformed_continuation_token_is_a_client_error_not_an_outage(api, tenants, token):
    """Found by the schemathesis soak (seed 122131710): a token the local server chokes on answered 503."""
    tenant = tenants[0]
    status, body = api.call("GET", f"/recovery-points?state=pending&limit=266&continuation={quote(token)}",
                            tenant["admin_key"])
    assert status == 400, body
    assert "continuation" in body["error"]
