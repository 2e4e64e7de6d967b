"""Fixtures for service tests on the local stack: Runtimes, vaults, and recovery points as the catalog leaves them."""

from __future__ import annotations

import hashlib
import secrets
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest

from shared.domain import credentials
from shared.runtime import Runtime
from shared.services import pack_refs, vaults
from shared.services.auth import Principal
from shared.settings import load_settings

OPERATOR = Principal("operator")
TODAY = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)  # every test starts at this instant


class Clock:
    """A clock moved by hand, so that lags and days are exact."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(scope="module")
def runtime_factory(stack):
    """Builds a Runtime on the stack with the given clock; `secondary` replaces the paired region."""
    # A metering queue of the module's own, so the stack's functions host does not consume what
    # the tests inspect.
    metering_queue = f"t-metering-{secrets.token_hex(4)}"

    def build(clock: Clock, secondary: str | None = None, **settings: str) -> Runtime:
        env = {
            "PRIMARY_STORAGE": stack["PRIMARY_STORAGE_CONNECTION_STRING"],
            "SECONDARY_STORAGE": secondary or stack["SECONDARY_STORAGE_CONNECTION_STRING"],
            "COSMOS_ENDPOINT": stack["COSMOS_ENDPOINT"], "COSMOS_KEY": stack["COSMOS_KEY"],
            "METERING_QUEUE": metering_queue, **settings,
        }
        rt = Runtime.from_settings(load_settings(env))
        rt.clock = clock
        rt.queues.ensure_queue(metering_queue)
        return rt

    return build


@pytest.fixture
def clock() -> Clock:
    return Clock(TODAY)


@pytest.fixture
def make_runtime(runtime_factory, clock):
    return lambda secondary=None, **settings: runtime_factory(clock, secondary, **settings)


@pytest.fixture
def cut_off_runtime(stack, make_runtime) -> Runtime:
    """A Runtime whose paired region is a loopback port nobody listens on: a region outage."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    account = dict(part.split("=", 1) for part in stack["SECONDARY_STORAGE_CONNECTION_STRING"].split(";") if part)
    rt = make_runtime(secondary=(
        f"DefaultEndpointsProtocol=http;AccountName={account['AccountName']};AccountKey={account['AccountKey']};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{account['AccountName']};"
    ))
    # The adapter keeps the SDK's production backoff (15 s, 18 s, 24 s: about 80 s a call against a
    # dead endpoint). The same retries without the pauses keep the test fast.
    retry = rt.secondary_blobs._service._config.retry_policy
    retry.initial_backoff = retry.increment_base = retry.random_jitter_range = 0
    return rt


@pytest.fixture
def runtime(make_runtime) -> Runtime:
    return make_runtime()


@dataclass
class StoredPoint:
    """A committed recovery point and the bytes of every blob it wrote."""

    id: str
    instance_id: str
    blobs: dict[str, bytes] = field(default_factory=dict)


class TestVault:
    """A vault whose blobs and catalog documents the test writes directly, as client and catalog would."""

    __test__ = False  # not a test class

    def __init__(self, rt: Runtime, redundancy: str) -> None:
        self.rt = rt
        name = f"t-{secrets.token_hex(6)}"
        self.vault_id = vaults.create_vault(rt, OPERATOR, vaults.VaultCreate(name=name, redundancy=redundancy))["vault_id"]
        self.name = name
        self.container = vaults.container_name(self.vault_id)
        self.key_id = credentials.new_id()
        key_blob = f"keys/{self.key_id}"
        rt.primary_blobs.put_blob(self.container, key_blob, b'{"wrapped": "' + secrets.token_hex(64).encode() + b'"}')
        vault = rt.catalog.vaults.get(self.vault_id, self.vault_id)
        rt.catalog.vaults.replace({**vault, "key_id": self.key_id}, vault["_etag"])

    def put(self, name: str, data: bytes) -> None:
        self.rt.primary_blobs.put_blob(self.container, name, data, overwrite=True)

    def pack(self, size: int = 4096) -> tuple[str, bytes]:
        data = secrets.token_bytes(size)
        return hashlib.sha256(data).hexdigest(), data

    def committed_point(self, packs: list[tuple[str, bytes]], *, instance_id: str | None = None,
                        created: datetime | None = None, front_end_bytes: int = 1000,
                        snapshot_size: int = 300, state: str = "committed") -> StoredPoint:
        """Writes packs, snapshot and commit blobs, then the pack, reference and recovery point documents."""
        rt, rp_id = self.rt, credentials.new_id()
        point = StoredPoint(rp_id, instance_id or credentials.new_id())
        for pack, data in packs:
            self.put(f"packs/{pack}", data)
            point.blobs[f"packs/{pack}"] = data
            if rt.catalog.packs.find(self.vault_id, pack) is None:
                rt.catalog.packs.create({"id": pack, "vault_id": self.vault_id, "type": "pack", "size": len(data),
                                         "state": "live", "condemned_at": None})
        pack_refs.add_refs(rt, self.vault_id, rp_id, [pack for pack, _ in packs])
        for name, data in ((f"snapshots/{rp_id}", secrets.token_bytes(snapshot_size)),
                           (f"commits/{rp_id}", b'{"version": 1}')):
            self.put(name, data)
            point.blobs[name] = data
        rt.catalog.recovery_points.create({
            "id": rp_id, "vault_id": self.vault_id, "type": "recovery_point", "instance_id": point.instance_id,
            "state": state, "created": (created or rt.clock()).isoformat(),
            "summary": {"bytes": front_end_bytes, "files": 1}, "key_id": self.key_id,
            "snapshot": {"name": f"snapshots/{rp_id}", "size": snapshot_size}, "commit_blob": f"commits/{rp_id}",
            "stored_bytes": sum(len(d) for _, d in packs) + snapshot_size,
        })
        return point

    def recovery_point(self, rp_id: str) -> dict:
        return self.rt.catalog.recovery_points.get(self.vault_id, rp_id)


@pytest.fixture
def make_vault(make_runtime):
    """Builds a vault of the given redundancy, each with a Runtime of its own."""
    return lambda redundancy="LRS": TestVault(make_runtime(), redundancy)


@pytest.fixture(scope="module")
def make_module_vault(runtime_factory):
    """Builds a vault shared by a module's tests, which must leave it and their clock unchanged."""
    return lambda redundancy="LRS": TestVault(runtime_factory(Clock(TODAY)), redundancy)


@pytest.fixture
def grs_vault(make_vault) -> TestVault:
    return make_vault("GRS")


@pytest.fixture
def lrs_vault(make_vault) -> TestVault:
    return make_vault("LRS")
