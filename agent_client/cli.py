"""The `backup-agent` command line: parses arguments, runs one command, maps errors to exit codes.

Every BackupError becomes one line on stderr and its class's exit code (agent_client/errors.py);
anything else is a bug: one line, exit 70, and the traceback only with BACKUP_AGENT_DEBUG=1.
Ctrl-C exits 130. A partial backup prints its result, then exits with PartialBackupError's code.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from agent_client import commands
from agent_client.errors import BackupError, UsageError
from agent_client.memory_tuning import limit_heap_growth

EXIT_INTERNAL_ERROR = 70
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print exactly one JSON document on stdout")
    parser = _Parser(prog="backup-agent", description="Encrypted, deduplicated backups of this machine into a vault.",
                     parents=[common])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    register = sub.add_parser("register", parents=[common], help="register this machine in a vault")
    register.add_argument("--vault-credentials", required=True, metavar="FILE")
    register.add_argument("--name", help="this machine's name (default: the host name)")

    backup = sub.add_parser("backup", parents=[common], help="back up paths (or stdin) as a new recovery point")
    backup.add_argument("paths", nargs="*", metavar="PATH")
    backup.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                        help="skip paths whose absolute path or base name matches (repeatable)")
    backup.add_argument("--stdin", action="store_true", help="back up standard input as one file")
    backup.add_argument("--name", help="the file name of the --stdin backup")

    listing = sub.add_parser("list", parents=[common], help="list recovery points")
    listing.add_argument("--deleted", action="store_true", help="soft-deleted recovery points instead")
    listing.add_argument("--all-machines", action="store_true", help="every machine of the vault")

    ls = sub.add_parser("ls", parents=[common], help="list the files of a recovery point")
    ls.add_argument("recovery_point", metavar="RECOVERY_POINT")
    ls.add_argument("path", nargs="?", metavar="PATH")

    restore = sub.add_parser("restore", parents=[common], help="restore a recovery point")
    restore.add_argument("recovery_point", metavar="RECOVERY_POINT")
    restore.add_argument("--target", required=True, metavar="DIR")
    restore.add_argument("--include", action="append", default=[], metavar="PATH",
                         help="restore only this path and what is below it (repeatable)")
    restore.add_argument("--from-secondary", action="store_true", help="read from the paired region")

    verify = sub.add_parser("verify", parents=[common], help="download and authenticate every byte of a recovery point")
    verify.add_argument("recovery_point", metavar="RECOVERY_POINT")

    passphrase = sub.add_parser("passphrase", parents=[common], help="manage the vault passphrase")
    passphrase_sub = passphrase.add_subparsers(dest="passphrase_command", required=True, parser_class=_Parser)
    passphrase_sub.add_parser("change", parents=[common],
                              help="re-wrap the vault key under a new passphrase ($BACKUP_AGENT_NEW_PASSPHRASE or a prompt)")
    return parser


def main(argv: list[str] | None = None) -> int:
    limit_heap_growth()
    try:
        arguments = build_parser().parse_args(argv)
        arguments.json = getattr(arguments, "json", False)
        return commands.run(arguments)
    except BackupError as exc:
        print(f"backup-agent: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("backup-agent: interrupted; nothing was committed by the interrupted step", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:
        where = f" ({os.fsdecode(exc.filename)})" if exc.filename else ""
        print(f"backup-agent: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return BackupError.exit_code
    except Exception as exc:  # noqa: BLE001 - the one place a bug becomes a message
        if os.environ.get("BACKUP_AGENT_DEBUG"):
            traceback.print_exc()
        print(f"backup-agent: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
