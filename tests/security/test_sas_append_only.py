"""Row 8: the client's own SAS cannot delete or overwrite any blob kind (packs, snapshots, commits, keys).

A machine's credentials are assumed stolen by ransomware: it opens fresh backup and restore
sessions and tries every storage operation that could destroy, replace, hide or lock a backup:
overwrites (plain, conditional, block list, copy, from URL), deletes, metadata and property
writes, tier changes, expiry, leases, container deletion, and SAS tokens with edited
permissions or pointed at another vault. Storage must refuse every one (4xx), and every blob
must end byte-for-byte, etag-for-etag as it was.
"""

from __future__ import annotations

import base64
from urllib.parse import parse_qsl, urlencode

import pytest

from tests.api.conftest import make_tenant
from tests.support.http_backup import HTTP, backup, blob_url, put_blob, synthetic_pack, wait_for_state

KINDS = ("packs", "snapshots", "commits", "keys")


def _attacks(session: dict, name: str, source_url: str) -> list[tuple[str, str, str, dict, bytes | None]]:
    """(label, method, url, headers, body) of every destructive operation on one blob."""
    url = blob_url(session, name)
    block_id = base64.b64encode(b"block-0001").decode()
    block_list = f'<?xml version="1.0" encoding="utf-8"?><BlockList><Latest>{block_id}</Latest></BlockList>'
    put = {"x-ms-blob-type": "BlockBlob"}
    return [
        ("overwrite", "PUT", url, put, b"ransom"),
        ("overwrite if exists (If-Match: *)", "PUT", url, {**put, "If-Match": "*"}, b"ransom"),
        ("create over it (If-None-Match: *)", "PUT", url, {**put, "If-None-Match": "*"}, b"ransom"),
        ("put block", "PUT", f"{url}&comp=block&blockid={block_id}", {}, b"ransom"),
        ("put block list", "PUT", f"{url}&comp=blocklist", {}, block_list.encode()),
        ("copy over it", "PUT", url, {"x-ms-copy-source": source_url}, None),
        ("put from URL over it", "PUT", url, {**put, "x-ms-copy-source": source_url}, None),
        ("append block", "PUT", f"{url}&comp=appendblock", {}, b"ransom"),
        ("put page", "PUT", f"{url}&comp=page", {"x-ms-page-write": "clear", "x-ms-range": "bytes=0-511"}, None),
        ("set metadata", "PUT", f"{url}&comp=metadata", {"x-ms-meta-ransom": "1"}, None),
        ("set properties", "PUT", f"{url}&comp=properties", {"x-ms-blob-content-type": "text/ransom"}, None),
        ("set tier archive", "PUT", f"{url}&comp=tier", {"x-ms-access-tier": "Archive"}, None),
        ("set expiry", "PUT", f"{url}&comp=expiry",
         {"x-ms-expiry-option": "RelativeToNow", "x-ms-expiry-time": "1"}, None),
        ("acquire infinite lease", "PUT", f"{url}&comp=lease",
         {"x-ms-lease-action": "acquire", "x-ms-lease-duration": "-1"}, None),
        ("set tags", "PUT", f"{url}&comp=tags", {"Content-Type": "application/xml"},
         b'<?xml version="1.0" encoding="utf-8"?><Tags><TagSet><Tag><Key>r</Key><Value>1</Value></Tag></TagSet></Tags>'),
        ("delete", "DELETE", url, {}, None),
        ("delete with snapshots", "DELETE", url, {"x-ms-delete-snapshots": "include"}, None),
        ("permanent delete", "DELETE", f"{url}&deletetype=permanent", {}, None),
    ]


def _container_attacks(session: dict) -> list[tuple[str, str, str, dict, bytes | None]]:
    url = f"{session['container_url']}?restype=container&{session['sas']}"
    return [
        ("delete container", "DELETE", url, {}, None),
        ("set container metadata", "PUT", f"{url}&comp=metadata", {"x-ms-meta-ransom": "1"}, None),
        ("set container ACL", "PUT", f"{url}&comp=acl", {"x-ms-blob-public-access": "container"}, None),
        ("acquire container lease", "PUT", f"{url}&comp=lease",
         {"x-ms-lease-action": "acquire", "x-ms-lease-duration": "-1"}, None),
    ]


def _edited(session: dict, **changes: str) -> dict:
    """The session with its SAS query edited (permissions widened, another container, ...)."""
    query = dict(parse_qsl(session["sas"], keep_blank_values=True))
    container_url = changes.pop("container_url", session["container_url"])
    query.update(changes)
    return {**session, "container_url": container_url, "sas": urlencode(query)}


def _state(session: dict, name: str) -> tuple:
    response = HTTP.request("GET", blob_url(session, name))
    headers = response.headers
    return (response.status, response.data, headers.get("ETag"), headers.get("x-ms-lease-state"),
            headers.get("x-ms-access-tier"), headers.get("Content-Type"),
            sorted(k for k in headers if k.lower().startswith("x-ms-meta-")))


def _full_access_session(stack: dict, container: str) -> dict:
    """A SAS with every permission on a scratch container: the control that the attacks are real requests."""
    from datetime import datetime, timedelta, timezone

    from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

    service = BlobServiceClient.from_connection_string(stack["PRIMARY_STORAGE_CONNECTION_STRING"])
    service.create_container(container)
    sas = generate_container_sas(service.account_name, container, account_key=service.credential.account_key,
                                 permission=ContainerSasPermissions(read=True, add=True, create=True, write=True,
                                                                    delete=True, list=True, tag=True),
                                 expiry=datetime.now(timezone.utc) + timedelta(hours=1))
    return {"container_url": f"{service.url.rstrip('/')}/{container}", "sas": sas}


