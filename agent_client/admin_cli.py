"""The `backup-admin` console script: operator commands over the service's HTTP API."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from agent_client.errors import BackupError, NotFoundError, ServiceError, UsageError
from agent_client.http_client import JsonHttpClient
from shared.domain.retention import RetentionPolicy

PROG = "backup-admin"
RULES = ("last", "daily", "weekly", "monthly", "yearly")
PAGE_SIZE = 500


@dataclass
class Output:
    """What a command produced: the --json document, and how to show it to a person."""

    document: Any
    show: Callable[[Console], None]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage dump: the CLI contract
        raise UsageError(f"{message} (see {self.prog} --help)")


# --- commands -------------------------------------------------------------------------------

class Commands:
    """One method per command; each calls the API and returns an Output."""

    def __init__(self, client: JsonHttpClient, service_root: str) -> None:
        self.client = client
        self.service_root = service_root

    def vault(self, ident: str) -> dict:
        return self.client.get(f"/api/vaults/{quote(ident, safe='')}")

    def instance_id(self, vault: dict, ident: str) -> str:
        matches = [i for i in self._instances(vault) if ident in (i["instance_id"], i["name"])]
        if not matches:
            raise NotFoundError(f"vault {vault['name']} has no instance {ident}", 404)
        if len(matches) > 1:
            raise UsageError(f"several instances are named {ident}; give the instance id")
        return matches[0]["instance_id"]

    def _instances(self, vault: dict) -> list[dict]:
        return self.client.get(f"/api/vaults/{vault['vault_id']}/instances")["items"]

    def vault_create(self, args: argparse.Namespace) -> Output:
        if args.time_zone is not None:
            _check_zone(args.time_zone)
        request = {"name": args.name, "redundancy": args.redundancy,
                   "soft_delete_days": args.soft_delete_days, "time_zone": args.time_zone}
        request = {key: value for key, value in request.items() if value is not None}
        # Claim the file first: the keys are shown once, so nothing may stop us writing them after.
        with _new_private_file(args.out) as credentials_file:
            created = self.client.post("/api/vaults", request)
            json.dump({"api_url": self.service_root, "vault_id": created["vault_id"], "vault_name": created["name"],
                       "registration_key": created["registration_key"]}, credentials_file, indent=2)
        return Output({**created, "credentials_file": args.out}, lambda c: _show_created(c, created, args.out))

    def vault_list(self, args: argparse.Namespace) -> Output:
        vaults = self.client.get("/api/vaults")["items"]
        return Output(vaults, lambda c: c.print(_table(
            ["Name", "Vault id", "Redundancy", "Soft delete", "Time zone", "Created"],
            [[v["name"], v["vault_id"], v["redundancy"], f"{v['soft_delete_days']} days", v["time_zone"],
              _when(v.get("created"))] for v in vaults])))

    def vault_update(self, args: argparse.Namespace) -> Output:
        if args.time_zone is not None:
            _check_zone(args.time_zone)
        limits = {"max_open_sessions": args.max_open_sessions, "max_commits_per_hour": args.max_commits_per_hour,
                  "quota_bytes": args.quota_bytes}
        request = {"redundancy": args.redundancy, "soft_delete_days": args.soft_delete_days, "time_zone": args.time_zone,
                   "limits": {key: value for key, value in limits.items() if value is not None} or None}
        request = {key: value for key, value in request.items() if value is not None}
        if not request:
            raise UsageError("give at least one setting to change (see backup-admin vault update --help)")
        vault = self.vault(args.name)
        updated = self.client.patch(f"/api/vaults/{vault['vault_id']}", request)
        return Output(updated, lambda c: c.print(
            f"Vault {updated['name']}: {updated['redundancy']}, soft delete {updated['soft_delete_days']} days, "
            f"time zone {updated['time_zone']}, limits {_limits(updated.get('limits'))}.", markup=False, highlight=False))

    def vault_credentials(self, args: argparse.Namespace) -> Output:
        vault = self.vault(args.name)
        with _new_private_file(args.out) as credentials_file:
            issued = self.client.post(f"/api/vaults/{vault['vault_id']}/registration-key")
            json.dump({"api_url": self.service_root, "vault_id": issued["vault_id"], "vault_name": issued["name"],
                       "registration_key": issued["registration_key"]}, credentials_file, indent=2)
        document = {key: value for key, value in issued.items() if key != "registration_key"}
        return Output({**document, "credentials_file": args.out}, lambda c: c.print(
            f"New machine credentials of vault {issued['name']} written to {args.out}; "
            "the previous registration key no longer works (registered machines are not affected).",
            markup=False, highlight=False))

    def instances(self, args: argparse.Namespace) -> Output:
        if not args.vault:
            raise UsageError("the following arguments are required: --vault (see backup-admin instances --help)")
        items = self._instances(self.vault(args.vault))
        return Output(items, lambda c: c.print(_table(
            ["Name", "Instance id", "Registered", "Last backup", "Revoked"],
            [[i["name"], i["instance_id"], _when(i.get("registered_at")), _when(i.get("last_backup")),
              _when(i.get("revoked_at")) if i.get("revoked_at") else None] for i in items])))

    def instances_revoke(self, args: argparse.Namespace) -> Output:
        vault = self.vault(args.vault)
        instance = self.instance_id(vault, args.instance)
        answer = self.client.post(f"/api/vaults/{vault['vault_id']}/instances/{instance}/revoke")
        return Output(answer, lambda c: c.print(
            f"Machine {answer['name']} ({instance}) revoked: its token no longer works and its open sessions cannot "
            "commit; its recovery points stay.", markup=False, highlight=False))

    def instances_rotate_token(self, args: argparse.Namespace) -> Output:
        vault = self.vault(args.vault)
        instance = self.instance_id(vault, args.instance)
        with _new_private_file(args.out) as credentials_file:
            answer = self.client.post(f"/api/vaults/{vault['vault_id']}/instances/{instance}/token")
            json.dump({"api_url": self.service_root, "vault_id": answer["vault_id"], "vault_name": answer["vault_name"],
                       "instance_id": answer["instance_id"], "instance_name": answer["name"],
                       "instance_token": answer["token"]}, credentials_file, indent=2)
        document = {key: value for key, value in answer.items() if key != "token"}
        return Output({**document, "credentials_file": args.out}, lambda c: c.print(
            f"New token of machine {answer['name']} written to {args.out}; the old one no longer works. On the machine, "
            f"run: backup-agent register --vault-credentials {args.out}", markup=False, highlight=False))

    def recovery_points(self, args: argparse.Namespace) -> Output:
        vault = self.vault(args.vault)
        instance = self.instance_id(vault, args.instance) if args.instance else None
        items: list[dict] = []
        continuation, seen = None, set()
        while True:
            page = self.client.get(_query("/api/recovery-points", vault=vault["vault_id"], instance=instance,
                                          state=args.state, limit=PAGE_SIZE, continuation=continuation))
            items.extend(page["items"])
            continuation = page.get("continuation")
            if not continuation:
                break
            if continuation in seen:
                raise ServiceError("the service repeated a continuation token while listing recovery points")
            seen.add(continuation)
        return Output(items, lambda c: c.print(_table(
            ["Recovery point", "Instance", "Created", "State", "Files", "Size"],
            [[rp["id"], rp.get("instance_name") or rp.get("instance_id"), _when(rp.get("created")),
              rp.get("state"), rp.get("files"), _size(rp.get("bytes"))] for rp in items])))

    def policy_set(self, args: argparse.Namespace) -> Output:
        try:
            policy = RetentionPolicy(**{rule: getattr(args, rule) or 0 for rule in RULES})
        except ValidationError as exc:
            first = exc.errors()[0]
            raise UsageError(f"--{first['loc'][0]}: {first['msg']}") from exc
        vault = self.vault(args.vault)
        instance = self.instance_id(vault, args.instance) if args.instance else None
        answer = self.client.put(f"/api/vaults/{vault['vault_id']}/policy",
                                 {"instance_id": instance, **policy.model_dump()})
        scope = f"instance {args.instance}" if args.instance else "the vault default"
        applied = answer.get("applied") or {}
        return Output(answer, lambda c: c.print(
            f"Policy of {scope} in vault {vault['name']}: {_rules(answer.get('policy'))}.\n"
            f"Applied now: {applied.get('kept', 0)} recovery points kept, "
            f"{applied.get('expired', 0)} expired (soft-deleted).", markup=False, highlight=False))

    def policy_show(self, args: argparse.Namespace) -> Output:
        vault = self.vault(args.vault)
        answer = self.client.get(f"/api/vaults/{vault['vault_id']}/policy")
        rows = [["vault default", _rules(answer.get("default"))]]
        rows += [[f"instance {instance}", _rules(policy)] for instance, policy in (answer.get("instances") or {}).items()]
        return Output(answer, lambda c: c.print(_table(["Applies to", "Keeps"], rows)))

    def delete(self, args: argparse.Namespace) -> Output:
        vault = self.vault(args.vault)
        answer = self.client.delete(_query(f"/api/recovery-points/{quote(args.recovery_point, safe='')}",
                                           vault=vault["vault_id"]))
        until = _when(answer.get("deleted_at"), plus_days=vault.get("soft_delete_days"))
        return Output(answer, lambda c: c.print(
            f"Recovery point {args.recovery_point} deleted; it can be undeleted until {until}.",
            markup=False, highlight=False))

    def undelete(self, args: argparse.Namespace) -> Output:
        vault = self.vault(args.vault)
        answer = self.client.post(_query(f"/api/recovery-points/{quote(args.recovery_point, safe='')}/undelete",
                                         vault=vault["vault_id"]))
        return Output(answer, lambda c: c.print(
            f"Recovery point {args.recovery_point} undeleted (state {answer.get('state', 'committed')}).",
            markup=False, highlight=False))

    def usage(self, args: argparse.Namespace) -> Output:
        vault = self.vault(args.vault)
        report = self.client.get(_query(f"/api/vaults/{vault['vault_id']}/usage", month=args.month))
        return Output(report, lambda c: _show_usage(c, vault, report))

    def poison_list(self, args: argparse.Namespace) -> Output:
        items = self.client.get("/api/poison")["items"]
        return Output(items, lambda c: c.print(_table(
            ["Id", "Dequeues", "Inserted", "Body"],
            [[f"{m['queue']}/{m['message_id']}", m.get("dequeue_count"), _when(m.get("inserted_at")),
              _preview(m.get("body_preview"))] for m in items])))

    def poison_replay(self, args: argparse.Namespace) -> Output:
        queue, _, message_id = args.id.partition("/")
        if not queue or not message_id:
            raise UsageError(f"poison message id {args.id!r} is not <queue>/<message_id>")
        answer = self.client.post(f"/api/poison/{quote(queue, safe='')}/{quote(message_id, safe='')}/replay")
        return Output(answer, lambda c: c.print(f"Replayed {args.id} to queue {queue}.", markup=False, highlight=False))


# --- arguments ------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print exactly one JSON document on stdout")
    parser = _Parser(prog=PROG, description="Administer backup vaults (key from $BACKUP_ADMIN_KEY, "
                     "service from $BACKUP_API_URL).", parents=[common])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(group, name: str, handler: str, help_text: str, vault: bool = False) -> argparse.ArgumentParser:
        sub = group.add_parser(name, help=help_text, description=help_text, parents=[common])
        sub.set_defaults(handler=handler)
        if vault:
            sub.add_argument("--vault", required=True, help="the vault's name or id")
        return sub

    vault = commands.add_parser("vault", help="create and list vaults").add_subparsers(
        dest="vault_command", required=True, metavar="COMMAND")
    create = command(vault, "create", "vault_create", "create a vault (operator key)")
    create.add_argument("name")
    create.add_argument("--redundancy", choices=("LRS", "GRS"), help="default: the service's setting")
    create.add_argument("--soft-delete-days", type=int, help="days a deleted recovery point can be undeleted")
    create.add_argument("--time-zone", help="IANA time zone in which retention counts days (default UTC)")
    create.add_argument("--out", required=True, metavar="CREDENTIALS_FILE",
                        help="new file (mode 0600) receiving the credentials machines register with")
    command(vault, "list", "vault_list", "list the vaults this key administers")
    set_vault = command(vault, "update", "vault_update", "change a vault's settings and limits")
    set_vault.add_argument("name", metavar="VAULT", help="the vault's name or id")
    set_vault.add_argument("--redundancy", choices=("LRS", "GRS"))
    set_vault.add_argument("--soft-delete-days", type=int)
    set_vault.add_argument("--time-zone")
    set_vault.add_argument("--max-open-sessions", type=int, metavar="N",
                           help="backup sessions one machine may hold open at once (0: no limit)")
    set_vault.add_argument("--max-commits-per-hour", type=int, metavar="N",
                           help="backups one machine may commit per hour (0: no limit)")
    set_vault.add_argument("--quota-bytes", type=int, metavar="BYTES",
                           help="refuse new backups once the vault stores this much (0: no quota)")
    issue = command(vault, "credentials", "vault_credentials",
                    "issue new machine credentials (registration key); the old key stops working")
    issue.add_argument("name", metavar="VAULT", help="the vault's name or id")
    issue.add_argument("--out", required=True, metavar="CREDENTIALS_FILE", help="new file (mode 0600)")

    instances = command(commands, "instances", "instances", "list the machines registered in a vault")
    instances.add_argument("--vault", help="the vault's name or id")
    machine = instances.add_subparsers(dest="instances_command", metavar="COMMAND", parser_class=_Parser)
    revoke = command(machine, "revoke", "instances_revoke",
                     "revoke a machine: its token stops working, its open sessions cannot commit", vault=True)
    revoke.add_argument("instance", metavar="INSTANCE", help="name or id")
    rotate = command(machine, "rotate-token", "instances_rotate_token",
                     "issue a new token for a machine; the old one stops working", vault=True)
    rotate.add_argument("instance", metavar="INSTANCE", help="name or id")
    rotate.add_argument("--out", required=True, metavar="CREDENTIALS_FILE",
                        help="new file (mode 0600) for `backup-agent register --vault-credentials`")
    points = command(commands, "recovery-points", "recovery_points", "list a vault's recovery points", vault=True)
    points.add_argument("--instance", help="only this instance (name or id)")
    points.add_argument("--state", default="all", choices=("all", "committed", "deleted", "pending", "rejected"),
                        help="default: all (purged recovery points are gone from the catalog)")

    policy = commands.add_parser("policy", help="retention policy").add_subparsers(
        dest="policy_command", required=True, metavar="COMMAND")
    set_policy = command(policy, "set", "policy_set",
                         "set a retention policy and apply it at once (rules not given are 0; all 0 keeps everything)",
                         vault=True)
    set_policy.add_argument("--instance", help="this instance only (name or id); default: the vault default")
    for rule in RULES:
        set_policy.add_argument(f"--{rule}", type=int, metavar="N")
    command(policy, "show", "policy_show", "show a vault's retention policies", vault=True)

    for name, handler, verb in (("delete", "delete", "soft-delete"), ("undelete", "undelete", "undelete")):
        sub = command(commands, name, handler, f"{verb} a recovery point", vault=True)
        sub.add_argument("recovery_point", metavar="RECOVERY_POINT")
    usage = command(commands, "usage", "usage", "usage and estimated bill of a month", vault=True)
    usage.add_argument("--month", type=_month, help="YYYY-MM (default: the current month)")

    poison = commands.add_parser("poison", help="messages that kept failing").add_subparsers(
        dest="poison_command", required=True, metavar="COMMAND")
    command(poison, "list", "poison_list", "list the poison queues' messages")
    command(poison, "replay", "poison_replay", "move a poison message back to its queue").add_argument(
        "id", metavar="ID", help="<queue>/<message_id>")
    return parser


def _query(path: str, **params: Any) -> str:
    # Encoded here rather than through JsonHttpClient's params, whose urllib3 2 call is broken.
    present = {key: value for key, value in params.items() if value is not None}
    return f"{path}?{urlencode(present)}" if present else path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    args.json = getattr(args, "json", False)  # SUPPRESS lets --json stand before or after the command
    return args


def _month(value: str) -> str:
    try:
        datetime.strptime(value, "%Y-%m")
    except ValueError:
        raise argparse.ArgumentTypeError(f"month {value!r} is not YYYY-MM") from None
    return value


def _check_zone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin)") from None


@contextmanager
def _new_private_file(path: str) -> Iterator[TextIO]:
    """Creates `path` (mode 0600, never an existing file); removes it again if the block fails."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UsageError(f"{path} already exists; choose a new --out file") from None
    except OSError as exc:
        raise UsageError(f"cannot create {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w") as handle:
            os.fchmod(fd, 0o600)
            yield handle
    except BaseException:
        os.unlink(path)
        raise


