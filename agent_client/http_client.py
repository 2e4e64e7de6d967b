"""JSON-over-HTTP client for the service API, translating transport failures into BackupError."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import urllib3

from agent_client.errors import LimitError, NotFoundError, ServiceError, ServiceUnreachableError
from agent_client.sas_blobs import retry_after_seconds
from shared.formats import bounded_json


def api_root(url: str) -> str:
    """The API root, ending in /api: $BACKUP_API_URL may be given with or without it."""
    url = url.rstrip("/")
    return url if url.endswith("/api") else url + "/api"


def _with_retry_after(reason: str, retry_after: str | None) -> str:
    if not retry_after or not retry_after.isdigit():
        return reason
    return f"{reason} (the service asks to retry in {int(retry_after)} s)"


class JsonHttpClient:
    """Calls `<api root>/<path>` with a bearer token; returns decoded JSON or raises.

    Paths are relative to the API root; a leading `/api/` is accepted and ignored."""

    def __init__(self, base_url: str, token: str | None, timeout: float = 60.0, retries: int = 3) -> None:
        self._base_url = api_root(base_url)
        self._token = token
        self._pool = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=5.0, read=timeout),
            retries=urllib3.Retry(
                total=retries, connect=retries, read=0, status=retries, backoff_factor=0.5,
                # Not 429: the service answers it for a limit, with a Retry-After that may be an
                # hour, which urllib3 would sleep through (it honours Retry-After on 429 even
                # outside the forcelist unless told not to).
                status_forcelist=(502, 503, 504), allowed_methods=None,
                raise_on_status=False, respect_retry_after_header=False,
            ),
        )

    def request(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        url = f"{self._base_url}/{path.lstrip('/').removeprefix('api/')}"
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        encoded = None
        if body is not None:
            encoded = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        fields = {k: str(v) for k, v in (params or {}).items() if v is not None}
        try:
            if fields:
                url = url + "?" + urllib.parse.urlencode(fields)
            response = self._pool.request(method, url, body=encoded, headers=headers)
        except urllib3.exceptions.HTTPError as exc:
            raise ServiceUnreachableError(f"cannot reach the backup service at {self._base_url}") from exc
        payload: Any = None
        if response.data:
            try:
                payload = bounded_json.parse(response.data)
            except ValueError as exc:
                # An error answer may be a proxy's page; a success must be JSON, or its caller fails later.
                if response.status < 400:
                    reason = exc if isinstance(exc, bounded_json.JsonTooDeep) else "a body that is not JSON"
                    raise ServiceError(f"the service answered HTTP {response.status} with {reason}",
                                       response.status) from exc
        if response.status >= 400:
            reason = payload.get("error") if isinstance(payload, dict) else None
            reason = reason or f"the service answered HTTP {response.status}"
            if response.status == 404:
                raise NotFoundError(reason, response.status)
            if response.status == 429:
                raise LimitError(_with_retry_after(reason, response.headers.get("Retry-After")),
                                 retry_after_seconds(response.headers))
            raise ServiceError(reason, response.status)
        return payload

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body=body if body is not None else {})

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, body=body)

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, body=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)
