"""Probes that tell when a started service really serves requests."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
import warnings
from collections.abc import Callable

from devstack.errors import StackError
from devstack.processes import ServiceProcess, is_alive

# The loopback Cosmos server's certificate is self-signed; verification is off for it alone.
warnings.filterwarnings("ignore", message="Unverified HTTPS request is being made to host '127.0.0.1'")


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def storage_ready(connection_string: str) -> None:
    """Raises unless both the blob and the queue service of an Azurite answer an authenticated call."""
    from azure.storage.blob import BlobServiceClient
    from azure.storage.queue import QueueServiceClient

    options = {"retry_total": 0, "connection_timeout": 2, "read_timeout": 5}
    BlobServiceClient.from_connection_string(connection_string, **options).get_service_properties()
    QueueServiceClient.from_connection_string(connection_string, **options).get_service_properties()


def cosmos_ready(endpoint: str, key: str) -> None:
    """Raises unless the Cosmos DB API server lists its databases."""
    from azure.cosmos import CosmosClient

    client = CosmosClient(endpoint, credential=key, connection_verify=False, connection_timeout=2, retry_total=0)
    list(client.list_databases())


def functions_ready(port: int, master_key: str) -> None:
    """Raises unless the Functions host reports the state Running."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/admin/host/status",
                                     headers={"x-functions-key": master_key})
    with urllib.request.urlopen(request, timeout=2) as response:
        state = json.load(response).get("state")
    if state != "Running":
        raise RuntimeError(f"host state is {state}")


def wait_until_ready(process: ServiceProcess, pid: int, ports: list[int], probe: Callable[[], None],
                     timeout: float) -> None:
    """Wait for the ports to accept connections and the probe to pass; a service that exits fails."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if not is_alive(pid):
            detail = process.last_log_line()
            raise StackError(f"{process.name} exited during start-up"
                             f"{': ' + detail if detail else ''} (log: {process.log_file})")
        if all(port_open(port) for port in ports):
            try:
                probe()
                return
            except Exception as exc:  # noqa: BLE001 - not ready yet; retried until the deadline
                last_error = exc
        time.sleep(0.2)
    reason = f": {type(last_error).__name__}" if last_error else ""
    raise StackError(f"{process.name} is not ready after {timeout:.0f}s{reason} (log: {process.log_file})")
