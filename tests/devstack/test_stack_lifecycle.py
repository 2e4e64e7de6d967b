"""The stack is idempotent, survives one service's death, moves off taken ports and stops without leftovers."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import BinaryBase64EncodePolicy, QueueClient

from devstack.errors import StackError
from devstack.ports import becomes_free, is_free
from devstack.processes import is_alive
from devstack.services import SERVICE_NAMES, SERVICES
from devstack.stack import REPO_ROOT, Stack
from tests.devstack.sample_records import wait_for

pytestmark = pytest.mark.timeout(120)


def _listen(port: int = 0) -> socket.socket:
    """Another process's server, holding a port (once a killed server's sockets are gone)."""
    assert port == 0 or becomes_free(port, 10)
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", port))
    holder.listen()
    return holder


def _kill(stack: Stack, name: str) -> None:
    os.kill(stack.pid(name), signal.SIGKILL)
    wait_for(lambda: stack.pid(name) is None, timeout=10)


def _listening_addresses(ports: set[int]) -> dict[int, set[str]]:
    """The local addresses of the TCP sockets listening on ports, from /proc/net/tcp and tcp6."""
    listening: dict[int, set[str]] = {port: set() for port in ports}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            address_hex, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) not in ports:  # 0A is TCP_LISTEN
                continue
            raw = bytes.fromhex(address_hex)  # 32-bit words in host (little-endian) order
            address = ipaddress.ip_address(b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4)))
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
                address = address.ipv4_mapped
            listening[int(port_hex, 16)].add(str(address))
    return listening


def _stack_command(state_dir: Path, command: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DEVSTACK_DIR": str(state_dir)}
    return subprocess.run([sys.executable, "-m", "devstack.stack", command], cwd=REPO_ROOT, env=environment,
                          capture_output=True, text=True, timeout=100)


def _queue_function_works(stack: Stack, records) -> None:
    client = QueueClient.from_connection_string(stack.env()["PRIMARY_STORAGE_CONNECTION_STRING"],
                                                stack.settings()["SAMPLE_QUEUE"],
                                                message_encode_policy=BinaryBase64EncodePolicy())
    try:
        client.create_queue()
    except ResourceExistsError:
        pass
    body = f"after restart {uuid.uuid4()}"
    client.send_message(body.encode())
    wait_for(lambda: [r for r in records.of("record_message") if r["body"] == body], timeout=30)


def test_state_files_describe_the_running_stack(sample_stack):
    env_file = (sample_stack.state_dir / "env").read_text()
    for name in ("BACKUP_API_URL", "BACKUP_ADMIN_KEY", "FUNCTIONS_MASTER_KEY", "PRIMARY_STORAGE_CONNECTION_STRING",
                 "SECONDARY_STORAGE_CONNECTION_STRING", "COSMOS_ENDPOINT", "COSMOS_KEY"):
        assert re.search(rf"^export {name}=\S", env_file, re.MULTILINE), name
    sourced = subprocess.run(["bash", "-c", f"source {sample_stack.state_dir / 'env'} && echo $BACKUP_ADMIN_KEY"],
                             capture_output=True, text=True, check=True).stdout.strip()
    env = sample_stack.env()
    assert sourced == env["BACKUP_ADMIN_KEY"]
    assert re.fullmatch(r"bko_[A-Za-z0-9_-]{43}", env["BACKUP_ADMIN_KEY"])
    assert env["BACKUP_API_URL"] == f"http://127.0.0.1:{sample_stack.ports()['functions']}/api"
    settings = sample_stack.settings()
    assert settings["COSMOS_DATABASE"] == "backup" and settings["RETENTION_SCHEDULE"] == "0 30 2 * * *"
    assert settings["PRIMARY_STORAGE"] == env["PRIMARY_STORAGE_CONNECTION_STRING"]
    for name in SERVICE_NAMES:
        assert (sample_stack.state_dir / f"{name}.pid").read_text().strip() == str(sample_stack.pid(name))
        assert (sample_stack.state_dir / f"{name}.log").exists()


def test_the_state_folder_and_the_files_holding_keys_are_private(sample_stack):
    modes = {name: stat.S_IMODE((sample_stack.state_dir / name).stat().st_mode)
             for name in ("", "env", "local.settings.json", "operator.key", "functions-master.key")}
    assert modes == {"": 0o700, "env": 0o600, "local.settings.json": 0o600, "operator.key": 0o600,
                     "functions-master.key": 0o600}


def test_every_service_listens_on_127_0_0_1_only(sample_stack):
    listening = _listening_addresses(set(sample_stack.ports().values()))
    assert all(listening.values()), listening  # every port has a listener
    assert {address for addresses in listening.values() for address in addresses} == {"127.0.0.1"}, listening


def test_up_twice_changes_nothing(sample_stack):
    pids, env = sample_stack.status(), sample_stack.env()
    env_mtime = (sample_stack.state_dir / "env").stat().st_mtime_ns
    sample_stack.up()
    assert sample_stack.status() == pids and all(pids.values())
    assert sample_stack.env() == env
    assert (sample_stack.state_dir / "env").stat().st_mtime_ns == env_mtime


def test_restart_functions_replaces_only_the_host(sample_stack):
    before = sample_stack.status()
    sample_stack.restart_functions()
    after = sample_stack.status()
    assert after["functions"] not in (None, before["functions"])
    assert {name: pid for name, pid in after.items() if name != "functions"} == \
        {name: pid for name, pid in before.items() if name != "functions"}


def test_killing_storage_primary_leaves_the_others_and_up_restarts_only_it(sample_stack, records):
    before = sample_stack.status()
    ports = sample_stack.ports()
    _kill(sample_stack, "storage-primary")
    others = {name: pid for name, pid in before.items() if name != "storage-primary"}
    assert {name: sample_stack.pid(name) for name in others} == others
    sample_stack.up()
    after = sample_stack.status()
    assert after["storage-primary"] not in (None, before["storage-primary"])
    assert sample_stack.ports() == ports, (ports, sample_stack.ports())
    assert {name: after[name] for name in others} == others
    assert sample_stack.ports() == ports, (ports, sample_stack.ports())
    _queue_function_works(sample_stack, records)  # the host's listener outlived the outage


def test_a_taken_port_moves_the_service_and_the_env_file_says_where(sample_stack, records):
    old_port = sample_stack.ports()["primary_queue"]
    functions_pid = sample_stack.pid("functions")
    _kill(sample_stack, "storage-primary")
    holder = _listen(old_port)
    try:
        env = sample_stack.up()
    finally:
        holder.close()
    new_port = sample_stack.ports()["primary_queue"]
    assert new_port != old_port
    assert f"QueueEndpoint=http://127.0.0.1:{new_port}/" in env["PRIMARY_STORAGE_CONNECTION_STRING"]
    assert f":{new_port}/" in (sample_stack.state_dir / "env").read_text()
    assert sample_stack.pid("functions") != functions_pid  # restarted on the new settings
    _queue_function_works(sample_stack, records)


def test_a_demanded_port_that_is_taken_is_one_error_line(tmp_path):
    holder = _listen()
    port = holder.getsockname()[1]
    try:
        environment = {**os.environ, "DEVSTACK_DIR": str(tmp_path / "state"),
                       "DEVSTACK_FUNCTIONS_PORT": str(port)}
        result = subprocess.run([sys.executable, "-m", "devstack.stack", "up"], cwd=REPO_ROOT, env=environment,
                                capture_output=True, text=True, timeout=60)
    finally:
        holder.close()
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"port {port} (DEVSTACK_FUNCTIONS_PORT) is already in use" in result.stderr
    assert not list((tmp_path / "state").glob("*.pid"))


def test_missing_node_modules_without_npm_is_one_clear_error(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / ".venv" / "bin").mkdir(parents=True)
    (repo / ".venv" / "bin" / "python").symlink_to(sys.executable)
    only_node = tmp_path / "bin"
    only_node.mkdir()
    node = subprocess.run(["bash", "-c", "command -v node"], capture_output=True, text=True).stdout.strip()
    (only_node / "node").symlink_to(node)
    monkeypatch.setenv("PATH", str(only_node))
    with pytest.raises(StackError, match="node_modules is missing and npm is not installed") as raised:
        Stack(tmp_path / "state", repo_root=repo).up()
    assert "\n" not in str(raised.value)


def test_down_stops_every_process_and_frees_every_port(sample_stack):
    pids, ports = sample_stack.status(), sample_stack.ports()
    sample_stack.down()
    assert not any(is_alive(pid) for pid in pids.values())
    assert not list(sample_stack.state_dir.glob("*.pid"))
    assert all(is_free(port) for port in ports.values())
    assert "host stopped" in sample_stack.process("functions").log_file.read_text()  # a graceful stop
    assert sample_stack.status() == {name: None for name in SERVICES}


def test_the_entry_point_up_twice_changes_nothing_and_down_leaves_nothing_running(tmp_path):
    state_dir = tmp_path / "state"
    try:
        first = _stack_command(state_dir, "up")
        assert first.returncode == 0, first.stderr
        pids = {name: (state_dir / f"{name}.pid").read_text().strip() for name in SERVICE_NAMES}
        second = _stack_command(state_dir, "up")
        assert second.returncode == 0, second.stderr
        assert {name: (state_dir / f"{name}.pid").read_text().strip() for name in SERVICE_NAMES} == pids
        assert all(f"running pid {pid}" in second.stdout for pid in pids.values()), second.stdout
    finally:
        down = _stack_command(state_dir, "down")
    assert down.returncode == 0, down.stderr
    assert not list(state_dir.glob("*.pid"))
    assert not [pid for pid in pids.values() if is_alive(int(pid))]
    ports = json.loads((state_dir / "ports.json").read_text())
    assert [port for port in ports.values() if not is_free(port)] == []


def test_down_leaves_a_process_it_did_not_start_running(tmp_path):
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    foreign = subprocess.Popen(["sleep", "60"])
    try:
        for name in SERVICE_NAMES:
            (state_dir / f"{name}.pid").write_text(f"{foreign.pid}\n")  # a stale pid file, the pid since reused
        assert _stack_command(state_dir, "down").returncode == 0
        assert foreign.poll() is None
    finally:
        foreign.kill()
        foreign.wait()
