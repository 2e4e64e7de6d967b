"""`make demo`: a real backup and restore of a sample folder through the whole local stack."""

from __future__ import annotations

import filecmp
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from devstack.stack import Stack

BIN = Path(sys.executable).parent


def _sample_tree(root: Path) -> None:
    """A small folder with the shapes a real one has: text, binary, nested, unicode, links, empty."""
    (root / "docs" / "notes").mkdir(parents=True)
    for index in range(40):
        (root / "docs" / f"report-{index:02}.txt").write_text(f"quarterly report {index}\n" * (50 + index * 20))
    (root / "docs" / "notes" / "résumé – 履歴書.md").write_text("unicode names survive\n")
    (root / "media").mkdir()
    (root / "media" / "photo.raw").write_bytes(secrets.token_bytes(3 << 20))
    (root / "media" / "empty.bin").write_bytes(b"")
    (root / "latest-report").symlink_to("docs/report-39.txt")
    (root / "docs" / "hardlink.txt").hardlink_to(root / "docs" / "report-00.txt")
    os.chmod(root / "docs" / "report-01.txt", 0o600)


def _run(env: dict[str, str], *argv: str) -> dict | list:
    """Runs a CLI with --json and returns its document; a failure stops the demo with its message."""
    result = subprocess.run([str(BIN / argv[0]), *argv[1:], "--json"], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"demo failed: {' '.join(argv[:2])}: {result.stderr.strip() or result.stdout.strip()}")
    return json.loads(result.stdout)


def _identical(left: Path, right: Path) -> list[str]:
    """Paths whose content, type, mode or mtime differ between the two trees."""
    differences = []
    for path in sorted(left.rglob("*")):
        relative = path.relative_to(left)
        other = right / relative
        if path.is_symlink():
            if not other.is_symlink() or os.readlink(path) != os.readlink(other):
                differences.append(str(relative))
            continue
        if not other.exists():
            differences.append(str(relative))
            continue
        a, b = path.lstat(), other.lstat()
        if (a.st_mode, a.st_mtime_ns if path.is_file() else 0) != (b.st_mode, b.st_mtime_ns if path.is_file() else 0):
            differences.append(str(relative))
        elif path.is_file() and not filecmp.cmp(path, other, shallow=False):
            differences.append(str(relative))
    return differences


def main() -> int:
    stack = Stack()
    # Only these are the demo's to stop: a service someone else started keeps running.
    started_here = [name for name, pid in stack.status().items() if pid is None]
    print("starting the local stack (Azurite x2, Cosmos DB API server, Functions host)...", flush=True)
    try:
        stack_env = stack.up()
        with tempfile.TemporaryDirectory(prefix="backup-demo-") as scratch:
            scratch_path = Path(scratch)
            env = {
                **os.environ,
                "BACKUP_API_URL": stack_env["BACKUP_API_URL"],
                "BACKUP_ADMIN_KEY": stack_env["BACKUP_ADMIN_KEY"],
                "BACKUP_AGENT_HOME": str(scratch_path / "agent-home"),
                "BACKUP_AGENT_PASSPHRASE": "demo passphrase " + secrets.token_hex(8),
            }
            source, target = scratch_path / "sample", scratch_path / "restored"
            source.mkdir()
            _sample_tree(source)
            credentials = scratch_path / "vault-credentials.json"
            vault = _run(env, "backup-admin", "vault", "create", f"demo-{secrets.token_hex(4)}",
                         "--redundancy", "GRS", "--out", str(credentials))
            print(f"vault {vault['name']} created ({vault['redundancy']})")
            machine = _run(env, "backup-agent", "register", "--vault-credentials", str(credentials), "--name", "demo-machine")
            print(f"machine registered as {machine.get('instance_id', machine)}")
            started = time.monotonic()
            backup = _run(env, "backup-agent", "backup", str(source))
            print(f"backup: recovery point {backup['recovery_point_id']}, {backup['files_new']} new files, "
                  f"{backup['bytes_read']} bytes read, {backup['bytes_uploaded']} bytes uploaded "
                  f"in {backup['seconds']:.1f}s")
            listing = _run(env, "backup-agent", "list")
            assert any(rp["id"] == backup["recovery_point_id"] for rp in listing), "recovery point not listed"
            print(f"list: {len(listing)} recovery point(s); newest is {listing[0]['id']} ({listing[0]['state']})")
            _run(env, "backup-agent", "restore", backup["recovery_point_id"], "--target", str(target))
            # Like restic, a recovery point keeps absolute paths: /x/sample comes back as <target>/x/sample.
            restored_root = target / source.relative_to(source.anchor)
            differences = _identical(source, restored_root)
            if differences:
                print(f"demo FAILED: {len(differences)} restored paths differ: {differences[:5]}", file=sys.stderr)
                return 1
            files = sum(1 for _ in source.rglob("*"))
            print(f"restore: {files} paths restored bit-identical with modes, mtimes and links "
                  f"({time.monotonic() - started:.1f}s for backup, list and restore)")
            print("demo OK: the restored data matched")
            return 0
    finally:
        if started_here:
            print(f"stopping what the demo started: {', '.join(started_here)}...", flush=True)
            for name in reversed(started_here):
                stack.stop_service(name)


if __name__ == "__main__":
    sys.exit(main())
