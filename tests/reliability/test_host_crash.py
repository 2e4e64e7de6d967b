"""Row 2: the Functions host killed in the middle of each function, then restarted, changes nothing.

A seeded workload (a GRS vault, three backups sharing packs, a key, a retention run that expires and
purges one point) runs once on a host that only counts its writes, then again on a host that kills
itself (SIGKILL) right after a chosen write of each function: the catalog, replication and metering
queue triggers and the retention timer. Each time it dies it is restarted, and the messages it held
come back after their lease. The two vaults must end identical (recovery points, pack documents and
references, usage counters, stored bytes, blobs in both regions), and no valid message may be in
poison.
"""

from __future__ import annotations

import random
import time

import pytest

from shared.services import policies, sessions, vault_keys, vaults
from shared.services.auth import Principal
from tests.reliability.crash_host import LEASE_SECONDS, CrashingHost
from tests.reliability.service_workload import SeededVault
from tests.support.queues import poison_mentioning
from tests.support.runtimes import service_runtime
from tests.support.vault_view import differences, vault_view

PROOF = "0f" * 32  # the vault key proof the workload's machine shows (any fixed value: nothing unwraps here)

OPERATOR = Principal("operator")
FUNCTIONS = ("catalog", "replication", "metering", "retention")
BACKUPS = 3


def _prepare(rt, seed: int) -> SeededVault:
    vault = SeededVault(rt, random.Random(seed))
    vaults.update_vault(rt, OPERATOR, vault.vault_id, vaults.VaultUpdate(soft_delete_days=0))
    vault.key_id = vault.upload_key()
    policies.set_policy(rt, OPERATOR, vault.vault_id, policies.PolicyRequest(last=BACKUPS - 1))
    return vault


def _usage_events(rt, vault_id: str) -> set[str]:
    return {e for doc in rt.catalog.usage.query(vault_id, "c.type = 'day'") for e in doc["applied_events"]}


def _run(rt, vault: SeededVault, host: CrashingHost, retention: bool) -> dict:
    """The workload, on whatever host is running; returns the vault's view once everything settled."""
    names = {vault.instance_id: "instance0"}
    vault_keys.set_vault_key(rt, vault.machine, vault_keys.VaultKeyRequest(key_id=vault.key_id, key_proof=PROOF))
    pool, points = [], []
    for index in range(BACKUPS):
        pool.append(vault.upload_pack(chunks=vault.rng.randint(1, 3)))
        message = vault.backup(vault.rng.sample(pool, k=min(len(pool), 2)))
        rp_id = message.recovery_point_id
        names[rp_id] = f"rp{index}"
        points.append(rp_id)
        sessions.commit_backup_session(rt, vault.machine, rp_id, sessions.CommitRequest(commit_blob=message.commit_blob))

        def settled(rp_id=rp_id):
            rp = rt.catalog.recovery_points.find(vault.vault_id, rp_id)
            return (rp and rp["state"] == "committed" and rp.get("replicated_at")
                    and {f"backup:{rp_id}", f"replicated:{rp_id}"} <= _usage_events(rt, vault.vault_id))

        host.wait(settled, 120, f"backup {index} cataloged, replicated and metered")
    if retention:
        # The timer runs maintenance over every vault of the stack: minutes on a stack that the
        # whole suite has filled, so the bounded run leaves it to the soak version.
        host.invoke("retention")
        oldest = points[0]
        oldest_commit_blob = rt.catalog.recovery_points.get(vault.vault_id, oldest)["commit_blob"]

        def purged():
            rp = rt.catalog.recovery_points.find(vault.vault_id, oldest)
            return (rp["state"] == "purged"
                    and rt.secondary_blobs.blob_size(vault.container, f"snapshots/{oldest}") is None
                    and rt.secondary_blobs.blob_size(vault.container, oldest_commit_blob) is None)

        host.wait(purged, 600, "the expired point purged in both regions")
    if host.crashes():
        # Whatever the dead host still held comes back after its lease: let it, then look.
        time.sleep(LEASE_SECONDS + 2)
        host.supervise()
    return vault_view(rt, vault.vault_id, names, clock_fields=False)


def _check(stack: dict, stack_control, tmp_path, seed: int, functions: tuple[str, ...], plans) -> list:
    """A clean run, then one crash run per plan that plans(writes of the clean run) yields."""
    rt = service_runtime(stack)
    retention = "retention" in functions
    clean_vault = _prepare(rt, seed)
    clean_host = CrashingHost(stack_control, tmp_path, clean_vault.vault_id, {})
    fired = []
    try:
        clean_host.start()
        clean = _run(rt, clean_vault, clean_host, retention)
        writes = clean_host.writes()
        assert set(functions) <= set(writes), f"some function made no write in the clean run: {writes}"
        for plan in plans({f: writes[f] for f in functions}):
            vault = _prepare(rt, seed)
            host = CrashingHost(stack_control, tmp_path, vault.vault_id, plan)
            host.start()
            crashed = _run(rt, vault, host, retention)
            fired.append(host.crashes())
            found = differences(clean, crashed)
            assert not found, f"seed {seed}, crashes {host.crashes()} of plan {plan}: " + "; ".join(found[:8])
            poisoned = poison_mentioning(stack["PRIMARY_STORAGE_CONNECTION_STRING"], vault.vault_id)
            assert not poisoned, f"seed {seed}, crashes {host.crashes()}: valid messages in poison: {poisoned}"
    finally:
        clean_host.restore()
    return fired


@pytest.mark.stack
def test_a_host_killed_inside_each_queue_function_ends_as_a_clean_run(stack, stack_control, tmp_path, rng):
    """One seeded crash position in each queue-triggered function, in one run."""
    functions = ("catalog", "replication", "metering")
    fired = _check(stack, stack_control, tmp_path, rng.randrange(1 << 31), functions,
                   lambda writes: [{f: rng.randint(1, n) for f, n in writes.items()}])
    assert {function for function, _ in fired[0]} == set(functions), f"not every planned crash fired: {fired}"


@pytest.mark.stack
@pytest.mark.soak
@pytest.mark.timeout(4 * 3600)
def test_soak_a_host_killed_after_every_write_of_every_function(stack, stack_control, tmp_path, rng):
    """Every crash position of every function, the retention timer included: run k crashes each
    function right after its k-th write, until k passes the function's last write."""

    def every_position(writes):
        return [{f: k for f, n in writes.items() if k <= n} for k in range(1, max(writes.values()) + 1)]

    fired = _check(stack, stack_control, tmp_path, rng.randrange(1 << 31), FUNCTIONS, every_position)
    assert all(fired), f"a run had no crash: {fired}"
