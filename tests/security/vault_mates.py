"""Two machines of one vault on the local stack: a victim that backs up with the real client, and an attacker.

The attacker holds only its own instance token (and, where a test says so, the passphrase): it
calls the API and uses its backup SAS directly, as a compromised machine would.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from agent_client.agent_context import AgentContext, context_from_environment
from agent_client.ports import BlobPage, VaultBlobs
from tests.api.conftest import Api
from tests.client.e2e_support import Machine, Vault
from tests.support.http_backup import HTTP, blob_url


@dataclass
class Attacker:
    """A vault-mate holding its own instance token: the API and its own backup SAS, nothing else."""

    api: Api
    token: str
    instance_id: str

    def call(self, method: str, path: str, body=None):
        return self.api.call(method, path, self.token, body)

    def session(self) -> dict:
        status, session = self.call("POST", "/backup-sessions", {})
        assert status == 201, session
        return session

    def put(self, session: dict, name: str, data: bytes, blob_type: str = "BlockBlob", **headers: str) -> int:
        """Creates a blob as the SAS allows (create-only), of any kind; returns the status."""
        base = {"x-ms-blob-type": blob_type, "If-None-Match": "*"}
        return HTTP.request("PUT", blob_url(session, name), body=data, headers={**base, **headers}).status


def register_attacker(api: Api, vault: Vault, name: str = "mallory") -> Attacker:
    registration_key = json.loads(vault.credentials.read_text())["registration_key"]
    status, machine = api.call("POST", "/instances", registration_key, {"name": name})
    assert status == 201, machine
    return Attacker(api, machine["token"], machine["instance_id"])


class HookedBlobs:
    """The victim's blob port with a hook run before each upload, so an attack can land between two
    of the client's writes (a deterministic interleaving, as the catalog race tests do)."""

    def __init__(self, inner: VaultBlobs, before_put) -> None:
        self._inner = inner
        self._before_put = before_put

    def put_new(self, name: str, data) -> bool:
        self._before_put(name)
        return self._inner.put_new(name, data)

    def get(self, name: str) -> bytes:
        return self._inner.get(name)

    def get_range(self, name: str, offset: int, length: int) -> bytes:
        return self._inner.get_range(name, offset, length)

    def list_page(self, prefix: str, marker: str | None) -> BlobPage:
        return self._inner.list_page(prefix, marker)


def hooked_context(machine: Machine, before_put) -> AgentContext:
    """The victim's own client in this process, its uploads passing through `before_put(name)` first."""
    context = context_from_environment(machine.env)
    make_blobs = context.make_blobs
    context.make_blobs = lambda url, sas: HookedBlobs(make_blobs(url, sas), before_put)
    context.commit_timeout = 120
    return context


def source_tree(folder: Path, files: int = 4, size: int = 64 << 10) -> Path:
    folder.mkdir(parents=True)
    for index in range(files):
        (folder / f"file{index}.bin").write_bytes(secrets.token_bytes(size))
    return folder


def same_tree(restored_root: Path, source: Path) -> bool:
    return all((restored_root / path.relative_to(source)).read_bytes() == path.read_bytes()
               for path in source.rglob("*") if path.is_file())
