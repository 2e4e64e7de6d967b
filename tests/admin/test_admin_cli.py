"""Tests of `backup-admin` without the service: arguments, requests made, output and exit codes."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from agent_client.admin_cli import main, parse_args
from agent_client.errors import NotFoundError, ServiceError, ServiceUnreachableError
from agent_client.http_client import JsonHttpClient

VAULT_ID = "a" * 32
INSTANCE_ID = "b" * 32
ENV = {"BACKUP_API_URL": "http://127.0.0.1:7071", "BACKUP_ADMIN_KEY": "bko_test"}
VAULT = {"vault_id": VAULT_ID, "name": "acme", "redundancy": "GRS", "soft_delete_days": 14,
         "time_zone": "Europe/Berlin", "created": "2026-11-26T01:02:03+00:00", "key_id": None}
INSTANCES = {"items": [{"instance_id": INSTANCE_ID, "vault_id": VAULT_ID, "name": "web-1",
                        "registered_at": "2026-11-26T01:05:00+00:00", "last_backup": None}]}


class ScriptedClient(JsonHttpClient):
    """The real client's methods over a scripted transport: answers each (method, path), records each call."""

    def __init__(self, answers: dict[tuple[str, str], Any]) -> None:
        # A list answers successive calls (pages); copied, since calls consume it.
        self.answers = {key: list(value) if isinstance(value, list) else value for key, value in answers.items()}
        self.calls: list[tuple[str, str, Any, dict]] = []
        self.base_url = None

    def request(self, method: str, path: str, body: Any = None, params: dict | None = None) -> Any:
        assert not params, "query parameters travel in the path"
        path, _, query = path.partition("?")
        self.calls.append((method, path, body, dict(parse_qsl(query, strict_parsing=bool(query)))))
        answer = self.answers[(method, path)]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, list):
            return answer.pop(0)
        return answer


def run(argv: list[str], answers: dict | None = None, env: dict | None = None) -> tuple[int, str, str, ScriptedClient]:
    client = ScriptedClient({("GET", "/api/vaults/acme"): VAULT, **(answers or {})})

    def factory(base_url: str, token: str) -> ScriptedClient:
        client.base_url, client.token = base_url, token
        return client

    out, err = io.StringIO(), io.StringIO()
    code = main(argv, environ=ENV if env is None else env, stdout=out, stderr=err, client_factory=factory)
    return code, out.getvalue(), err.getvalue(), client


def assert_one_line_error(code: int, out: str, err: str, expected_code: int, fragment: str) -> None:
    assert code == expected_code
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("backup-admin: error: ")
    assert fragment in err
    assert "Traceback" not in err


