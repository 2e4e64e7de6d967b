"""Prints the counts of a checkov JSON report and exits non-zero on any failed check, unparsed file or unexplained skip.

Run by infra/check.sh. A skipped check is one suppressed inline in the template
(`#checkov:skip=ID: reason`); each is listed with its reason so a review sees them all, and one
without a reason (empty, or checkov's placeholder for none) fails the scan.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


# What checkov reports as the reason of `#checkov:skip=ID` written without one.
PLACEHOLDER_REASONS = {"", "no comment provided"}


def is_justified(reason: str) -> bool:
    """Whether a suppression's reason says something (not empty, not checkov's placeholder)."""
    return reason.strip().rstrip(".").lower() not in PLACEHOLDER_REASONS


def _reports(document: object) -> list[dict]:
    # checkov writes one object for one framework, a list when several ran.
    return document if isinstance(document, list) else [document]


def summarize(document: object, framework: str) -> tuple[list[str], bool]:
    """Lines to print and whether the scan is clean."""
    lines: list[str] = []
    clean = True
    reports = [report for report in _reports(document) if report.get("check_type") == framework]
    if not reports:
        # checkov prints a bare summary (no "results") when it found nothing to scan.
        return [f"{framework}: checkov scanned nothing"], False
    for report in reports:
        summary = report["summary"]
        results = report["results"]
        lines.append(
            f"{framework}: passed {summary['passed']}, failed {summary['failed']}, "
            f"skipped {summary['skipped']}, parsing errors {summary['parsing_errors']}, "
            f"resources {summary['resource_count']}"
        )
        for check in results.get("failed_checks", []):
            clean = False
            first, last = check.get("file_line_range", [0, 0])
            lines.append(
                f"  FAILED {check['check_id']} {check['resource']} "
                f"{check['file_path']}:{first}-{last} {check['check_name']}"
            )
        for path in results.get("parsing_errors", []):
            clean = False
            lines.append(f"  PARSING ERROR {path}")
        for check in results.get("skipped_checks", []):
            reason = (check.get("check_result") or {}).get("suppress_comment", "")
            if is_justified(reason):
                lines.append(f"  skipped {check['check_id']} {check['resource']}: {reason.strip()}")
            else:
                clean = False
                lines.append(
                    f"  UNJUSTIFIED skip {check['check_id']} {check['resource']} {check.get('file_path', '')}: "
                    f"write the reason on the line (#checkov:skip={check['check_id']}: why)"
                )
        if summary["resource_count"] == 0:
            clean = False
    return lines, clean


def main(argv: list[str]) -> int:
    report_path, framework = Path(argv[1]), argv[2]
    lines, clean = summarize(json.loads(report_path.read_text(encoding="utf-8")), framework)
    print("\n".join(lines))
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
