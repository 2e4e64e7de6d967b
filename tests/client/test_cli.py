"""The CLI contract: one JSON document with --json, one-line errors, exit codes, a progress bar only on a terminal."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import sys
import termios
import threading
import time

import pytest

from agent_client import cli, commands
from agent_client.errors import PartialBackupError, UsageError, WrongPassphraseError

from .sample_trees import build_sample_tree


@pytest.fixture
def cli_context(monkeypatch, make_context):
    context = make_context()
    monkeypatch.setattr(commands, "context_from_environment", lambda: context)
    return context


def _run(capsys, *argv):
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_backup_json_has_the_contract_fields_and_nothing_else_on_stdout(cli_context, capsys, tmp_path):
    source = build_sample_tree(tmp_path / "src", sparse_size=1 << 20)
    code, out, err = _run(capsys, "backup", str(source), "--json")
    assert code == 0, err
    document = json.loads(out)
    for field in ("recovery_point_id", "files_new", "files_changed", "files_unchanged", "bytes_read",
                  "bytes_uploaded", "seconds", "partial", "skipped"):
        assert field in document
    code, out, _ = _run(capsys, "--json", "list")
    [row] = json.loads(out)
    assert {"id", "instance", "created", "state", "files", "bytes"} <= set(row)
    assert row["id"] == document["recovery_point_id"] and row["state"] == "committed"


def test_ls_and_verify_and_restore(cli_context, capsys, tmp_path):
    source = build_sample_tree(tmp_path / "src", sparse_size=1 << 20)
    _, out, _ = _run(capsys, "backup", str(source), "--json")
    recovery_point_id = json.loads(out)["recovery_point_id"]
    code, out, _ = _run(capsys, "ls", recovery_point_id, str(source / "docs"), "--json")
    assert code == 0 and any(row["path"].endswith("script.sh") and row["mode"] == "0751" for row in json.loads(out))
    code, out, _ = _run(capsys, "verify", recovery_point_id)
    assert code == 0 and "intact" in out
    code, out, _ = _run(capsys, "restore", recovery_point_id, "--target", str(tmp_path / "t"))
    assert code == 0 and out.startswith("restored ")


def test_partial_backup_prints_its_result_then_exits_with_the_partial_code(cli_context, capsys, tmp_path, monkeypatch):
    from agent_client import backup_scan

    source = build_sample_tree(tmp_path / "src", sparse_size=1 << 20)

    def refusing_open(disk_path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(backup_scan, "open_for_backup", refusing_open)
    code, out, err = _run(capsys, "backup", str(source), "--json")
    assert code == PartialBackupError.exit_code
    assert json.loads(out)["partial"] is True
    assert err.strip().splitlines()[-1].startswith("backup-agent: error: recovery point")


def test_wrong_passphrase_is_one_line_and_exit_3(cli_context, capsys, tmp_path, make_context, monkeypatch):
    (tmp_path / "f").write_text("x")
    _run(capsys, "backup", str(tmp_path / "f"))
    wrong = make_context(passphrase="definitely the wrong one")
    monkeypatch.setattr(commands, "context_from_environment", lambda: wrong)
    code, out, err = _run(capsys, "backup", str(tmp_path / "f"))
    assert (code, out) == (WrongPassphraseError.exit_code, "")
    assert err == "backup-agent: error: wrong passphrase\n"
    short = make_context(passphrase="too short")  # cannot be the vault's: the reason is given on the same line
    monkeypatch.setattr(commands, "context_from_environment", lambda: short)
    code, out, err = _run(capsys, "backup", str(tmp_path / "f"))
    assert (code, out) == (WrongPassphraseError.exit_code, "")
    assert err == "backup-agent: error: wrong passphrase (a vault passphrase has at least 16 characters)\n"


def test_unknown_recovery_point_is_one_line_and_exit_6(cli_context, capsys):
    code, _, err = _run(capsys, "restore", "0" * 32, "--target", "/tmp/unused")
    assert code == 6 and err.count("\n") == 1 and "does not exist" in err


def test_bad_arguments_are_one_line_usage_errors(capsys):
    code, _, err = _run(capsys, "restore", "abc")
    assert code == UsageError.exit_code and err.count("\n") == 1 and "--target" in err
    code, _, err = _run(capsys, "backup", "--stdin")
    assert code == UsageError.exit_code


def test_unregistered_machine_is_told_to_register(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("BACKUP_AGENT_HOME", str(tmp_path / "home"))
    code, _, err = _run(capsys, "list")
    assert code == UsageError.exit_code and "register" in err and err.count("\n") == 1


def _backup_with_stderr_on_a_terminal(cli_context, fake_service, monkeypatch, source) -> str:
    """Runs `backup` with stderr on a pty (120 columns) and returns what the terminal received, escapes removed."""
    real_put = fake_service.vault_blobs.put_new

    def slow_put(name, data):  # long enough for several refreshes of the bar (10 a second)
        time.sleep(0.15)
        return real_put(name, data)

    monkeypatch.setattr(fake_service.vault_blobs, "put_new", slow_put)
    monkeypatch.setattr(cli_context, "pack_size", 256 << 10)
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("NO_COLOR", raising=False)
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    received = bytearray()

    def drain() -> None:
        while True:
            try:
                piece = os.read(primary, 65536)
            except OSError:  # EIO once the other side is closed
                return
            if not piece:
                return
            received.extend(piece)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    with os.fdopen(secondary, "w", closefd=True) as terminal:
        monkeypatch.setattr(sys, "stderr", terminal)
        code = cli.main(["backup", str(source)])
        terminal.flush()
        monkeypatch.setattr(sys, "stderr", sys.__stderr__)
    reader.join(timeout=5)
    os.close(primary)
    assert code == 0
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r", "\n", received.decode(errors="replace"))


def test_a_terminal_gets_a_progress_bar_with_files_bytes_rate_and_eta(cli_context, fake_service, monkeypatch,
                                                                       capsys, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for index in range(6):
        (source / f"part{index}.bin").write_bytes(os.urandom(400_000))
    shown = _backup_with_stderr_on_a_terminal(cli_context, fake_service, monkeypatch, source)
    assert "Backing up" in shown
    assert re.search(r"\d+/6 files, \d+ MiB uploaded", shown), shown  # files, and what has gone up so far
    assert re.search(r"\d+(\.\d+)?/\d+(\.\d+)? [kM]B", shown), shown  # bytes done of the total
    assert re.search(r"\d+(\.\d+)? [kM]B/s", shown), shown  # rate
    assert re.search(r"\d:\d\d:\d\d", shown), shown  # time remaining
    assert capsys.readouterr().out.startswith("recovery point ")  # the result still goes to stdout


def test_no_progress_bar_when_stderr_is_not_a_terminal(cli_context, capsys, tmp_path):
    (tmp_path / "f").write_bytes(os.urandom(300_000))
    code, _, err = _run(capsys, "backup", str(tmp_path / "f"))
    assert code == 0 and err == ""