# --- argument parsing ------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["vault", "create", "acme", "--out", "c.json"],
         {"handler": "vault_create", "name": "acme", "out": "c.json", "redundancy": None,
          "soft_delete_days": None, "time_zone": None, "json": False}),
        (["vault", "create", "acme", "--redundancy", "LRS", "--soft-delete-days", "30", "--time-zone",
          "Europe/Berlin", "--out", "c.json", "--json"],
         {"redundancy": "LRS", "soft_delete_days": 30, "time_zone": "Europe/Berlin", "json": True}),
        (["--json", "vault", "list"], {"handler": "vault_list", "json": True}),
        (["vault", "list"], {"handler": "vault_list", "json": False}),
        (["instances", "--vault", "acme"], {"handler": "instances", "vault": "acme"}),
        (["recovery-points", "--vault", "acme", "--instance", "web-1"],
         {"handler": "recovery_points", "instance": "web-1", "state": "all"}),
        (["policy", "set", "--vault", "acme", "--daily", "7", "--yearly", "99"],
         {"handler": "policy_set", "daily": 7, "yearly": 99, "last": None, "instance": None}),
        (["policy", "show", "--vault", "acme", "--json"], {"handler": "policy_show", "json": True}),
        (["delete", "--vault", "acme", "rp1"], {"handler": "delete", "recovery_point": "rp1"}),
        (["undelete", "rp1", "--vault", "acme"], {"handler": "undelete", "recovery_point": "rp1"}),
        (["usage", "--vault", "acme", "--month", "2026-11"], {"handler": "usage", "month": "2026-11"}),
        (["usage", "--vault", "acme"], {"handler": "usage", "month": None}),
        (["poison", "list"], {"handler": "poison_list"}),
        (["poison", "replay", "commits/m1"], {"handler": "poison_replay", "id": "commits/m1"}),
        (["instances", "revoke", "--vault", "acme", "web-1"], {"handler": "instances_revoke", "instance": "web-1"}),
        (["instances", "rotate-token", "--vault", "acme", "web-1", "--out", "t.json"],
         {"handler": "instances_rotate_token", "instance": "web-1", "out": "t.json"}),
        (["vault", "credentials", "acme", "--out", "c.json"], {"handler": "vault_credentials", "name": "acme"}),
        (["vault", "update", "acme", "--quota-bytes", "0", "--max-open-sessions", "2"],
         {"handler": "vault_update", "quota_bytes": 0, "max_open_sessions": 2, "max_commits_per_hour": None}),
    ],
)
def test_parses(argv: list[str], expected: dict) -> None:
    args = vars(parse_args(argv))
    assert {key: args[key] for key in expected} == expected


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        ([], "required: COMMAND"),
        (["frobnicate"], "invalid choice"),
        (["instances"], "--vault"),
        (["vault", "create", "acme"], "--out"),
        (["vault", "create", "acme", "--out", "x", "--redundancy", "ZRS"], "invalid choice"),
        (["policy", "set", "--vault", "acme", "--daily", "seven"], "--daily"),
        (["policy", "set", "--vault", "acme", "--daily", "10000"], "--daily: Input should be less than or equal to 9999"),
        (["policy", "set", "--vault", "acme", "--weekly", "-1"], "--weekly"),
        (["usage", "--vault", "acme", "--month", "2026-13"], "not YYYY-MM"),
        (["poison", "replay", "no-slash"], "not <queue>/<message_id>"),
        (["vault", "create", "acme", "--out", "x", "--time-zone", "Mars/Base"], "unknown time zone"),
        (["instances", "revoke", "web-1"], "--vault"),
        (["instances", "rotate-token", "--vault", "acme", "web-1"], "--out"),
        (["vault", "update", "acme"], "at least one setting"),
        (["vault", "update", "acme", "--quota-bytes", "lots"], "--quota-bytes"),
    ],
)
def test_bad_arguments_are_one_line_usage_errors(argv: list[str], fragment: str) -> None:
    code, out, err, client = run(argv)
    assert_one_line_error(code, out, err, 2, fragment)
    assert client.calls == []


@pytest.mark.parametrize("missing", ["BACKUP_API_URL", "BACKUP_ADMIN_KEY"])
def test_missing_environment_is_a_usage_error(missing: str) -> None:
    env = {key: value for key, value in ENV.items() if key != missing}
    code, out, err, _ = run(["vault", "list"], env=env)
    assert_one_line_error(code, out, err, 2, f"{missing} is not set")


@pytest.mark.parametrize("url", ["http://127.0.0.1:7071", "http://127.0.0.1:7071/", "http://127.0.0.1:7071/api/"])
def test_api_url_with_or_without_the_api_prefix(url: str) -> None:
    code, _, _, client = run(["vault", "list"], {("GET", "/api/vaults"): {"items": []}},
                             env={**ENV, "BACKUP_API_URL": url})
    assert code == 0
    assert (client.base_url, client.token) == ("http://127.0.0.1:7071", "bko_test")


# --- vault create: the credentials file -----------------------------------------------------

CREATED = {**VAULT, "admin_key": "bkv_" + VAULT_ID + "_secret", "registration_key": "bkr_" + VAULT_ID + "_reg"}


def test_vault_create_writes_private_credentials_and_shows_the_admin_key(tmp_path: Path) -> None:
    out_file = tmp_path / "acme.json"
    code, out, err, client = run(["vault", "create", "acme", "--time-zone", "Europe/Berlin", "--out", str(out_file)],
                                 {("POST", "/api/vaults"): CREATED})
    assert (code, err) == (0, "")
    assert client.calls == [("POST", "/api/vaults", {"name": "acme", "time_zone": "Europe/Berlin"}, {})]
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
    assert json.loads(out_file.read_text()) == {"api_url": ENV["BACKUP_API_URL"], "vault_id": VAULT_ID,
                                                "vault_name": "acme", "registration_key": CREATED["registration_key"]}
    assert CREATED["admin_key"] in out
    assert CREATED["registration_key"] not in out