# --- human output ---------------------------------------------------------------------------

def _table(headers: list[str], rows: list[list[Any]]) -> Table | Text:
    if not rows:
        return Text("(none)")
    table = Table(*headers, box=None, header_style="bold", pad_edge=False)
    for row in rows:
        table.add_row(*(Text("-" if cell is None else str(cell)) for cell in row))
    return table


def _show_created(console: Console, created: dict, out: str) -> None:
    console.print(
        f"Created vault {created['name']} ({created['vault_id']}): {created['redundancy']}, soft delete "
        f"{created['soft_delete_days']} days, time zone {created['time_zone']}.\n"
        f"Machine credentials written to {out}; give that file to the machines to register.\n"
        f"Admin key of this vault, shown only now (store it safely):\n{created['admin_key']}",
        markup=False, highlight=False)


def _show_usage(console: Console, vault: dict, report: dict) -> None:
    cost = report.get("estimated_cost") or {}
    currency = cost.get("currency", "")
    console.print(Text(f"Vault {vault['name']}, {report.get('month')}", style="bold"))
    console.print(_table(["Usage", ""], [
        ["protected instances", report.get("protected_instances")],
        ["protected (front-end) size", _size(report.get("protected_bytes"))],
        ["stored, primary region", _size(report.get("stored_bytes_primary"))],
        ["stored, paired region", _size(report.get("stored_bytes_secondary"))],
        ["restores", f"{report.get('restores')} ({_size(report.get('restore_bytes'))})"],
        ["egress", _size(report.get("egress_bytes"))],
        ["storage transactions", report.get("transactions")],
    ]))
    fees = cost.get("instance_fees")
    fee_rows = ([[f"instance {fee.get('instance_id')} ({fee.get('tier')})", fee.get("fee")] for fee in fees]
                if isinstance(fees, list) else [["instance fees", fees]])
    rows = fee_rows + [["storage, primary", cost.get("storage_primary")],
                       ["storage, paired region", cost.get("storage_secondary")],
                       ["restores", cost.get("restores")], ["egress", cost.get("egress")],
                       ["total", cost.get("total")]]
    console.print(_table([f"Estimated cost ({currency})", ""], [[label, _money(amount)] for label, amount in rows]))


