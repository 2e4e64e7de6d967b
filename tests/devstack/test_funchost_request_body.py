"""The local host answers a request whose body is malformed, cut short or late with an error, and goes on serving."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import urllib3

from devstack.funchost.function_host import FunctionHost
from devstack.funchost.host_config import parse_host_config
from devstack.funchost.http_server import FunctionsServer, RequestHandler

pytestmark = pytest.mark.timeout(60)

# Far below the host's own body deadline (30 s): an answer within this many seconds did not wait for it.
PROMPT_SECONDS = 5.0
POST_HEADERS = b"POST /api/items/1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def _exchange(port: int, request: bytes, *, end_request: bool = False) -> bytes:
    """Send request on a new connection; all the host answers until it closes the connection.

    With end_request the client then shuts its side, as one that has nothing more to send.
    A host that neither answers nor closes fails the test with a timeout.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=PROMPT_SECONDS) as connection:
        connection.sendall(request)
        if end_request:
            connection.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def _status_and_error(answer: bytes) -> tuple[int, str]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head, "the host closed the connection without answering"
    return int(head.split()[1]), json.loads(body)["error"]


@pytest.fixture
def functions_port(sample_stack) -> int:
    return sample_stack.ports()["functions"]


@pytest.mark.parametrize(("request_bytes", "end_request"), [
    (POST_HEADERS + b"Content-Length: abc\r\n\r\n", False),
    (POST_HEADERS + b"Content-Length: -5\r\n\r\nhello", False),
    (POST_HEADERS + b"Content-Length: 5\r\nContent-Length: 7\r\n\r\nhello", False),
    (POST_HEADERS + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", False),
    (POST_HEADERS + b"Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", False),
    (POST_HEADERS + b"Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", False),
    (POST_HEADERS + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", True),
    (POST_HEADERS + b"Content-Length: 100\r\n\r\nshort", True),
], ids=["length-not-a-number", "length-negative", "two-lengths", "chunk-size-not-hex", "chunk-size-negative",
        "chunk-longer-than-its-size", "chunks-cut-short", "body-cut-short"])
def test_a_malformed_or_cut_short_body_is_400_and_the_host_serves_the_next_request(sample_stack, functions_port,
                                                                                  request_bytes, end_request):
    status, error = _status_and_error(_exchange(functions_port, request_bytes, end_request=end_request))
    assert status == 400 and error
    assert urllib3.request("GET", sample_stack.env()["BACKUP_API_URL"] + "/items/7").status == 200


def test_a_well_formed_chunked_body_reaches_the_function(sample_stack, functions_port):
    chunks = b"3;ext=1\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n"
    request = POST_HEADERS + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunks
    head, _, body = _exchange(functions_port, request).partition(b"\r\n\r\n")
    assert head.split()[1] == b"201" and json.loads(body)["body"] == "hello"


@pytest.fixture
def quick_server(monkeypatch) -> Iterator[FunctionsServer]:
    """The host's HTTP server in this process, with no function and a body deadline of one second."""
    monkeypatch.setattr(RequestHandler, "body_timeout", 1.0, raising=False)
    server = FunctionsServer(("127.0.0.1", 0), FunctionHost([], [], parse_host_config({}), {}), "master")
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    yield server
    server.shutdown()
    server.server_close()


def _still_serves(server: FunctionsServer) -> bool:
    url = f"http://127.0.0.1:{server.server_address[1]}/admin/host/status"
    return urllib3.request("GET", url, headers={"x-functions-key": "master"}, timeout=PROMPT_SECONDS).status == 200


def test_a_body_that_never_arrives_is_408_at_the_deadline_and_frees_the_connection(quick_server):
    started = time.monotonic()
    # The host closing the connection (the end of _exchange) means its handler thread returned.
    answer = _exchange(quick_server.server_address[1], POST_HEADERS + b"Content-Length: 100\r\n\r\nshort")
    assert time.monotonic() - started < 1.0 + 2.0
    status, error = _status_and_error(answer)
    assert status == 408 and "1 s" in error
    assert _still_serves(quick_server)


def test_the_deadline_bounds_the_whole_body_not_each_read(quick_server):
    with socket.create_connection(("127.0.0.1", quick_server.server_address[1])) as connection:
        connection.sendall(POST_HEADERS + b"Content-Length: 100\r\n\r\n")
        started = time.monotonic()
        connection.settimeout(0.2)
        answer = b""
        while not answer and time.monotonic() - started < PROMPT_SECONDS:
            connection.sendall(b"x")  # a byte every 0.2 s: no single read waits as long as the deadline
            try:
                answer = connection.recv(65536) or b"(closed)"
            except TimeoutError:
                pass
        answered_after = time.monotonic() - started
        connection.settimeout(PROMPT_SECONDS)
        while rest := connection.recv(65536):  # the body may follow the head in a segment of its own
            answer += rest
    assert answered_after < 1.0 + 1.0
    assert _status_and_error(answer)[0] == 408
    assert _still_serves(quick_server)