# Operations that a SAS with write and delete permissions gets through on the local storage (the
# control run proves it), so that their refusal below is the SAS's doing, not a malformed request.
# (Put from URL, expiry, and append/page writes on a block blob are refused by Azurite whatever
# the SAS; they stay in the list for real storage.)
MUST_WORK_WITH_WRITE_AND_DELETE = {
    "overwrite", "overwrite if exists (If-Match: *)", "put block", "put block list", "copy over it",
    "set metadata", "set properties", "set tier archive", "set tags", "acquire infinite lease", "delete",
    "delete with snapshots", "permanent delete",
}


def _run_attacks(session: dict, blobs: dict[str, tuple[str, bytes]], source_name: str) -> list[tuple[str, str, int]]:
    source_url = blob_url(session, source_name)
    results = []
    for kind, (name, _) in blobs.items():
        for operation, method, url, headers, body in _attacks(session, name, source_url):
            results.append((kind, operation, HTTP.request(method, url, headers=headers, body=body).status))
            if operation == "acquire infinite lease" and results[-1][2] < 400:
                HTTP.request("PUT", url, headers={"x-ms-lease-action": "break", "x-ms-lease-break-period": "0"})
    return results


@pytest.mark.stack
def test_the_attacks_are_real_requests_that_a_write_delete_sas_gets_through(stack, rng):
    session = _full_access_session(stack, f"scratch-{rng.randbytes(8).hex()}")
    assert put_blob(session, "source", b"s") == 201
    accepted = set()
    for index, (operation, *_) in enumerate(_attacks(session, "x", "")):
        # A fresh blob per operation: a delete or a lease must not spoil the next one.
        name = f"{KINDS[index % len(KINDS)]}/{rng.randbytes(8).hex()}"
        assert put_blob(session, name, b"original") == 201
        attacks = _attacks(session, name, blob_url(session, "source"))
        if operation == "put block list":  # commits the block the attack before it staged
            _, method, url, headers, body = attacks[index - 1]
            HTTP.request(method, url, headers=headers, body=body)
        _, method, url, headers, body = attacks[index]
        if HTTP.request(method, url, headers=headers, body=body).status < 400:
            accepted.add(operation)
    assert MUST_WORK_WITH_WRITE_AND_DELETE <= accepted, MUST_WORK_WITH_WRITE_AND_DELETE - accepted


@pytest.mark.stack
def test_no_client_sas_can_destroy_any_blob_kind(api_client, stack, rng):
    api = api_client
    victim, other = make_tenant(api, stack["BACKUP_ADMIN_KEY"]), make_tenant(api, stack["BACKUP_ADMIN_KEY"])
    pack = synthetic_pack(rng)
    rp_id = backup(api, victim, [pack], rng)
    wait_for_state(api, victim["token"], rp_id, {"committed"})
    status, writer = api.call("POST", "/backup-sessions", victim["token"], {})
    assert status == 201
    key = (f"keys/{rng.randbytes(16).hex()}", b'{"wrapped": "..."}')
    assert put_blob(writer, *key) == 201
    source_name = f"snapshots/{rng.randbytes(16).hex()}"
    assert put_blob(writer, source_name, b"attacker-chosen bytes") == 201
    read = lambda name: HTTP.request("GET", blob_url(writer, name)).data  # noqa: E731
    commit_blob = api.call("GET", f"/recovery-points/{rp_id}", victim["token"])[1]["commit_blob"]
    blobs = {"packs": pack, "snapshots": (f"snapshots/{rp_id}", read(f"snapshots/{rp_id}")),
             "commits": (commit_blob, read(commit_blob)), "keys": key}
    before = {kind: _state(writer, name) for kind, (name, _) in blobs.items()}
    assert all(state[0] == 200 and state[1] == blobs[kind][1] for kind, state in before.items())

    # The attacker's own sessions: a fresh backup SAS, a restore SAS, and edited copies of both.
    status, backup_sas = api.call("POST", "/backup-sessions", victim["token"], {})
    assert status == 201
    status, restore_sas = api.call("POST", "/restore-sessions", victim["token"], {"recovery_point_id": rp_id})
    assert status == 201
    elsewhere = backup_sas["container_url"].replace(victim["vault_id"], other["vault_id"])
    sessions = {
        "backup SAS": backup_sas, "restore SAS": restore_sas,
        "backup SAS edited to racwdlt": _edited(backup_sas, sp="racwdlt"),
        "restore SAS edited to racwdlt": _edited(restore_sas, sp="racwdlt"),
        "backup SAS pointed at another vault": _edited(backup_sas, container_url=elsewhere),
    }
    attempts, allowed = 0, []
    for label, session in sessions.items():
        results = _run_attacks(session, blobs, source_name)
        for operation, method, url, headers, body in _container_attacks(session):
            results.append(("container", operation, HTTP.request(method, url, headers=headers, body=body).status))
        if label.startswith("restore"):
            results.append(("packs", "create a new blob", put_blob(session, f"packs/{rng.randbytes(32).hex()}", b"x")))
        attempts += len(results)
        allowed += [f"{label}: {op} on {kind} answered {status}" for kind, op, status in results if status < 400]
    after = {kind: _state(writer, name) for kind, (name, _) in blobs.items()}
    assert not allowed, f"{len(allowed)} of {attempts} destructive requests were accepted: {allowed}"
    for kind in KINDS:
        assert after[kind] == before[kind], f"the {kind} blob changed: {before[kind]} -> {after[kind]}"
    print(f"{attempts} destructive requests, all refused")