def _rules(policy: Mapping[str, int] | None) -> str:
    if not policy:
        return "not set (keeps everything)"
    counts = [f"{rule} {policy.get(rule, 0)}" for rule in RULES if policy.get(rule)]
    return ", ".join(counts) if counts else "everything"


def _limits(limits: Mapping[str, int] | None) -> str:
    if not limits:
        return "the service's"
    return ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in sorted(limits.items()))


def _money(amount: Any) -> str:
    try:
        exact = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return "-" if amount is None else str(amount)
    cents = exact.quantize(Decimal("0.01"))
    return str(cents) if cents == exact else str(exact)  # never hide a finer configured precision


def _size(count: Any) -> str:
    if not isinstance(count, int):
        return "-" if count is None else str(count)
    size, unit = float(count), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            break
        size /= 1024
    return f"{count} B" if unit == "B" else f"{size:.1f} {unit}"


def _when(stamp: str | None, plus_days: int | None = None) -> str:
    if not stamp:
        return "-"
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment += timedelta(days=plus_days or 0)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _preview(body: str | None, width: int = 60) -> str:
    flat = " ".join((body or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


# --- entry point: the one place errors become exit codes -----------------------------------

def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None,
         client_factory: Callable[[str, str], Any] = JsonHttpClient) -> int:
    """Runs one command; returns the exit code (0, or the error class's code)."""
    environ = os.environ if environ is None else environ
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    try:
        args = parse_args(argv)
        api_url, admin_key = environ.get("BACKUP_API_URL"), environ.get("BACKUP_ADMIN_KEY")
        if not api_url:
            raise UsageError("BACKUP_API_URL is not set (the service's base URL)")
        if not admin_key:
            raise UsageError("BACKUP_ADMIN_KEY is not set (the operator key or a vault admin key)")
        # Routes are written with their /api prefix (as every JsonHttpClient caller does), so the
        # URL is accepted with or without it, and the credentials file carries it without.
        service_root = api_url.rstrip("/").removesuffix("/api")
        commands = Commands(client_factory(service_root, admin_key), service_root)
        output = getattr(commands, args.handler)(args)
        if args.json:
            stdout.write(json.dumps(output.document, indent=2, default=str) + "\n")
        else:
            width = shutil.get_terminal_size((160, 24)).columns if stdout.isatty() else 200
            output.show(Console(file=stdout, width=width, highlight=False, soft_wrap=False))
        return 0
    except BackupError as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        stderr.write(f"{PROG}: error: {message}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        stderr.write(f"{PROG}: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
