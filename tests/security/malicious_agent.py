"""A tampered `backup-agent` whose backups record whatever tree paths it is told: `python -m tests.security.malicious_agent ARGS...`.

RELIABILITY_EVIL_TREE names a JSON file: a list of [tree path as hex, path on disk]. The backup
walks exactly those entries (the disk path gives the kind, metadata, content or link target) in
place of the sources, so the recovery point holds paths the real walker never produces (`..`,
absolute, NUL bytes, files under symlinks, hard links to them). Everything else — chunking,
sealing, packs, snapshot, commit — is the real client's code, so restore sees a well-formed,
authenticated recovery point with hostile contents: what a compromised machine could write.
"""

from __future__ import annotations

import json
import os
import sys

from agent_client import backup_run
from agent_client.file_walker import WalkItem
from agent_client.tree_format import path_key


def _evil_walk(sources, excludes, on_skip):
    with open(os.environ["RELIABILITY_EVIL_TREE"]) as spec:
        items = [(bytes.fromhex(tree_path), os.fsencode(disk_path)) for tree_path, disk_path in json.load(spec)]
    for tree_path, disk_path in sorted(items, key=lambda item: path_key(item[0])):
        yield WalkItem(tree_path, disk_path, os.lstat(disk_path))


backup_run.walk_sources = _evil_walk

if __name__ == "__main__":
    from agent_client.cli import main

    sys.exit(main(sys.argv[1:]))
