"""What every command needs, wired once: registration, API, blob factory, passphrases, cache, progress."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from agent_client.config import AgentConfig, agent_home, cache_folder, load_config
from agent_client.pack_builder import DEFAULT_PACK_SIZE
from agent_client.passphrases import Passphrases
from agent_client.ports import ServiceApi, VaultBlobs
from agent_client.progress import NullProgress
from agent_client.retrying_blobs import RetryingBlobs
from agent_client.sas_blobs import SasBlobs, make_pool
from agent_client.service_api import HttpServiceApi
from agent_client.vault_keys import BlobsFactory, OpenedKeys, open_backup_keys

PACK_SIZE_VARIABLE = "BACKUP_AGENT_PACK_SIZE"
COMMIT_TIMEOUT_VARIABLE = "BACKUP_AGENT_COMMIT_TIMEOUT"


@dataclass
class AgentContext:
    """The machine's configuration and ports; tests build one with fakes."""

    config: AgentConfig
    api: ServiceApi
    make_blobs: BlobsFactory
    passphrases: Passphrases
    cache_dir: pathlib.Path
    progress: NullProgress = field(default_factory=NullProgress)
    pack_size: int = DEFAULT_PACK_SIZE
    commit_timeout: float = 300.0

    def open_backup(self) -> OpenedKeys:
        return open_backup_keys(self.api, self.api.open_backup_session(), self.make_blobs, self.passphrases)


def sas_blobs_factory() -> BlobsFactory:
    pool = make_pool()

    def make(container_url: str, sas: str) -> VaultBlobs:
        return RetryingBlobs(SasBlobs(container_url, sas, pool))

    return make


def context_from_environment(environ: Mapping[str, str] | None = None) -> AgentContext:
    environ = os.environ if environ is None else environ
    home = agent_home(environ)
    config = load_config(home)
    return AgentContext(
        config=config,
        api=HttpServiceApi(config.effective_api_url(environ), config.token),
        make_blobs=sas_blobs_factory(),
        passphrases=Passphrases(environ),
        cache_dir=cache_folder(home, config.vault_id),
        pack_size=int(environ.get(PACK_SIZE_VARIABLE) or DEFAULT_PACK_SIZE),
        commit_timeout=float(environ.get(COMMIT_TIMEOUT_VARIABLE) or 300.0),
    )
