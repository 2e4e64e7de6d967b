"""Transient storage failures (429, 5xx, lost connections) are retried with backoff and Retry-After; other errors are not."""

from __future__ import annotations

import email.utils
import http.server
import threading
import time
import urllib.parse
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import urllib3

from agent_client.errors import BlobConflictError, BlobNotFoundError, StorageBusyError
from agent_client.retrying_blobs import RetryingBlobs
from agent_client.sas_blobs import SasBlobs

from .fakes import MemoryBlobs


class Flaky(MemoryBlobs):
    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.calls = 0

    def put_new(self, name, data):
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise StorageBusyError("HTTP 503")
        return super().put_new(name, data)


def test_transient_failures_are_retried_with_growing_delays():
    delays: list[float] = []
    blobs = RetryingBlobs(Flaky(3), sleep=delays.append)
    assert blobs.put_new("packs/x", b"data") is True
    assert len(delays) == 3 and delays[0] < delays[2]


def test_retries_give_up_after_the_attempt_budget():
    inner = Flaky(100)
    with pytest.raises(StorageBusyError):
        RetryingBlobs(inner, attempts=4, sleep=lambda _: None).put_new("packs/x", b"data")
    assert inner.calls == 4


def test_a_put_that_already_happened_counts_as_done():
    inner = MemoryBlobs()
    inner.put_new("packs/x", b"data")
    assert RetryingBlobs(inner).put_new("packs/x", b"data") is False


def test_not_found_is_not_retried():
    delays: list[float] = []
    with pytest.raises(BlobNotFoundError):
        RetryingBlobs(MemoryBlobs(), sleep=delays.append).get("packs/missing")
    assert delays == []


class ScriptedStorage:
    """A loopback HTTP server in front of the SAS adapter: it answers the scripted failures first,
    then forwards each request to `upstream` (Azurite) or, without one, answers Put Blob and Get
    Blob itself as Azurite would. It records when each request arrived."""

    def __init__(self, failures: list[tuple[int, dict[str, str]]], upstream: str | None = None) -> None:
        self.failures = list(failures)
        self.upstream = upstream
        self.arrivals: list[tuple[str, float]] = []
        self.stored: dict[str, bytes] = {}
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        storage = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None: ...

            def _answer(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                storage.arrivals.append((self.command, time.monotonic()))
                if storage.failures:
                    status, headers = storage.failures.pop(0)
                    return self._answer(status, {"x-ms-error-code": "ServerBusy", **headers})
                if storage.upstream:
                    upstream = urllib3.PoolManager(retries=False).request(
                        self.command, storage.upstream + self.path, body=body or None,
                        headers={k: v for k, v in self.headers.items() if k.lower() != "host"})
                    return self._answer(upstream.status, {k: v for k, v in upstream.headers.items()
                                                          if k.lower() not in ("content-length", "transfer-encoding")},
                                        upstream.data)
                name = self.path.split("?")[0]
                if self.command == "PUT":
                    if name in storage.stored:
                        return self._answer(409, {"x-ms-error-code": "BlobAlreadyExists"})
                    storage.stored[name] = body
                    return self._answer(201, {})
                if name in storage.stored:
                    return self._answer(200, {}, storage.stored[name])
                return self._answer(404, {"x-ms-error-code": "BlobNotFound"})

            do_PUT = do_GET = do_HEAD = _serve

        return Handler


@pytest.fixture
def scripted_storage():
    servers: list[ScriptedStorage] = []

    def make(failures, upstream=None) -> ScriptedStorage:
        servers.append(ScriptedStorage(failures, upstream))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttling_and_server_errors_from_storage_are_retried_with_backoff(scripted_storage, status):
    storage = scripted_storage([(status, {}), (status, {})])
    delays: list[float] = []
    blobs = RetryingBlobs(SasBlobs(storage.url + "/vault", "sv=x&sig=y"), base_delay=0.5, sleep=delays.append)
    assert blobs.put_new("packs/p", b"pack bytes") is True
    assert blobs.get("packs/p") == b"pack bytes"
    assert [method for method, _ in storage.arrivals] == ["PUT", "PUT", "PUT", "GET"]
    assert len(delays) == 2 and 0.25 <= delays[0] <= 0.5 and 0.5 <= delays[1] <= 1.0  # 0.5 s, then 1 s, jittered


@pytest.mark.parametrize(("headers", "least"), [
    ({"Retry-After": "7"}, 7.0),
    ({"retry-after-ms": "2500"}, 2.5),
    ({"x-ms-retry-after-ms": "4000"}, 4.0),
    ({"Retry-After": "in 12 s, as an HTTP date"}, 10.0),
])
def test_retry_after_is_waited_for(scripted_storage, headers, least):
    if headers.get("Retry-After", "").startswith("in 12 s"):
        headers = {"Retry-After": email.utils.formatdate(time.time() + 12, usegmt=True)}  # whole seconds: 11-12 s
    storage = scripted_storage([(503, headers), (429, headers)])
    delays: list[float] = []
    RetryingBlobs(SasBlobs(storage.url + "/vault", "sv=x&sig=y"), sleep=delays.append).put_new("packs/p", b"x")
    assert len(delays) == 2 and all(least <= delay <= least + 2.5 for delay in delays), delays


def test_retry_after_is_capped_so_a_backup_never_stalls_for_minutes(scripted_storage):
    storage = scripted_storage([(503, {"Retry-After": "3600"})])
    delays: list[float] = []
    RetryingBlobs(SasBlobs(storage.url + "/vault", "sv=x&sig=y"), max_delay=30.0, sleep=delays.append).put_new("k", b"x")
    assert delays == [30.0]


def test_unreadable_retry_after_falls_back_to_backoff(scripted_storage):
    storage = scripted_storage([(503, {"Retry-After": "soon"})])
    delays: list[float] = []
    RetryingBlobs(SasBlobs(storage.url + "/vault", "sv=x&sig=y"), sleep=delays.append).put_new("k", b"x")
    assert len(delays) == 1 and delays[0] <= 0.5


@pytest.mark.stack
def test_azurite_behind_a_proxy_answering_503_twice_gets_the_blob_after_the_asked_waits(stack, scripted_storage):
    """Real time, real Azurite: the retries arrive no sooner than Retry-After, and the blob is stored once."""
    from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

    service = BlobServiceClient.from_connection_string(stack["PRIMARY_STORAGE_CONNECTION_STRING"])
    container = service.create_container(f"vault-retry-{uuid.uuid4().hex[:12]}")
    try:
        sas = generate_container_sas(service.account_name, container.container_name,
                                     account_key=service.credential.account_key,
                                     permission=ContainerSasPermissions(read=True, create=True, list=True),
                                     expiry=datetime.now(timezone.utc) + timedelta(hours=1))
        azurite = urllib.parse.urlsplit(container.url)
        storage = scripted_storage([(503, {"Retry-After": "1"}), (503, {"Retry-After": "1"})],
                                   upstream=f"{azurite.scheme}://{azurite.netloc}")
        blobs = RetryingBlobs(SasBlobs(storage.url + azurite.path, sas), base_delay=0.05)
        assert blobs.put_new("packs/p", b"pack bytes") is True
        times = [when for _, when in storage.arrivals]
        assert len(times) == 3 and times[1] - times[0] >= 1.0 and times[2] - times[1] >= 1.0
        assert container.download_blob("packs/p").readall() == b"pack bytes"
        assert blobs.put_new("packs/p", b"pack bytes") is False  # Azurite's answer, through the proxy
        with pytest.raises(BlobConflictError):
            blobs.put_new("packs/p", b"other bytes")
    finally:
        container.delete_container()
