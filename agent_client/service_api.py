"""ServiceApi over the HTTP API (docs/design.md), using the lead's JsonHttpClient."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent_client.errors import ServiceError
from agent_client.http_client import JsonHttpClient
from agent_client.ports import BackupSession, Registration, RestoreSession


class HttpServiceApi:
    """The machine's calls, authenticated with its instance token (or a registration key)."""

    def __init__(self, api_url: str, token: str | None) -> None:
        # $BACKUP_API_URL may name the service root or its /api base; routes below carry /api.
        self._api_url = api_url.rstrip("/").removesuffix("/api")
        self._http = JsonHttpClient(self._api_url, token)

    def register(self, registration_key: str, name: str) -> Registration:
        body = JsonHttpClient(self._api_url, registration_key).post("/api/instances", {"name": name})
        _require(body, "instance_id", "vault_id", "token")
        return Registration(body["instance_id"], body["vault_id"], body.get("vault_name", ""), body["token"])

    def open_backup_session(self) -> BackupSession:
        body = self._http.post("/api/backup-sessions", {})
        _require(body, "session_id", "recovery_point_id", "container_url", "sas")
        return BackupSession(
            session_id=body["session_id"], recovery_point_id=body["recovery_point_id"],
            container_url=body["container_url"], sas=body["sas"], expires_at=body.get("expires_at", ""),
            key_id=body.get("key_id"), condemned_packs=frozenset(body.get("condemned_packs") or ()),
        )

    def set_vault_key(self, key_id: str, previous_key_id: str | None, key_proof: str) -> None:
        self._http.put("/api/vault-key", {"key_id": key_id, "previous_key_id": previous_key_id, "key_proof": key_proof})

    def commit(self, session_id: str, commit_blob: str) -> None:
        self._http.post(f"/api/backup-sessions/{session_id}/commit", {"commit_blob": commit_blob})

    def abandon_backup_session(self, session_id: str) -> None:
        self._http.delete(f"/api/backup-sessions/{session_id}")

    def get_recovery_point(self, recovery_point_id: str) -> dict[str, Any]:
        return self._http.get(f"/api/recovery-points/{recovery_point_id}")

    def list_recovery_points(self, instance_id: str | None, state: str, limit: int | None = None) -> Iterator[dict[str, Any]]:
        continuation = None
        yielded = 0
        while True:
            page = self._http.get(
                "/api/recovery-points", instance=instance_id, state=state, limit=limit, continuation=continuation,
            )
            for item in page.get("items", []):
                yield item
                yielded += 1
                if limit is not None and yielded >= limit:
                    return
            continuation = page.get("continuation")
            if not continuation:
                return

    def open_restore_session(self, recovery_point_id: str, from_secondary: bool) -> RestoreSession:
        body = self._http.post(
            "/api/restore-sessions", {"recovery_point_id": recovery_point_id, "from_secondary": from_secondary},
        )
        _require(body, "session_id", "container_url", "sas")
        return RestoreSession(
            session_id=body["session_id"], container_url=body["container_url"], sas=body["sas"],
            expires_at=body.get("expires_at", ""), key_id=body.get("key_id"),
            recovery_point=body.get("recovery_point") or {},
        )

    def complete_restore(self, session_id: str, restored_bytes: int) -> None:
        self._http.post(f"/api/restore-sessions/{session_id}/complete", {"bytes": restored_bytes})


def _require(body: Any, *fields: str) -> None:
    if not isinstance(body, dict) or any(field not in body for field in fields):
        raise ServiceError(f"the service answered without {', '.join(fields)}")
