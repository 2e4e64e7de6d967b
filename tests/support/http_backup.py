"""Backs up synthetic data through the real host: HTTP session, SAS uploads, commit manifest, commit call."""

from __future__ import annotations

import hashlib
import random
import time
from datetime import datetime

import urllib3

from shared.formats import pack_index
from shared.formats.commit_manifest import CommitManifest
from tests.support.manifests import manifest_blob, point_manifest

HTTP = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=60), maxsize=32)


def blob_url(session: dict, name: str) -> str:
    return f"{session['container_url']}/{name}?{session['sas']}"


def put_blob(session: dict, name: str, data: bytes) -> int:
    """A single create-only Put Blob through the session's SAS, as the client uploads; returns the status."""
    headers = {"x-ms-blob-type": "BlockBlob", "If-None-Match": "*"}
    return HTTP.request("PUT", blob_url(session, name), body=data, headers=headers).status


def synthetic_pack(rng: random.Random, chunks: int = 2, sealed_size: int = 64) -> tuple[str, bytes]:
    """A pack whose index is valid and whose sealed chunks are seeded noise (the service never decrypts)."""
    body, entries, offset = b"", [], 0
    for _ in range(chunks):
        sealed = rng.randbytes(sealed_size)
        entries.append(pack_index.PackEntry(rng.randbytes(32), pack_index.ChunkKind.DATA, offset, len(sealed)))
        body, offset = body + sealed, offset + len(sealed)
    data = body + pack_index.serialize_trailer(entries)
    return f"packs/{hashlib.sha256(data).hexdigest()}", data


def manifest_for(rp_id: str, instance_id: str, snapshot: bytes, packs: list[tuple[str, bytes]], key_id: str,
                 client_time: datetime | None = None) -> CommitManifest:
    """The manifest a client writes; each pack's chunk count is read from its own index."""
    declared = [{"name": n, "size": len(d), "chunks": len(pack_index.parse_trailer(d, len(d)))} for n, d in packs]
    return point_manifest(rp_id, instance_id, snapshot, declared, key_id, client_time)


def backup(api, tenant: dict, packs: list[tuple[str, bytes]], rng: random.Random, *,
           upload: list[tuple[str, bytes]] | None = None, client_time: datetime | None = None,
           key_id: str = "0" * 32) -> str:
    """One recovery point: session, packs (all of `packs` unless `upload` says which), snapshot, manifest, commit."""
    status, session = api.call("POST", "/backup-sessions", tenant["token"], {})
    assert status == 201, session
    rp_id = session["recovery_point_id"]
    for name, data in packs if upload is None else upload:
        assert put_blob(session, name, data) == 201, name
    snapshot = rng.randbytes(48)
    assert put_blob(session, f"snapshots/{rp_id}", snapshot) == 201
    commit_blob, manifest = manifest_blob(manifest_for(rp_id, tenant["instance_id"], snapshot, packs, key_id, client_time))
    assert put_blob(session, commit_blob, manifest) == 201
    status, accepted = api.call("POST", f"/backup-sessions/{rp_id}/commit", tenant["token"],
                                {"commit_blob": commit_blob})
    assert status == 202, accepted
    return rp_id


def wait_for_state(api, token: str, rp_id: str, states: set[str], timeout: float = 90.0, query: str = "") -> dict:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        status, last = api.call("GET", f"/recovery-points/{rp_id}{query}", token)
        if status == 200 and last["state"] in states:
            return last
        time.sleep(0.25)
    raise AssertionError(f"recovery point {rp_id} never reached {sorted(states)}; last seen {last}")


def wait_until(predicate, timeout: float, what: str, interval: float = 0.25):
    """Polls until predicate() is truthy; returns its value or fails naming what never happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what} did not happen within {timeout:.0f} s")
