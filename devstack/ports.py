"""Chooses the loopback ports of the stack's services: requested, remembered, default or free."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable, Mapping

from devstack.errors import StackError

# Default port of each listening endpoint; the env var DEVSTACK_<KEY>_PORT demands one.
DEFAULT_PORTS: dict[str, int] = {
    "primary_blob": 10000,
    "primary_queue": 10001,
    "primary_table": 10002,
    "secondary_blob": 10100,
    "secondary_queue": 10101,
    "secondary_table": 10102,
    "cosmos": 8081,
    "functions": 7071,
}


def port_variable(key: str) -> str:
    """The environment variable that demands a port for key, e.g. DEVSTACK_PRIMARY_BLOB_PORT."""
    return f"DEVSTACK_{key.upper()}_PORT"


def is_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:port now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Servers set SO_REUSEADDR, so connections in TIME_WAIT do not make a port busy for them.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def becomes_free(port: int, wait_seconds: float) -> bool:
    """Whether port is free, or frees up within wait_seconds."""
    deadline = time.monotonic() + wait_seconds
    while not is_free(port):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def free_port(excluded: Iterable[int] = ()) -> int:
    """A port the OS reports free on 127.0.0.1, not one of excluded."""
    excluded = set(excluded)
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port not in excluded:
            return port
    raise StackError("cannot find a free port on 127.0.0.1")


def _requested(key: str, environ: Mapping[str, str]) -> int | None:
    variable = port_variable(key)
    text = environ.get(variable, "").strip()
    if not text:
        return None
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise StackError(f"{variable} must be a port number, got {text!r}")
    return int(text)


def plan_ports(live: Mapping[str, int], remembered: Mapping[str, int], preferred: Mapping[str, int],
               environ: Mapping[str, str] = os.environ, remembered_wait: float = 3.0) -> dict[str, int]:
    """A port for every key: live services keep theirs; a demanded port must be free.

    A service that died keeps its port if that frees up within remembered_wait seconds: the
    sockets of a killed server linger briefly while its clients' connections close.
    """
    plan: dict[str, int] = dict(live)
    for key in DEFAULT_PORTS:
        if key in plan:
            continue
        demanded = _requested(key, environ)
        if demanded is not None:
            if demanded in plan.values() or not is_free(demanded):
                raise StackError(f"port {demanded} ({port_variable(key)}) is already in use on 127.0.0.1")
            plan[key] = demanded
            continue
        old = remembered.get(key)
        if old and old not in plan.values() and becomes_free(old, remembered_wait):
            plan[key] = old
            continue
        candidates = (preferred.get(key), DEFAULT_PORTS[key])
        chosen = next((port for port in candidates if port and port not in plan.values() and is_free(port)), None)
        plan[key] = chosen if chosen is not None else free_port(excluded=plan.values())
    return plan
