"""A vault made for one test with a registered `backup-agent` machine, its containers deleted afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.client.e2e_support import Machine, Vault


@contextmanager
def vault_with_machine(stack: dict, folder: Path, pack_size: int | None = None,
                       name: str = "alpha") -> Iterator[tuple[Vault, Machine]]:
    """pack_size: small packs give a backup several uploads (several places to kill or damage)."""
    vault = Vault(stack, folder)
    try:
        machine = vault.machine(name)
        if pack_size:
            machine.env["BACKUP_AGENT_PACK_SIZE"] = str(pack_size)
        yield vault, machine
    finally:
        vault.delete_containers()
