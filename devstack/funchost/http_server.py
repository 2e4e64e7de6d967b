"""Serves the HTTP triggers under the route prefix, and the host's admin API, on a loopback port."""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func

from devstack.funchost.function_host import FunctionHost, NotInvocableError, UnknownFunctionError
from devstack.funchost.invoker import ON_DEMAND_REASON
from devstack.funchost.request_body import BodyError, read_body

log = logging.getLogger("funchost.http")

_ADMIN = "/admin/"
_ADMIN_INVOKE = "/admin/functions/"
_ADMIN_STATUS = "/admin/host/status"


def _content_type(response: func.HttpResponse) -> str:
    # What the Python worker does when the function set no Content-Type header.
    if response.mimetype.startswith("text/"):
        return f"{response.mimetype}; charset={response.charset}"
    return response.mimetype


def _as_response(result: Any) -> func.HttpResponse | None:
    if result is None or isinstance(result, func.HttpResponse):
        return result
    if isinstance(result, (str, bytes)):
        return func.HttpResponse(result)
    raise TypeError(f"an HTTP function must return HttpResponse, str or bytes, not {type(result).__name__}")


class FunctionsServer(ThreadingHTTPServer):
    """A threading HTTP server that knows the function host, its master key, and the requests in progress."""

    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 drops connections under parallel clients

    def __init__(self, address: tuple[str, int], host: FunctionHost, master_key: str) -> None:
        super().__init__(address, RequestHandler)
        self.function_host = host
        self.master_key = master_key
        self._in_progress = 0
        self._idle = threading.Condition()

    def track(self, delta: int) -> None:
        with self._idle:
            self._in_progress += delta
            self._idle.notify_all()

    def drain(self, timeout: float) -> None:
        """Wait until no request is in progress (or timeout seconds pass)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._in_progress and time.monotonic() < deadline:
                self._idle.wait(deadline - time.monotonic())


class RequestHandler(BaseHTTPRequestHandler):
    """Dispatches one request to an HTTP trigger or to the admin API."""

    protocol_version = "HTTP/1.1"
    # Seconds the whole body may take to arrive: a client that sends less than it announced would
    # otherwise hold its handler thread for ever.
    body_timeout = 30.0
    server: FunctionsServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("%s %s", self.address_string(), format % args)

    def _dispatch(self) -> None:
        self.server.track(+1)
        try:
            try:
                body = read_body(self.headers, self.rfile, self.connection, self.body_timeout)
            except BodyError as exc:
                # Where the next request would start is unknown: answer, then end the connection.
                self.close_connection = True
                self._send_json(exc.status, {"error": str(exc)})
                return
            path = urlsplit(self.path).path
            if path.startswith(_ADMIN) and not self._offers_master_key():
                self._send_json(401, {"error": "the admin API needs the host's master key "
                                               "in the x-functions-key header or the code parameter"})
            elif path == _ADMIN_STATUS and self.command == "GET":
                self._send_json(200, self.server.function_host.status())
            elif path.startswith(_ADMIN_INVOKE) and self.command == "POST":
                self._invoke_admin(path[len(_ADMIN_INVOKE):], body)
            else:
                self._invoke_http(body)
        finally:
            self.server.track(-1)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def _offers_master_key(self) -> bool:
        # Where the Functions host looks for it: the header, else the query parameter.
        offered = self.headers.get("x-functions-key")
        if offered is None:
            offered = dict(parse_qsl(urlsplit(self.path).query)).get("code", "")
        # As bytes: compare_digest refuses str with non-ASCII characters, which a client may send.
        return hmac.compare_digest(offered.encode(), self.server.master_key.encode())

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _send_json(self, status: int, document: Any) -> None:
        self._send(status, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(document).encode())

    def _invoke_http(self, body: bytes) -> None:
        host = self.server.function_host
        split = urlsplit(self.path)
        found = host.routes.match(self.command, split.path)
        if found is None:
            self._send(404, {}, b"")
            return
        spec, route_params = found
        params: dict[str, str] = {}
        for name, value in parse_qsl(split.query, keep_blank_values=True):
            params.setdefault(name, value)
        headers = {name: ", ".join(self.headers.get_all(name, [])) for name in self.headers.keys()}
        request = func.HttpRequest(
            self.command, f"http://{self.headers.get('Host') or '127.0.0.1'}{self.path}",
            headers=headers, params=params, route_params=route_params, body=body,
        )
        try:
            result = host.invoker.invoke(spec, request, reason=ON_DEMAND_REASON)
            response = _as_response(result)
        except Exception:  # noqa: BLE001 - the client gets a generic 500, the log the traceback
            log.exception("function %s failed on %s %s", spec.name, self.command, split.path)
            self._send_json(500, {"error": "internal server error"})
            return
        if response is None:
            self._send(204, {}, b"")
            return
        response_headers = dict(response.headers.items())
        if not any(name.lower() == "content-type" for name in response_headers):
            response_headers["Content-Type"] = _content_type(response)
        self._send(response.status_code, response_headers, response.get_body() or b"")

    def _invoke_admin(self, name: str, body: bytes) -> None:
        try:
            document = json.loads(body or b"{}")
            input_text = document.get("input", "") if isinstance(document, dict) else ""
        except ValueError:
            self._send_json(400, {"error": "the body must be JSON like {\"input\": \"...\"}"})
            return
        try:
            self.server.function_host.invoke_on_demand(name, str(input_text or ""))
        except UnknownFunctionError:
            self._send(404, {}, b"")
        except NotInvocableError as exc:
            self._send_json(400, {"error": str(exc)})
        except Exception as exc:  # noqa: BLE001 - the caller asked to see the function's error
            log.error("function %s failed on admin invocation: %s: %s", name, type(exc).__name__, exc, exc_info=True)
            self._send_json(500, {"error": f"{type(exc).__name__}: {exc}"})
        else:
            self._send(202, {}, b"")
