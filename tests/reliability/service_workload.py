"""A seeded day-in-the-life of one GRS vault, driven on the service layer with a hand-moved clock.

Backups that share packs, a restore, a passphrase change (new wrapped key), retention, an operator's
delete and undelete, the purge after the soft-delete days and the garbage collection after the
grace period: every producer of commit, replication and metering messages. After each step the
deliverer runs what was queued. Two runs with the same seed do the same things at the same clock
times, so their final states must be equal whatever the deliverer does to the messages.
"""

from __future__ import annotations

import random

from shared.services import policies, recovery_points, sessions, vault_keys
from shared.services.garbage_collection import collect_garbage
from shared.services.metering import refresh_stored
from shared.services.purge import purge_expired
from shared.services.retention_run import apply_retention
from tests.pipeline.conftest import OPERATOR, VaultFixture
from tests.support.http_backup import synthetic_pack

PROOF = "0f" * 32  # the vault key proof the workload's machine shows (any fixed value: nothing unwraps here)


class SeededVault(VaultFixture):
    """The pipeline tests' vault, with pack bytes drawn from the workload's seed (same names in both runs)."""

    def __init__(self, rt, rng: random.Random) -> None:
        super().__init__(rt, redundancy="GRS")
        self.rng = rng

    def upload_pack(self, chunks: int = 3) -> dict:
        name, data = synthetic_pack(self.rng, chunks=chunks, sealed_size=100)
        self.rt.primary_blobs.put_blob(self.container, name, data)
        return {"name": name, "size": len(data), "chunks": chunks}

    def upload_key(self) -> str:
        key_id = self.rng.randbytes(16).hex()
        self.rt.primary_blobs.put_blob(self.container, f"keys/{key_id}", self.rng.randbytes(200))
        return key_id


def run_workload(rt, clock, seed: int, deliverer, size: int = 6) -> tuple[SeededVault, dict[str, str]]:
    """Runs the workload; returns the vault and the labels of the ids the service issued."""
    rng = random.Random(seed)
    vault = SeededVault(rt, rng)
    names = {vault.instance_id: "instance0"}
    key = vault.key_id = vault.upload_key()
    vault_keys.set_vault_key(rt, vault.machine, vault_keys.VaultKeyRequest(key_id=key, key_proof=PROOF))
    deliverer.drain()
    pool: list[dict] = []
    points: list[str] = []
    for index in range(size):
        if not pool or rng.random() < 0.6:
            pool.append(vault.upload_pack(chunks=rng.randint(1, 4)))
        chosen = rng.sample(pool, k=min(len(pool), rng.randint(1, 3)))
        message = vault.backup(sorted(chosen, key=lambda p: p["name"]))
        names[message.recovery_point_id] = f"rp{index}"
        points.append(message.recovery_point_id)
        sessions.commit_backup_session(rt, vault.machine, message.recovery_point_id,
                                       sessions.CommitRequest(commit_blob=message.commit_blob))
        # Drained before the clock moves: two points cataloged at one instant would tie on `created`,
        # and retention would break the tie by the ids the service issued, which differ between runs.
        deliverer.drain()
        clock.advance(hours=rng.randint(1, 30))

    restored = rng.choice(points)
    opened = sessions.open_restore_session(rt, vault.machine, sessions.RestoreRequest(recovery_point_id=restored))
    names[opened["session_id"]] = "restore0"
    sessions.complete_restore_session(rt, vault.machine, opened["session_id"],
                                      sessions.RestoreComplete(bytes=rng.randint(1, 10**9)))
    new_key = vault.upload_key()
    vault_keys.set_vault_key(rt, vault.machine, vault_keys.VaultKeyRequest(key_id=new_key, previous_key_id=key,
                                                                          key_proof=PROOF))
    deliverer.drain()

    policies.set_policy(rt, OPERATOR, vault.vault_id, policies.PolicyRequest(last=max(2, size // 2)))
    kept = [rp for rp in points if rt.catalog.recovery_points.get(vault.vault_id, rp)["state"] == "committed"]
    expired = [rp for rp in points if rp not in kept]
    recovery_points.soft_delete(rt, OPERATOR, rng.choice(kept[:-1] or kept), vault.vault_id)
    if expired:
        recovery_points.undelete(rt, OPERATOR, rng.choice(expired), vault.vault_id)
    clock.advance(days=15)
    apply_retention(rt, vault.vault)
    purge_expired(rt, vault.vault)
    deliverer.drain()
    clock.advance(hours=49)
    collect_garbage(rt, vault.vault)
    deliverer.drain()
    deliverer.finish()
    # Stored bytes are a snapshot taken by each metering delivery; take the last one at one moment.
    refresh_stored(rt, vault.vault)
    return vault, names