def test_credentials_carry_the_service_root(tmp_path: Path) -> None:
    out_file = tmp_path / "acme.json"
    code, _, _, _ = run(["vault", "create", "acme", "--out", str(out_file)], {("POST", "/api/vaults"): CREATED},
                        env={**ENV, "BACKUP_API_URL": "https://backup.example/api/"})
    assert code == 0
    assert json.loads(out_file.read_text())["api_url"] == "https://backup.example"


def test_vault_create_json(tmp_path: Path) -> None:
    out_file = tmp_path / "acme.json"
    code, out, _, client = run(["vault", "create", "acme", "--redundancy", "LRS", "--soft-delete-days", "30",
                                "--out", str(out_file), "--json"], {("POST", "/api/vaults"): CREATED})
    assert code == 0
    assert client.calls[0][2] == {"name": "acme", "redundancy": "LRS", "soft_delete_days": 30}
    document = json.loads(out)
    assert document["admin_key"] == CREATED["admin_key"]
    assert document["credentials_file"] == str(out_file)


def test_vault_create_never_overwrites_a_file(tmp_path: Path) -> None:
    out_file = tmp_path / "acme.json"
    out_file.write_text("other vault's credentials")
    code, out, err, client = run(["vault", "create", "acme", "--out", str(out_file)])
    assert_one_line_error(code, out, err, 2, "already exists")
    assert client.calls == []
    assert out_file.read_text() == "other vault's credentials"


def test_vault_create_refused_leaves_no_file(tmp_path: Path) -> None:
    out_file = tmp_path / "acme.json"
    code, out, err, _ = run(["vault", "create", "acme", "--out", str(out_file)],
                            {("POST", "/api/vaults"): ServiceError("a vault named acme already exists", 409)})
    assert_one_line_error(code, out, err, 5, "a vault named acme already exists")
    assert not out_file.exists()


def test_vault_create_in_a_missing_directory(tmp_path: Path) -> None:
    code, out, err, client = run(["vault", "create", "acme", "--out", str(tmp_path / "nope" / "acme.json")])
    assert_one_line_error(code, out, err, 2, "cannot create")
    assert client.calls == []


# --- the other commands: requests and output ------------------------------------------------

def test_vault_list() -> None:
    answers = {("GET", "/api/vaults"): {"items": [VAULT]}}
    code, out, _, _ = run(["vault", "list", "--json"], answers)
    assert (code, json.loads(out)) == (0, [VAULT])
    code, out, _, _ = run(["vault", "list"], answers)
    assert "acme" in out and VAULT_ID in out and "14 days" in out and "Europe/Berlin" in out


def test_instances() -> None:
    answers = {("GET", f"/api/vaults/{VAULT_ID}/instances"): INSTANCES}
    code, out, _, client = run(["instances", "--vault", "acme", "--json"], answers)
    assert (code, json.loads(out)) == (0, INSTANCES["items"])
    assert [call[1] for call in client.calls] == ["/api/vaults/acme", f"/api/vaults/{VAULT_ID}/instances"]
    _, out, _, _ = run(["instances", "--vault", "acme"], answers)
    assert "web-1" in out and "2026-11-26 01:05:00Z" in out


def _rp(rp_id: str, state: str = "committed") -> dict:
    return {"id": rp_id, "instance_id": INSTANCE_ID, "instance_name": "web-1", "state": state,
            "created": "2026-11-26T02:00:00+00:00", "files": 3, "bytes": 3 * 1024 * 1024}


def test_recovery_points_follow_continuations_and_resolve_the_instance_name() -> None:
    pages = [{"items": [_rp("rp1"), _rp("rp2")], "continuation": "tok1"},
             {"items": [_rp("rp3", "deleted")], "continuation": None}]
    answers = {("GET", f"/api/vaults/{VAULT_ID}/instances"): INSTANCES, ("GET", "/api/recovery-points"): pages}
    code, out, _, client = run(["recovery-points", "--vault", "acme", "--instance", "web-1", "--json"], answers)
    assert code == 0
    assert [rp["id"] for rp in json.loads(out)] == ["rp1", "rp2", "rp3"]
    listing = [call[3] for call in client.calls if call[1] == "/api/recovery-points"]
    assert listing == [
        {"vault": VAULT_ID, "instance": INSTANCE_ID, "state": "all", "limit": "500"},
        {"vault": VAULT_ID, "instance": INSTANCE_ID, "state": "all", "limit": "500", "continuation": "tok1"},
    ]


