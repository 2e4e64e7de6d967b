"""`python -m bench.dataset DIR [--size 1G | --small-files N | --mutate [--round R]] [--seed S]`: prints a JSON summary."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.dataset.mixed import create_mixed
from bench.dataset.mutation import EmptyTreeError, mutate
from bench.dataset.sizes import parse_size
from bench.dataset.small_files import create_small_files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dataset", description=__doc__)
    parser.add_argument("dir", type=Path)
    parser.add_argument("--size", default="1G", help="total size of the mixed dataset, e.g. 1G or 256M (default 1G)")
    parser.add_argument("--seed", default="42", help="any string; the same seed gives the same bytes")
    parser.add_argument("--small-files", type=int, metavar="N", help="write N small text files instead")
    parser.add_argument("--mutate", action="store_true", help="change an existing tree by about 1%%")
    parser.add_argument("--round", type=int, default=1, help="which mutation round (default 1)")
    parser.add_argument("--force", action="store_true", help="create even if DIR is not empty")
    args = parser.parse_args(argv)
    try:
        summary = _run(args)
    except (ValueError, OSError) as error:
        print(f"bench.dataset: {error}", file=sys.stderr)
        return 2
    json.dump(summary, sys.stdout, indent=1)
    print()
    return 0


def _run(args: argparse.Namespace) -> dict:
    if args.mutate:
        if not args.dir.is_dir():
            raise EmptyTreeError(f"{args.dir} is not a folder to mutate")
        return mutate(args.dir, args.seed, args.round)
    if args.dir.exists() and any(args.dir.iterdir()) and not args.force:
        raise ValueError(f"{args.dir} is not empty (pass --force to write into it)")
    if args.small_files is not None:
        return create_small_files(args.dir, args.small_files, args.seed)
    return create_mixed(args.dir, parse_size(args.size), args.seed)


if __name__ == "__main__":
    sys.exit(main())
