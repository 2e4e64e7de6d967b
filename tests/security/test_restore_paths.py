"""Row 10: hostile entries in a recovery point never make `restore` write outside its target.

A tampered client (tests/security/malicious_agent.py: the real client with its directory walk
replaced) backs up entries named `../x`, `../../x`, absolute paths, paths with NUL bytes, `.`
components, a symlink followed by a file "inside" it, a hard link whose leader escapes, and paths
that cross symlinks already planted in the target. The real `backup-agent restore` must write
nothing outside the target (an "outside" folder next to it, and the whole test folder, are
compared before and after), restore the harmless entries, and end with a clear result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.agents import vault_with_machine

REPO = Path(__file__).resolve().parents[2]


def _snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every path under folder with its content or link target (what must not change)."""
    found = {}
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in dirs + files:
            path = Path(root) / name
            found[str(path)] = os.readlink(path) if path.is_symlink() else (
                path.read_bytes() if path.is_file() else "dir")
    return found


def _hostile_tree(tmp_path: Path, outside: Path, token: str, rng) -> tuple[list, list[bytes]]:
    """(entries [tree path hex, disk path], the harmless paths that must be restored)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    payload = disk / "payload"
    payload.write_bytes(b"EVIL " + token.encode() + rng.randbytes(100))
    harmless = disk / "harmless"
    harmless.write_bytes(b"harmless " + rng.randbytes(5000))
    directory = disk / "dir"
    directory.mkdir()
    link_out = disk / "link-out"
    link_out.symlink_to(outside)
    hard = disk / "hard"
    os.link(payload, hard)  # nlink 2: the second path becomes a hard link to the first
    absolute = str(outside / f"abs-{token}").encode()
    entries = [
        (b"ok", directory), (b"ok/harmless", harmless),
        (b"..", directory), (f"../escape1-{token}".encode(), payload), (f"../../escape2-{token}".encode(), payload),
        (f"ok/../../escape3-{token}".encode(), payload), (f"ok/./escape4-{token}".encode(), payload),
        (absolute, payload), (b"/" + f"abs2-{token}".encode(), payload),
        (f"ok/nul\x00../../escape5-{token}".encode(), payload), (b"", payload), (b"ok//double", payload),
        (b"ok/link", link_out), (f"ok/link/through-{token}".encode(), payload),
        (f"ok/hl-leader/../../../escape6-{token}".encode(), payload), (b"ok/hl-follower", hard),
        (b"planted", directory), (f"planted/dirlink/file-{token}".encode(), payload),
        (b"planted/filelink", payload),
    ]
    spec = [[path.hex(), str(disk_path)] for path, disk_path in entries]
    return spec, [b"ok/harmless"]


def _plant(target_root: Path, outside: Path, token: str) -> None:
    """Symlinks already in the target, pointing outside, where the tree will write."""
    planted = target_root / "planted"
    planted.mkdir(parents=True)
    (planted / "dirlink").symlink_to(outside)
    (outside / f"victim-{token}").write_bytes(b"must stay")
    (planted / "filelink").symlink_to(outside / f"victim-{token}")


def _check(stack, tmp_path: Path, rng) -> dict:
    token = rng.randbytes(6).hex()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("untouched")
    with vault_with_machine(stack, tmp_path / "vault") as (vault, machine):
        spec, harmless = _hostile_tree(tmp_path, outside, token, rng)
        (tmp_path / "tree.json").write_text(json.dumps(spec))
        env = {**machine.env, "RELIABILITY_EVIL_TREE": str(tmp_path / "tree.json")}
        made = subprocess.run([sys.executable, "-m", "tests.security.malicious_agent", "backup", str(tmp_path / "disk"),
                               "--json"], env=env, cwd=REPO, capture_output=True, timeout=280)
        assert made.returncode == 0, made.stderr.decode()
        rp_id = json.loads(made.stdout)["recovery_point_id"]
        target = tmp_path / "target"
        _plant(target, outside, token)
        before = {path: value for path, value in _snapshot(tmp_path).items() if not path.startswith(str(target) + "/")}
        restore = machine.run("restore", rp_id, "--target", str(target), "--json")
        after = {path: value for path, value in _snapshot(tmp_path).items() if not path.startswith(str(target) + "/")}
        assert after == before, f"restore changed things outside its target: {set(after) ^ set(before)}"
        assert not Path(f"/abs2-{token}").exists() and not Path("/").joinpath(f"escape1-{token}").exists()
        assert (outside / f"victim-{token}").read_bytes() == b"must stay"
        assert "Traceback" not in restore.stderr, restore.stderr
        for path in harmless:
            assert (target / os.fsdecode(path)).read_bytes().startswith(b"harmless ")
        return {"exit": restore.code, "result": restore.stdout[:2000], "stderr": restore.stderr[-500:]}


@pytest.mark.stack
def test_hostile_tree_paths_write_nothing_outside_the_target(stack, tmp_path, rng):
    print(_check(stack, tmp_path, rng))


@pytest.mark.stack
@pytest.mark.soak
@pytest.mark.timeout(3600)
def test_soak_hostile_tree_paths(stack, tmp_path, rng):
    for round_ in range(10):
        folder = tmp_path / f"r{round_}"
        folder.mkdir()
        _check(stack, folder, rng)
