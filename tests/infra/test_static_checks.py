"""infra/check.sh passes: both templates parse and checkov reports no failed check (offline)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHECK = REPO / "infra" / "check.sh"


def run_check(*folders: Path) -> subprocess.CompletedProcess:
    # The first run builds .scanvenv/ from PyPI (about a minute); later runs take seconds.
    return subprocess.run(
        ["bash", str(CHECK), *map(str, folders)],
        cwd=REPO, capture_output=True, text=True, timeout=900, check=False,
    )


def test_templates_parse_and_scan_clean():
    result = run_check()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "terraform: passed" in result.stdout and "bicep: passed" in result.stdout
    assert "failed 0" in result.stdout


def test_a_parse_error_or_an_unsuppressed_finding_fails_the_check(tmp_path):
    # One run for both (each check.sh run scans both templates): a Bicep syntax error, which
    # checkov alone would only log, and a Terraform finding whose suppression was removed.
    terraform = shutil.copytree(REPO / "infra" / "terraform", tmp_path / "terraform")
    bicep = shutil.copytree(REPO / "infra" / "bicep", tmp_path / "bicep")
    module = bicep / "modules" / "cosmos.bicep"
    module.write_text(module.read_text().replace("param location string", "param location string = = ", 1))
    cosmos = terraform / "cosmos.tf"
    lines = cosmos.read_text().splitlines(keepends=True)
    cosmos.write_text("".join(line for line in lines if "checkov:skip=CKV_AZURE_101" not in line))

    result = run_check(terraform, bicep)

    assert result.returncode != 0
    assert "parse: " in result.stderr and "cosmos.bicep" in result.stderr
    assert "FAILED CKV_AZURE_101" in result.stdout
