"""infra/check.sh passes: both templates parse and checkov reports no failed check (offline)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHECK = REPO / "infra" / "check.sh"


def _summarize_scan():
    spec = importlib.util.spec_from_file_location("summarize_scan", REPO / "infra" / "checks" / "summarize_scan.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _report(reason: str) -> dict:
    skipped = {"check_id": "CKV_AZURE_1", "resource": "azurerm_x.y", "file_path": "/x.tf",
               "check_result": {"result": "SKIPPED", "suppress_comment": reason}}
    return {"check_type": "terraform", "results": {"skipped_checks": [skipped]},
            "summary": {"passed": 1, "failed": 0, "skipped": 1, "parsing_errors": 0, "resource_count": 1}}


@pytest.mark.parametrize("reason", ["", "   ", "No comment provided"])
def test_a_suppression_without_a_reason_fails_the_summary(reason):
    lines, clean = _summarize_scan().summarize(_report(reason), "terraform")
    assert not clean
    assert any("UNJUSTIFIED skip CKV_AZURE_1" in line for line in lines)


def test_a_suppression_with_a_reason_is_listed():
    lines, clean = _summarize_scan().summarize(_report("Agents connect from the internet."), "terraform")
    assert clean
    assert "  skipped CKV_AZURE_1 azurerm_x.y: Agents connect from the internet." in lines


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
    # One run for all (each check.sh run scans both templates): a Bicep syntax error, which
    # checkov alone would only log, a Terraform finding whose suppression was removed, and one
    # whose reason was.
    terraform = shutil.copytree(REPO / "infra" / "terraform", tmp_path / "terraform")
    bicep = shutil.copytree(REPO / "infra" / "bicep", tmp_path / "bicep")
    module = bicep / "modules" / "cosmos.bicep"
    module.write_text(module.read_text().replace("param location string", "param location string = = ", 1))
    cosmos = terraform / "cosmos.tf"
    lines = cosmos.read_text().splitlines(keepends=True)
    lines = [line for line in lines if "checkov:skip=CKV_AZURE_101" not in line]
    # ... and a suppression whose reason was dropped.
    unexplained = "#checkov:skip=CKV_AZURE_100"
    lines = [line[: line.index(unexplained) + len(unexplained)] + "\n" if unexplained in line else line
             for line in lines]
    cosmos.write_text("".join(lines))

    result = run_check(terraform, bicep)

    assert result.returncode != 0
    assert "parse: " in result.stderr and "cosmos.bicep" in result.stderr
    assert "FAILED CKV_AZURE_101" in result.stdout
    assert "UNJUSTIFIED skip CKV_AZURE_100" in result.stdout
