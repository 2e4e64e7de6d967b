"""Describes each service of the stack: its ports, its command line and its readiness probe."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from devstack import readiness
from devstack.deps import AZURITE_SCRIPT, COSMOS_LAUNCHER
from devstack.stack_files import (
    COSMOS_KEY, MASTER_KEY_FILE, cosmos_endpoint, functions_master_key, storage_connection_string,
)

SERVICE_NAMES = ("storage-primary", "storage-secondary", "cosmos", "functions")


@dataclass(frozen=True)
class Layout:
    """Where things are: the repository, the state folder, the interpreters and the app to host."""

    repo_root: Path
    state_dir: Path
    node: Path
    python: Path
    app: str
    host_json: Path


@dataclass(frozen=True)
class Service:
    """One service: the port keys it listens on and how to run and probe it."""

    name: str
    port_keys: tuple[str, ...]
    command: Callable[[Layout, Mapping[str, int]], list[str]]
    identity: Callable[[Path], str]  # an argument only this stack's process has, given the state dir
    probe: Callable[[Path, Mapping[str, int]], None]  # given the state dir and the ports
    start_timeout: float = 60.0


def _azurite(region: str) -> Service:
    name = f"storage-{region}"

    def command(layout: Layout, ports: Mapping[str, int]) -> list[str]:
        data_dir = layout.state_dir / name
        data_dir.mkdir(parents=True, exist_ok=True)
        return [
            str(layout.node), str(layout.repo_root / AZURITE_SCRIPT),
            "--blobHost", "127.0.0.1", "--blobPort", str(ports[f"{region}_blob"]),
            "--queueHost", "127.0.0.1", "--queuePort", str(ports[f"{region}_queue"]),
            "--tableHost", "127.0.0.1", "--tablePort", str(ports[f"{region}_table"]),
            "--location", str(data_dir), "--disableTelemetry", "--silent",
            # azure-storage-queue 12.18 speaks API version 2026-10-06, newer than Azurite 3.37 knows.
            "--skipApiVersionCheck",
        ]

    return Service(
        name=name,
        port_keys=(f"{region}_blob", f"{region}_queue", f"{region}_table"),
        command=command,
        identity=lambda state_dir: str(state_dir / name),
        probe=lambda _state_dir, ports: readiness.storage_ready(storage_connection_string(ports, region)),
    )


def _cosmos_command(layout: Layout, ports: Mapping[str, int]) -> list[str]:
    # The launcher ignores arguments it does not know: the last two mark the process as this stack's.
    return [str(layout.node), str(layout.repo_root / COSMOS_LAUNCHER), "--host", "127.0.0.1",
            "-p", str(ports["cosmos"]), "--devstack-service", str(layout.state_dir / "cosmos")]


def _functions_command(layout: Layout, ports: Mapping[str, int]) -> list[str]:
    # The master key goes by file: a command line is readable by every user of the machine.
    return [str(layout.python), "-m", "devstack.funchost", "--app", layout.app,
            "--script-root", str(layout.repo_root), "--host-json", str(layout.host_json),
            "--settings", str(layout.state_dir / "local.settings.json"),
            "--master-key-file", str(layout.state_dir / MASTER_KEY_FILE), "--port", str(ports["functions"])]


SERVICES: dict[str, Service] = {
    "storage-primary": _azurite("primary"),
    "storage-secondary": _azurite("secondary"),
    "cosmos": Service(
        name="cosmos",
        port_keys=("cosmos",),
        command=_cosmos_command,
        identity=lambda state_dir: str(state_dir / "cosmos"),
        probe=lambda _state_dir, ports: readiness.cosmos_ready(cosmos_endpoint(ports), COSMOS_KEY),
    ),
    "functions": Service(
        name="functions",
        port_keys=("functions",),
        command=_functions_command,
        identity=lambda state_dir: str(state_dir / "local.settings.json"),
        probe=lambda state_dir, ports: readiness.functions_ready(ports["functions"], functions_master_key(state_dir)),
    ),
}
