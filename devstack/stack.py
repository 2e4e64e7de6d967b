"""Runs the local stack: starts, provisions, reports and stops its services (`python -m devstack.stack`)."""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from devstack.deps import ensure_node_modules, ensure_venv
from devstack.errors import StackError
from devstack.ports import plan_ports
from devstack.processes import ServiceProcess
from devstack.readiness import wait_until_ready
from devstack.services import SERVICE_NAMES, SERVICES, Layout
from devstack.stack_files import (  # REPO_ROOT also for the scripts and tests that start a stack
    REPO_ROOT, app_settings, client_environment, default_state_dir, functions_master_key, make_state_dir,
    operator_key, read_env_file, read_json, write_env_file, write_json, write_local_settings,
)

DEFAULT_APP = "function_app:app"
EMULATORS = ("storage-primary", "storage-secondary", "cosmos")


class Stack:
    """One local stack, identified by its state folder; every method is safe to call in any state."""

    def __init__(self, state_dir: str | Path | None = None, *, app: str | None = None,
                 host_json: str | Path | None = None, preferred_ports: Mapping[str, int] | None = None,
                 extra_settings: Mapping[str, str] | None = None, repo_root: str | Path = REPO_ROOT) -> None:
        self.repo_root = Path(repo_root).resolve()
        self.state_dir = Path(state_dir).resolve() if state_dir else default_state_dir()
        self.app = app or os.environ.get("DEVSTACK_FUNCTION_APP") or DEFAULT_APP
        self.host_json = Path(host_json).resolve() if host_json else self.repo_root / "host.json"
        self.preferred_ports = dict(preferred_ports or {})
        self.extra_settings = dict(extra_settings or {})

    # --- what is running -------------------------------------------------------------------
    def process(self, name: str) -> ServiceProcess:
        if name not in SERVICES:
            raise StackError(f"unknown service {name!r}: choose one of {', '.join(SERVICE_NAMES)}")
        return ServiceProcess(self.state_dir, name, SERVICES[name].identity(self.state_dir))

    def pid(self, name: str) -> int | None:
        """The live pid of a service, or None if it is not running."""
        return self.process(name).running_pid()

    def status(self) -> dict[str, int | None]:
        return {name: self.pid(name) for name in SERVICE_NAMES}

    def is_up(self) -> bool:
        return all(self.status().values())

    def ports(self) -> dict[str, int]:
        return read_json(self.state_dir / "ports.json")

    def settings(self) -> dict[str, str]:
        """The function app's settings (local.settings.json Values)."""
        return dict(read_json(self.state_dir / "local.settings.json").get("Values") or {})

    def env(self) -> dict[str, str]:
        """The env file's variables, the app settings, and the Functions host's URLs."""
        env_file = self.state_dir / "env"
        if not env_file.exists():
            raise StackError(f"the stack in {self.state_dir} has never been started: run `make stack-up`")
        functions = f"http://127.0.0.1:{self.ports()['functions']}"
        return {**self.settings(), **read_env_file(env_file), "FUNCTIONS_URL": functions,
                "FUNCTIONS_ADMIN_URL": f"{functions}/admin", "DEVSTACK_DIR": str(self.state_dir)}

    # --- changing what is running ----------------------------------------------------------
    def up(self) -> dict[str, str]:
        """Start every service that is not running (in order), provision, and return env()."""
        self._ensure(SERVICE_NAMES)
        return self.env()

    def start_service(self, name: str) -> None:
        self.process(name)  # validates the name
        self._ensure((name,))

    def stop_service(self, name: str) -> None:
        with self._locked():
            self.process(name).stop()

    def restart_functions(self) -> None:
        self.stop_service("functions")
        self._ensure(("functions",))

    def down(self) -> None:
        """Stop the services this stack started; data, ports and the keys are kept."""
        with self._locked():
            for name in reversed(SERVICE_NAMES):
                self.process(name).stop()

    # --- internals -------------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise stack commands on one state folder (two `up`s at once would race)."""
        make_state_dir(self.state_dir)
        with (self.state_dir / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _layout(self) -> Layout:
        python = ensure_venv(self.repo_root, self.state_dir)
        node = ensure_node_modules(self.repo_root, self.state_dir)
        return Layout(self.repo_root, self.state_dir, node, python, self.app, self.host_json)

    def _plan(self, processes: dict[str, ServiceProcess]) -> tuple[dict[str, int], dict[str, int | None]]:
        remembered = {key: int(port) for key, port in self.ports().items()}
        live: dict[str, int | None] = {}
        live_ports: dict[str, int] = {}
        for name, process in processes.items():
            pid = process.running_pid()
            keys = SERVICES[name].port_keys
            if pid and not all(key in remembered for key in keys):
                process.stop()  # running on ports nobody recorded: restart it on known ones
                pid = None
            live[name] = pid
            if pid:
                live_ports.update({key: remembered[key] for key in keys})
        return plan_ports(live_ports, remembered, self.preferred_ports), live

    def _child_environment(self, name: str, settings: Mapping[str, str]) -> dict[str, str]:
        environment = dict(os.environ)
        if name == "functions":
            # The host lets variables already set win over local.settings.json, as Core Tools does;
            # the stack's own host must see the stack's settings, not a stale export in this shell.
            for setting in settings:
                environment.pop(setting, None)
            environment["PYTHONUNBUFFERED"] = "1"
        return environment

    def _launch(self, name: str, layout: Layout, ports: Mapping[str, int], settings: Mapping[str, str]) -> int:
        process = self.process(name)
        process.stop()  # forgets a stale pid file
        return process.start(SERVICES[name].command(layout, ports), self.repo_root,
                             self._child_environment(name, settings))

    def _await_ready(self, name: str, pid: int, ports: Mapping[str, int]) -> None:
        service, process = SERVICES[name], self.process(name)
        try:
            wait_until_ready(process, pid, [ports[key] for key in service.port_keys],
                             lambda: service.probe(self.state_dir, ports), service.start_timeout)
        except StackError:
            process.stop()
            raise

    def _ensure(self, names: Iterable[str]) -> None:
        wanted = set(names)
        with self._locked():
            layout = self._layout()
            processes = {name: self.process(name) for name in SERVICE_NAMES}
            ports, live = self._plan(processes)
            key = operator_key(self.state_dir)
            settings = app_settings(ports, key, self.extra_settings)
            write_json(self.state_dir / "ports.json", ports)
            environment = client_environment(ports, key, functions_master_key(self.state_dir))
            env_changed = write_env_file(self.state_dir / "env", environment)
            settings_changed = write_local_settings(self.state_dir / "local.settings.json", settings)
            started = [name for name in EMULATORS if name in wanted and not live[name]]
            # The emulators start side by side; each is then awaited in order.
            pids = {name: self._launch(name, layout, ports, settings) for name in started}
            for name in started:
                self._await_ready(name, pids[name], ports)
            self._provision(started, settings)
            if "functions" in wanted:
                if live["functions"] and (settings_changed or env_changed):
                    processes["functions"].stop()  # its settings point at old ports, or its key is old
                    live["functions"] = None
                if not live["functions"]:
                    self._await_ready("functions", self._launch("functions", layout, ports, settings), ports)

    @staticmethod
    def _provision(started: list[str], settings: Mapping[str, str]) -> None:
        from devstack.provision import provision_cosmos, provision_queues

        try:
            if "storage-primary" in started:
                queues = tuple(settings[name] for name in ("COMMIT_QUEUE", "REPLICATION_QUEUE", "METERING_QUEUE"))
                provision_queues(settings["PRIMARY_STORAGE"], queues)
            if "cosmos" in started:
                provision_cosmos(settings["COSMOS_ENDPOINT"], settings["COSMOS_KEY"], settings["COSMOS_DATABASE"])
        except Exception as exc:  # noqa: BLE001 - reported as the one line of a failed `up`
            raise StackError(f"provisioning failed: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}") from exc


def _report(stack: Stack) -> str:
    ports = stack.ports()
    lines = []
    for name, pid in stack.status().items():
        endpoints = ", ".join(f"{key}:{ports[key]}" for key in SERVICES[name].port_keys if key in ports)
        lines.append(f"{name:<18} {'running pid ' + str(pid) if pid else 'stopped':<18} {endpoints}")
    return "\n".join(lines)


def _run(command: str) -> int:
    stack = Stack()
    if command == "up":
        stack.up()
        print(_report(stack))
        print(f"stack is up: source {stack.state_dir / 'env'}")
    elif command == "down":
        stack.down()
        print("stack is down")
    else:
        print(_report(stack))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] not in ("up", "down", "status"):
        print("devstack: error: usage: python -m devstack.stack up|down|status", file=sys.stderr)
        return 2
    try:
        try:
            import azure.cosmos  # noqa: F401
            import azure.storage.queue  # noqa: F401
        except ImportError:
            # Run by a Python without the dependencies: set up .venv and continue in it.
            make_state_dir(default_state_dir())
            python = ensure_venv(REPO_ROOT, default_state_dir())
            if Path(sys.prefix).resolve() == (REPO_ROOT / ".venv").resolve():
                raise StackError(f"{python} lacks the Azure SDKs: run `make venv`") from None
            os.execv(python, [str(python), "-m", "devstack.stack", *argv])
        return _run(argv[0])
    except StackError as exc:
        print(f"devstack: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
