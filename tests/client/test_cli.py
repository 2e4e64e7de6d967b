"""The CLI contract: one JSON document with --json, one-line errors, exit codes from the error classes."""

from __future__ import annotations

import json

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
