"""`backup-agent` instrumented for tests (killed or paused at a chosen HTTP request, its requests and file opens recorded).

Run as `python -m tests.reliability.killing_agent ARGS...`; each variable below is optional.

RELIABILITY_KILL_AT  "before:7" dies as the 7th request (API or storage) is about to be sent,
                     "after:7" right after its response arrived; "after:2:PUT /packs/" counts only
                     the PUT requests whose path contains "/packs/"; "pause:1:POST /commit" instead
                     creates RELIABILITY_PAUSE_DIR/reached before that request and waits for
                     RELIABILITY_PAUSE_DIR/go (the test does something behind its back meanwhile);
                     empty: never
RELIABILITY_TRACE    a file that gets one line per request: its number, method and path
                     (the query, which holds the SAS, is left out)
RELIABILITY_CAPTURE  a file that gets one JSON line per request with everything the service
                     side receives: method, URL with its query, headers, and the body (bodies
                     of blob uploads are left out: the stored blobs are read back instead)
RELIABILITY_OPENS    a file that gets one line per file the process opens (an audit hook on the
                     "open" event: built-in open(), os.open, imports; directory listings are not opens)
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import urllib3.connectionpool

_lock = threading.Lock()
_sent = 0  # every request, for the trace
_matched = 0  # the requests the kill point counts
_kill_when, _kill_at, _kill_match = ((os.environ.get("RELIABILITY_KILL_AT") or ":0") + "::").split(":")[:3]
_trace = os.environ.get("RELIABILITY_TRACE")
_capture = os.environ.get("RELIABILITY_CAPTURE")
_opens = os.environ.get("RELIABILITY_OPENS")
_urlopen = urllib3.connectionpool.HTTPConnectionPool.urlopen


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def urlopen(self, method, url, *args, **kwargs):
    global _sent, _matched
    path = urllib.parse.urlsplit(url).path
    request = f"{method} {path}"
    wanted_method, _, fragment = _kill_match.partition(" ")
    with _lock:
        _sent += 1
        chosen = False
        if not _kill_match or (method == wanted_method and fragment in path):
            _matched += 1
            chosen = _matched == int(_kill_at)
        if _trace:
            with open(_trace, "a") as trace:
                trace.write(f"{_sent} {request}\n")
        if _capture:
            _record(self, method, url, kwargs)
    if chosen and _kill_when == "before":
        _die()
    if chosen and _kill_when == "pause":
        folder = Path(os.environ["RELIABILITY_PAUSE_DIR"])
        (folder / "reached").touch()
        while not (folder / "go").exists():
            time.sleep(0.05)
    response = _urlopen(self, method, url, *args, **kwargs)
    if chosen and _kill_when == "after":
        _die()
    return response


def _record(pool, method, url, kwargs) -> None:
    body = kwargs.get("body")
    blob_upload = method == "PUT" and "/api/" not in url
    if isinstance(body, (bytes, bytearray, memoryview)) and not blob_upload:
        body = bytes(body).decode("utf-8", "replace")
    else:
        body = None
    with open(_capture, "a") as capture:
        capture.write(json.dumps({"method": method, "host": f"{pool.host}:{pool.port}", "url": url,
                                  "headers": dict(kwargs.get("headers") or {}), "body": body}) + "\n")


def _record_opens(opens_file: str) -> None:
    # Opened before the hook is installed, and written with os.write, so recording opens nothing.
    fd = os.open(opens_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    lock = threading.Lock()

    def hook(event: str, arguments: tuple) -> None:
        if event == "open" and arguments[0] is not None and not isinstance(arguments[0], int):
            with lock:
                os.write(fd, os.fsencode(arguments[0]) + b"\n")

    sys.addaudithook(hook)


urllib3.connectionpool.HTTPConnectionPool.urlopen = urlopen
if _opens:
    _record_opens(_opens)

if __name__ == "__main__":
    from agent_client.cli import main

    sys.exit(main(sys.argv[1:]))
