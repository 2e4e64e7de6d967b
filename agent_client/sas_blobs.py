"""VaultBlobs over the Blob service REST API with a container SAS, using plain urllib3.

Every write is one Put Blob with `If-None-Match: *`: the SAS has create but not write
permission, and Put Block would need write. A blob that already exists answers 409/412, or 403
(the create-only SAS refuses the overwrite first); put_new then reads it: the same bytes (a retry
whose answer was lost) are reported as False, other bytes or another blob kind as
BlobConflictError, since another writer took the name. Transport failures, 429 and 5xx become
StorageBusyError for the retrying wrapper, carrying as `retry_after` the seconds the storage
asked for (`retry-after-ms`, `x-ms-retry-after-ms` or `Retry-After`, as azure-core reads them);
everything else becomes a one-line BackupError.
"""

from __future__ import annotations

import email.utils
import time
import urllib.parse
import xml.etree.ElementTree as ElementTree

import urllib3

from agent_client.errors import BlobConflictError, BlobNotFoundError, ServiceError, StorageBusyError
from agent_client.ports import BlobListing, BlobPage

_PUT_HEADERS = {"x-ms-blob-type": "BlockBlob", "If-None-Match": "*", "Content-Type": "application/octet-stream"}
_LIST_PAGE = 5000


def make_pool(connections: int = 16) -> urllib3.PoolManager:
    return urllib3.PoolManager(
        num_pools=4, maxsize=connections, block=True, retries=False,
        timeout=urllib3.Timeout(connect=10.0, read=300.0),
    )


class SasBlobs:
    """One vault container addressed as `<container_url>/<name>?<sas>`."""

    def __init__(self, container_url: str, sas: str, pool: urllib3.PoolManager | None = None,
                 list_page_size: int = _LIST_PAGE) -> None:
        self._container_url = container_url.rstrip("/")
        self._sas = sas.lstrip("?")
        self._pool = pool or make_pool()
        self._list_page_size = list_page_size

    def put_new(self, name: str, data: bytes | list[bytes]) -> bool:
        # A list is sent part after part under one Content-Length: one Put Blob, no joined copy.
        size = len(data) if isinstance(data, bytes) else sum(map(len, data))
        headers = {**_PUT_HEADERS, "Content-Length": str(size)}
        response = self._request("PUT", self._blob_url(name), body=data, headers=headers)
        if response.status in (200, 201):
            return True
        # The create-only SAS makes storage refuse an overwrite (403) before checking If-None-Match.
        if response.status in (409, 412) or (response.status == 403 and self._exists(name)):
            self._check_same(name, data)
            return False
        raise self._error(response, f"upload {name}")

    def _check_same(self, name: str, data: bytes | list[bytes]) -> None:
        response = self._request("GET", self._blob_url(name))
        if response.status != 200:
            raise self._error(response, f"read {name}", name)
        held = response.data
        ours = data if isinstance(data, bytes) else b"".join(data)
        if response.headers.get("x-ms-blob-type", "BlockBlob") != "BlockBlob" or held != ours:
            raise BlobConflictError(name)

    def get(self, name: str) -> bytes:
        response = self._request("GET", self._blob_url(name))
        if response.status == 200:
            return response.data
        raise self._error(response, f"read {name}", name)

    def get_range(self, name: str, offset: int, length: int) -> bytes:
        if length <= 0:
            return b""
        headers = {"Range": f"bytes={offset}-{offset + length - 1}"}
        response = self._request("GET", self._blob_url(name), headers=headers)
        if response.status == 206:
            return response.data
        if response.status == 200:  # a server may answer a range covering the whole blob in full
            return response.data[offset : offset + length]
        if response.status == 416:
            return b""
        raise self._error(response, f"read {name}", name)

    def _exists(self, name: str) -> bool:
        return self._request("HEAD", self._blob_url(name)).status == 200

    def list_page(self, prefix: str, marker: str | None) -> BlobPage:
        query = {"restype": "container", "comp": "list", "prefix": prefix, "maxresults": str(self._list_page_size)}
        if marker:
            query["marker"] = marker
        url = f"{self._container_url}?{urllib.parse.urlencode(query)}&{self._sas}"
        response = self._request("GET", url)
        if response.status != 200:
            raise self._error(response, f"list {prefix}")
        return _parse_listing(response.data)

    def _blob_url(self, name: str) -> str:
        return f"{self._container_url}/{urllib.parse.quote(name)}?{self._sas}"

    def _request(self, method: str, url: str, body: bytes | None = None, headers: dict | None = None):
        try:
            response = self._pool.request(method, url, body=body, headers=headers, retries=False)
        except urllib3.exceptions.HTTPError as exc:
            host = urllib.parse.urlsplit(self._container_url).netloc
            raise StorageBusyError(f"cannot reach the vault storage at {host} ({type(exc).__name__})") from exc
        if response.status == 429 or response.status >= 500:
            raise StorageBusyError(f"the vault storage answered HTTP {response.status}",
                                   retry_after_seconds(response.headers))
        return response

    @staticmethod
    def _error(response, doing: str, missing_name: str | None = None) -> Exception:
        if response.status == 404 and missing_name:
            return BlobNotFoundError(missing_name)
        code = response.headers.get("x-ms-error-code", "")
        if response.status == 403:
            return ServiceError(f"the vault storage refused to {doing}: the session's access expired or lacks permission ({code})", 403)
        return ServiceError(f"the vault storage could not {doing}: HTTP {response.status} {code}".rstrip(), response.status)


def retry_after_seconds(headers) -> float | None:
    """The wait a 429/503 asks for, in seconds (0 for a date in the past); None if it names none or is unreadable."""
    for name, scale in (("retry-after-ms", 1000), ("x-ms-retry-after-ms", 1000)):
        try:
            return max(0.0, float(headers[name]) / scale)
        except (KeyError, ValueError):
            pass
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _parse_listing(xml_bytes: bytes) -> BlobPage:
    root = ElementTree.fromstring(xml_bytes)
    blobs = []
    for blob in root.iter("Blob"):
        name = blob.findtext("Name") or ""
        size = int(blob.findtext("Properties/Content-Length") or 0)
        blobs.append(BlobListing(name, size, blob.findtext("Properties/BlobType") or "BlockBlob"))
    return BlobPage(blobs, root.findtext("NextMarker") or None)