def test_recovery_points_human_table() -> None:
    answers = {("GET", "/api/recovery-points"): [{"items": [_rp("rp1")], "continuation": None}]}
    code, out, _, _ = run(["recovery-points", "--vault", "acme"], answers)
    assert code == 0
    assert "rp1" in out and "web-1" in out and "3.0 MiB" in out and "committed" in out


def test_recovery_points_refuse_a_looping_continuation() -> None:
    page = {"items": [], "continuation": "same"}
    code, out, err, _ = run(["recovery-points", "--vault", "acme"], {("GET", "/api/recovery-points"): [page] * 3})
    assert_one_line_error(code, out, err, 5, "repeated a continuation")


def test_unknown_instance() -> None:
    answers = {("GET", f"/api/vaults/{VAULT_ID}/instances"): INSTANCES}
    code, out, err, _ = run(["recovery-points", "--vault", "acme", "--instance", "db-9"], answers)
    assert_one_line_error(code, out, err, 6, "vault acme has no instance db-9")


def test_policy_set_for_an_instance() -> None:
    policy = {"last": 0, "daily": 7, "weekly": 4, "monthly": 0, "yearly": 0}
    answers = {("GET", f"/api/vaults/{VAULT_ID}/instances"): INSTANCES,
               ("PUT", f"/api/vaults/{VAULT_ID}/policy"): {"policy": policy, "applied": {"kept": 11, "expired": 3}}}
    code, out, _, client = run(["policy", "set", "--vault", "acme", "--instance", "web-1", "--daily", "7",
                                "--weekly", "4"], answers)
    assert code == 0
    assert client.calls[-1][2] == {"instance_id": INSTANCE_ID, **policy}
    assert "daily 7, weekly 4" in out and "11 recovery points kept, 3 expired" in out


def test_policy_set_default_keeps_everything_when_all_zero() -> None:
    policy = dict.fromkeys(("last", "daily", "weekly", "monthly", "yearly"), 0)
    answers = {("PUT", f"/api/vaults/{VAULT_ID}/policy"): {"policy": policy, "applied": {"kept": 2, "expired": 0}}}
    code, out, _, client = run(["policy", "set", "--vault", "acme", "--json"], answers)
    assert code == 0
    assert client.calls[-1][2] == {"instance_id": None, **policy}
    assert json.loads(out)["applied"] == {"kept": 2, "expired": 0}


def test_policy_show() -> None:
    answer = {"default": {"last": 1, "daily": 7, "weekly": 0, "monthly": 12, "yearly": 0},
              "instances": {INSTANCE_ID: {"last": 0, "daily": 0, "weekly": 0, "monthly": 0, "yearly": 0}}}
    code, out, _, _ = run(["policy", "show", "--vault", "acme"], {("GET", f"/api/vaults/{VAULT_ID}/policy"): answer})
    assert code == 0
    assert "last 1, daily 7, monthly 12" in out and f"instance {INSTANCE_ID}" in out and "everything" in out
    _, out, _, _ = run(["policy", "show", "--vault", "acme"],
                       {("GET", f"/api/vaults/{VAULT_ID}/policy"): {"default": None, "instances": {}}})
    assert "not set (keeps everything)" in out


def test_delete_and_undelete() -> None:
    deleted = {**_rp("rp1", "deleted"), "deleted_at": "2026-11-26T10:00:00+00:00"}
    code, out, _, client = run(["delete", "--vault", "acme", "rp1"], {("DELETE", "/api/recovery-points/rp1"): deleted})
    assert code == 0
    assert client.calls[-1] == ("DELETE", "/api/recovery-points/rp1", None, {"vault": VAULT_ID})
    assert "undeleted until 2026-12-10 10:00:00Z" in out
    code, out, _, client = run(["undelete", "--vault", "acme", "rp1", "--json"],
                               {("POST", "/api/recovery-points/rp1/undelete"): _rp("rp1")})
    assert code == 0
    assert client.calls[-1] == ("POST", "/api/recovery-points/rp1/undelete", {}, {"vault": VAULT_ID})
    assert json.loads(out)["state"] == "committed"


