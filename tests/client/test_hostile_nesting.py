"""Deeply nested JSON from the service or from storage is a one-line error of ours, never a RecursionError."""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Iterator

import pytest
import zstandard
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from agent_client.errors import IntegrityError, ServiceError
from agent_client.http_client import JsonHttpClient
from agent_client.keys import MasterKeys, new_key_id, unwrap_master_keys
from agent_client.snapshot_doc import MAGIC, open_snapshot

PASSPHRASE = "a passphrase long enough"
RP = "ab" * 16
DEEP = [b"[" * 100_000, b'{"a": ' * 100_000, b"[" * 200 + b"]" * 200]
DEEP_IDS = ["unclosed-arrays", "unclosed-objects", "200-levels"]


class _OneAnswer(http.server.BaseHTTPRequestHandler):
    status = 200
    body = b""

    def do_GET(self) -> None:  # noqa: N802 - the http.server hook
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def service() -> Iterator[type[_OneAnswer]]:
    """A service on loopback that gives every request the answer the test sets on the handler."""
    handler = type("Answer", (_OneAnswer,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    handler.url = f"http://127.0.0.1:{server.server_port}"
    yield handler
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("status", [200, 400, 500])
@pytest.mark.parametrize("body", DEEP, ids=DEEP_IDS)
def test_a_deeply_nested_answer_is_a_one_line_service_error(service, status, body):
    service.status, service.body = status, body
    with pytest.raises(ServiceError) as raised:
        JsonHttpClient(service.url, "token", retries=0).get("/api/vaults")
    assert raised.value.status == status and "\n" not in str(raised.value)


def test_a_success_that_is_not_json_is_a_service_error(service):
    service.body = b"<html>a proxy's page</html>"
    with pytest.raises(ServiceError, match="not JSON"):
        JsonHttpClient(service.url, "token", retries=0).get("/api/vaults")


@pytest.mark.parametrize("blob", DEEP, ids=DEEP_IDS)
def test_a_deeply_nested_key_blob_is_damaged(blob):
    key_id = new_key_id()
    with pytest.raises(IntegrityError, match="damaged"):
        unwrap_master_keys(blob, PASSPHRASE, key_id)


@pytest.mark.parametrize("document", DEEP, ids=DEEP_IDS)
def test_a_deeply_nested_snapshot_document_is_damaged(document):
    """A document sealed with the vault's own key: only the JSON inside is hostile."""
    keys, nonce = MasterKeys.generate(), os.urandom(12)
    plaintext = zstandard.ZstdCompressor().compress(document)
    blob = MAGIC + nonce + AESGCM(keys.data_key).encrypt(nonce, plaintext, MAGIC + RP.encode())
    with pytest.raises(IntegrityError, match="damaged"):
        open_snapshot(blob, keys, RP)
