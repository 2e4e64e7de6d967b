"""Parses every Terraform or Bicep file under a folder and exits non-zero on the first one that fails.

Run by infra/check.sh: Terraform with upstream python-hcl2 (the parser tests/infra/ uses), Bicep
with pycep, the parser checkov itself uses (checkov only logs a file it cannot parse and goes on).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def parse_terraform(path: Path) -> int:
    import hcl2

    document = hcl2.loads(path.read_text(encoding="utf-8"))
    return sum(len(block) for entry in document.get("resource", []) for block in entry.values())


def parse_bicep(path: Path) -> int:
    from pycep import BicepParser

    document = BicepParser().parse(text=path.read_text(encoding="utf-8"))
    return len(document.get("resources") or {})


PARSERS = {"terraform": ("*.tf", parse_terraform), "bicep": ("*.bicep", parse_bicep)}


def main(argv: list[str] | None = None) -> int:
    arguments = argparse.ArgumentParser(description=__doc__)
    arguments.add_argument("language", choices=sorted(PARSERS))
    arguments.add_argument("folder", type=Path)
    options = arguments.parse_args(argv)
    pattern, parse = PARSERS[options.language]
    files = sorted(options.folder.rglob(pattern))
    if not files:
        print(f"parse: no {pattern} file under {options.folder}", file=sys.stderr)
        return 1
    resources = 0
    for path in files:
        try:
            resources += parse(path)
        except Exception as exc:  # noqa: BLE001 - any parser error fails the check, named
            print(f"parse: {path}: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    if resources == 0:
        print(f"parse: no resource declared under {options.folder}", file=sys.stderr)
        return 1
    print(f"parse: {options.language}: {len(files)} files, {resources} resource declarations, no error")
    return 0


if __name__ == "__main__":
    sys.exit(main())
