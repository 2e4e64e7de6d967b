"""One function per `backup-agent` command: build the context, run the use case, print the result."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import socket
import sys

from agent_client.agent_context import AgentContext, context_from_environment
from agent_client.backup_run import BackupRequest, run_backup
from agent_client.config import AgentConfig, agent_home, read_vault_credentials, save_config
from agent_client.errors import PartialBackupError, UsageError
from agent_client.listing import list_recovery_points, list_tree
from agent_client.progress import make_progress, scan_totals_in_background
from agent_client.restore_run import RestoreReport, run_restore
from agent_client.service_api import HttpServiceApi
from agent_client.vault_keys import change_passphrase
from agent_client.verify_run import raise_for_damage, run_verify


def run(arguments: argparse.Namespace) -> int:
    handler = _HANDLERS[arguments.command]
    return handler(arguments) or 0


def register(arguments: argparse.Namespace) -> None:
    credentials = read_vault_credentials(arguments.vault_credentials)
    api_url = _api_url_for_registration(credentials)
    if "instance_token" in credentials:
        config = _adopt_rotated_token(arguments, credentials, api_url)
    else:
        name = arguments.name or socket.gethostname()
        registration = HttpServiceApi(api_url, None).register(credentials["registration_key"], name)
        config = AgentConfig(api_url=api_url, vault_id=registration.vault_id,
                             vault_name=registration.vault_name or credentials.get("vault_name", ""),
                             instance_id=registration.instance_id, instance_name=name, token=registration.token)
    name = config.instance_name
    path = save_config(agent_home(), config)
    result = {"instance_id": config.instance_id, "name": name, "vault_id": config.vault_id,
              "vault_name": config.vault_name, "config": str(path)}
    _emit(arguments, result, f"registered this machine as {name} ({config.instance_id}) in vault "
                             f"{config.vault_name or config.vault_id}")


def _adopt_rotated_token(arguments: argparse.Namespace, credentials: dict, api_url: str) -> AgentConfig:
    """The machine keeps its identity with the new token an operator issued (the token is checked first)."""
    if arguments.name:
        raise UsageError("--name cannot rename a machine whose token was rotated; omit it")
    api = HttpServiceApi(api_url, credentials["instance_token"])
    next(iter(api.list_recovery_points(credentials["instance_id"], "committed", limit=1)), None)
    return AgentConfig(api_url=api_url, vault_id=credentials["vault_id"], vault_name=credentials.get("vault_name", ""),
                       instance_id=credentials["instance_id"], instance_name=credentials.get("instance_name", ""),
                       token=credentials["instance_token"])


def backup(arguments: argparse.Namespace) -> int:
    if arguments.stdin != (arguments.name is not None):
        raise UsageError("--stdin and --name go together: `backup --stdin --name NAME`")
    context = _context(arguments, "Backing up")
    request = BackupRequest(sources=arguments.paths, excludes=arguments.exclude,
                            stdin_name=arguments.name if arguments.stdin else None,
                            stdin=sys.stdin.buffer if arguments.stdin else None)
    if not arguments.stdin and arguments.paths:
        scan_totals_in_background([p.encode() for p in arguments.paths], context.progress)
    try:
        report = run_backup(context, request)
    finally:
        context.progress.close()
    for skipped in report.skipped:
        print(f"backup-agent: skipped {skipped['path']}: {skipped['error']}", file=sys.stderr)
    changed = f"{report.files_new} new, {report.files_changed} changed, {report.files_unchanged} unchanged"
    _emit(arguments, dataclasses.asdict(report),
          f"recovery point {report.recovery_point_id}: {report.files} files ({changed}), "
          f"{_size(report.bytes_read)} read, {_size(report.bytes_uploaded)} uploaded in {report.seconds:.1f} s"
          + (f", PARTIAL: {len(report.skipped)} skipped" if report.partial else ""))
    if report.partial:
        raise PartialBackupError(
            f"recovery point {report.recovery_point_id} was committed without {len(report.skipped)} unreadable path(s)"
        )
    return 0


def list_points(arguments: argparse.Namespace) -> None:
    context = _context(arguments, None)
    rows = list_recovery_points(context, arguments.deleted, arguments.all_machines)
    if arguments.json:
        _print_json(rows)
        return
    print(f"{'ID':32}  {'MACHINE':16}  {'CREATED':25}  {'FILES':>8}  {'SIZE':>10}  STATE")
    for row in rows:
        print(f"{row['id']:32}  {str(row['instance'])[:16]:16}  {str(row['created'])[:25]:25}  "
              f"{row['files'] or 0:>8}  {_size(row['bytes'] or 0):>10}  {row['state']}")


def ls(arguments: argparse.Namespace) -> None:
    context = _context(arguments, None)
    rows = list_tree(context, arguments.recovery_point, arguments.path)
    if arguments.json:  # streamed: a tree of millions of entries is never held whole
        sys.stdout.write("[")
        for number, row in enumerate(rows):
            sys.stdout.write(("," if number else "") + json.dumps(row))
        sys.stdout.write("]\n")
        return
    for row in rows:
        suffix = f" -> {row['target']}" if "target" in row else ""
        print(f"{row['type'][:4]:4} {row['mode']} {row['uid']:>6} {row['gid']:>6} {row['size']:>14} "
              f"{row['mtime']} {row['path']}{suffix}")


def restore(arguments: argparse.Namespace) -> None:
    context = _context(arguments, "Restoring")
    try:
        report: RestoreReport = run_restore(context, arguments.recovery_point, arguments.target,
                                            arguments.include, arguments.from_secondary)
    finally:
        context.progress.close()
    _emit(arguments, dataclasses.asdict(report),
          f"restored {report.files} files, {report.dirs} directories, {report.links} symlinks "
          f"({_size(report.bytes_written)}) to {report.target} in {report.seconds:.1f} s")


def verify(arguments: argparse.Namespace) -> None:
    context = _context(arguments, "Verifying")
    try:
        report = run_verify(context, arguments.recovery_point)
    finally:
        context.progress.close()
    result = dataclasses.asdict(report) | {"ok": report.ok}
    if arguments.json:
        _print_json(result)
    elif report.ok:
        print(f"recovery point {report.recovery_point_id} is intact: {report.files} files, {report.packs} packs, "
              f"{report.chunks} chunks, {_size(report.bytes_downloaded)} checked in {report.seconds:.1f} s")
    for path in report.damaged_paths:
        print(f"backup-agent: damaged: {path}", file=sys.stderr)
    for pack_name, reason in report.damaged_packs.items():
        print(f"backup-agent: damaged: {pack_name}: {reason}", file=sys.stderr)
    raise_for_damage(report)


def passphrase(arguments: argparse.Namespace) -> None:
    context = _context(arguments, None)
    key_id = change_passphrase(context.api, context.make_blobs, context.passphrases)
    _emit(arguments, {"key_id": key_id}, f"the vault key is now wrapped by the new passphrase (key {key_id})")


def _context(arguments: argparse.Namespace, verb: str | None) -> AgentContext:
    context = context_from_environment()
    if verb:
        context.progress = make_progress(verb, quiet=arguments.json)
    return context


def _api_url_for_registration(credentials: dict) -> str:
    api_url = os.environ.get("BACKUP_API_URL") or credentials.get("api_url")
    if not api_url:
        raise UsageError("no API URL: set BACKUP_API_URL or use credentials that carry api_url")
    return api_url


def _emit(arguments: argparse.Namespace, result: dict, human: str) -> None:
    if arguments.json:
        _print_json(result)
    else:
        print(human)


def _print_json(document) -> None:
    json.dump(document, sys.stdout, default=str)
    sys.stdout.write("\n")
    sys.stdout.flush()


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"


_HANDLERS = {
    "register": register, "backup": backup, "list": list_points, "ls": ls, "restore": restore,
    "verify": verify, "passphrase": passphrase,
}
