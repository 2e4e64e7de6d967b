"""Row 11: a sealed chunk whose zstd frame expands past the maximum chunk size is refused, in bounded memory.

A tampered client (tests/security/malicious_agent.py) backs up a folder in which one file's chunk
is replaced by a bomb: a validly sealed zstd frame of 1 GiB of zeros, its header claiming the real
length, 1 GiB, nothing, or just past the maximum chunk size. `verify` and `restore` must refuse
it as damage (exit 7, naming the file), restore the other files intact, write nothing for the
bombed one, and stay within a bounded peak memory (measured as the child's maximum RSS).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.client.e2e_support import restored
from tests.support.agents import vault_with_machine

REPO = Path(__file__).resolve().parents[2]
VARIANTS = ("small-header", "frame-agrees", "no-content-size", "max-header")
# What a restore of this small folder may use at most, bomb or not (the bomb alone expands to 1 GiB).
MEMORY_BOUND_MIB = 400
MEASURE = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:]); "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024, file=sys.stderr); "
           "sys.exit(done.returncode)")


def _measured(machine, *arguments: str) -> tuple[int, str, int]:
    """Runs backup-agent in a fresh parent, so that the maximum RSS reported is this run's alone."""
    from tests.client.e2e_support import BIN

    done = subprocess.run([sys.executable, "-c", MEASURE, str(BIN / "backup-agent"), *arguments],
                          env=machine.env, capture_output=True, text=True, timeout=280)
    *lines, peak = done.stderr.strip().splitlines() or ["0"]
    return done.returncode, "\n".join(lines), int(peak)


def _check(stack, tmp_path: Path, rng, variant: str) -> dict:
    source = tmp_path / "source"
    source.mkdir(parents=True)
    (source / "bomb.bin").write_bytes(b"BOMB:" + rng.randbytes(3000))
    for index in range(3):
        (source / f"fine{index}.bin").write_bytes(rng.randbytes(20_000))
    with vault_with_machine(stack, tmp_path / "vault") as (vault, machine):
        env = {**machine.env, "RELIABILITY_BOMB": variant}
        made = subprocess.run([sys.executable, "-m", "tests.security.malicious_agent", "backup", str(source), "--json"],
                              env=env, cwd=REPO, capture_output=True, timeout=280)
        assert made.returncode == 0, made.stderr.decode()
        rp_id = json.loads(made.stdout)["recovery_point_id"]
        code, stderr, verify_peak = _measured(machine, "verify", rp_id)
        assert code == 7 and "bomb.bin" in stderr, f"{variant}: verify exited {code}: {stderr}"
        target = tmp_path / "target"
        code, stderr, restore_peak = _measured(machine, "restore", rp_id, "--target", str(target))
        assert code == 7 and "bomb.bin" in stderr, f"{variant}: restore exited {code}: {stderr}"
        root = restored(target, source)
        for index in range(3):
            assert (root / f"fine{index}.bin").read_bytes() == (source / f"fine{index}.bin").read_bytes()
        bombed = root / "bomb.bin"
        assert not bombed.exists() or bombed.read_bytes() == (source / "bomb.bin").read_bytes()
        assert max(verify_peak, restore_peak) < MEMORY_BOUND_MIB, (variant, verify_peak, restore_peak)
        return {"variant": variant, "verify_peak_mib": verify_peak, "restore_peak_mib": restore_peak}


@pytest.mark.stack
def test_a_decompression_bomb_is_refused_in_bounded_memory(stack, tmp_path, rng):
    print(_check(stack, tmp_path, rng, rng.choice(VARIANTS)))


@pytest.mark.stack
@pytest.mark.soak
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("variant", VARIANTS)
def test_soak_every_bomb_variant(stack, tmp_path, rng, variant):
    print(_check(stack, tmp_path, rng, variant))