REPORT = {"month": "2026-11", "protected_instances": 1, "protected_bytes": 60 * 2**30,
          "stored_bytes_primary": 150 * 2**30, "stored_bytes_secondary": 100 * 2**30, "restores": 2,
          "restore_bytes": 2**30, "egress_bytes": 2**30, "transactions": 42,
          "estimated_cost": {"currency": "USD", "instance_fees": [
              {"instance_id": INSTANCE_ID, "protected_bytes": 60 * 2**30, "tier": "50-500 GB", "fee": "10.00"}],
              "storage_primary": "3.36", "storage_secondary": "2.24", "restores": "0.00", "egress": "0.00",
              "total": "15.60"}}


def test_usage() -> None:
    answers = {("GET", f"/api/vaults/{VAULT_ID}/usage"): REPORT}
    code, out, _, client = run(["usage", "--vault", "acme", "--month", "2026-11", "--json"], answers)
    assert (code, json.loads(out)) == (0, REPORT)
    assert client.calls[-1][3] == {"month": "2026-11"}
    code, out, _, _ = run(["usage", "--vault", "acme"], answers)
    assert code == 0
    assert "Estimated cost (USD)" in out and "15.60" in out and "150.0 GiB" in out and "50-500 GB" in out


def test_usage_with_numbers_and_a_single_instance_fee_figure() -> None:
    cost = {"currency": "EUR", "instance_fees": 10, "storage_primary": 3.36, "storage_secondary": 0,
            "restores": 0, "egress": 0, "total": 13.365}
    code, out, _, _ = run(["usage", "--vault", "acme"], {("GET", f"/api/vaults/{VAULT_ID}/usage"): {
        **REPORT, "estimated_cost": cost}})
    assert code == 0
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert "instance fees 10.00" in lines and "storage, paired region 0.00" in lines and "total 13.365" in lines


def test_poison_list_and_replay() -> None:
    message = {"queue": "commits", "message_id": "m1", "dequeue_count": 5,
               "inserted_at": "2026-11-26T03:00:00+00:00", "body_preview": '{"version": 9, "[bold]x": 1}'}
    code, out, _, _ = run(["poison", "list"], {("GET", "/api/poison"): {"items": [message]}})
    assert code == 0
    assert "commits/m1" in out and "[bold]x" in out  # user data is printed literally, never as markup
    code, out, _, client = run(["poison", "replay", "commits/m1", "--json"],
                               {("POST", "/api/poison/commits/m1/replay"): {"replayed": True}})
    assert (code, json.loads(out)) == (0, {"replayed": True})


def test_empty_lists_print_none() -> None:
    code, out, _, _ = run(["poison", "list"], {("GET", "/api/poison"): {"items": []}})
    assert (code, out.strip()) == (0, "(none)")


# --- errors become exit codes in one place --------------------------------------------------

@pytest.mark.parametrize(
    ("error", "exit_code"),
    [
        (NotFoundError("vault not found", 404), 6),
        (ServiceError("this credential may not perform this operation", 403), 5),
        (ServiceUnreachableError("cannot reach the backup service at http://127.0.0.1:7071"), 4),
        (ServiceError("line one\nline two", 500), 5),
    ],
)
def test_service_errors_map_to_exit_codes(error: Exception, exit_code: int) -> None:
    code, out, err, _ = run(["instances", "--vault", "acme"], {("GET", "/api/vaults/acme"): error})
    assert_one_line_error(code, out, err, exit_code, str(error).split("\n")[0])


# --- the installed console script -----------------------------------------------------------

def _script(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("backup-admin")
    base = {key: value for key, value in os.environ.items() if not key.startswith("BACKUP_")}
    return subprocess.run([str(script), *args], env={**base, **env}, capture_output=True, text=True, timeout=60)


def test_console_script_without_configuration() -> None:
    result = _script(["vault", "list", "--json"], {})
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == "backup-admin: error: BACKUP_API_URL is not set (the service's base URL)\n"


def test_console_script_against_nothing_listening() -> None:
    result = _script(["vault", "list", "--json"], {"BACKUP_API_URL": "http://127.0.0.1:9", "BACKUP_ADMIN_KEY": "k"})
    assert result.returncode == 4
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "cannot reach the backup service" in result.stderr
