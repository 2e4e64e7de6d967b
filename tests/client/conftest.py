"""Fixtures for the client's unit tests: an in-memory vault and service, and contexts bound to them."""

from __future__ import annotations

import pytest

from agent_client.agent_context import AgentContext
from agent_client.config import AgentConfig
from agent_client.passphrases import Passphrases

from .fakes import FakeService

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def fake_service() -> FakeService:
    return FakeService()


@pytest.fixture
def make_context(tmp_path, fake_service):
    """Builds the context of one machine (by name) registered in the fake vault."""
    instances: dict[str, str] = {}

    def make(machine: str = "alpha", passphrase: str = PASSPHRASE, pack_size: int = 1 << 20) -> AgentContext:
        instance_id = instances.setdefault(machine, f"{len(instances) + 1:032x}")
        config = AgentConfig("http://fake", fake_service.vault_id, "vault", instance_id, machine, "bki_token")
        return AgentContext(
            config=config, api=fake_service.api_for(instance_id), make_blobs=fake_service.make_blobs,
            passphrases=Passphrases({"BACKUP_AGENT_PASSPHRASE": passphrase}, interactive=False),
            cache_dir=tmp_path / "cache" / machine, pack_size=pack_size, commit_timeout=5,
        )

    return make


@pytest.fixture(autouse=True)
def cheap_key_derivation(monkeypatch):
    """Unit tests wrap keys with scrypt N=2^15 (the format records N; production uses 2^16 with p=2)."""
    from agent_client import keys

    monkeypatch.setattr(keys, "SCRYPT_N", 1 << 15)


@pytest.fixture
def make_vault(request, tmp_path):
    """Creates vaults on the local stack for one test, and deletes their containers afterwards."""
    from .e2e_support import Vault

    stack = request.getfixturevalue("stack")
    vaults = []

    def make(redundancy: str = "LRS"):
        vaults.append(Vault(stack, tmp_path / f"vault{len(vaults)}", redundancy))
        return vaults[-1]

    yield make
    for vault in vaults:
        vault.delete_containers()
