"""Row 4: malformed, non-base64, unknown-version and oversized messages end in poison, and write nothing.

Each message goes onto the stack's real queue, exactly as given on the wire. The host must try it
maxDequeueCount (5) times, log the reason each time, then move it, unchanged, to `<queue>-poison`.
Messages that name a real vault, session or recovery point must not have written anything: no
recovery point, no pack or reference document, no usage document, no blob in the paired region.
"""

from __future__ import annotations

import base64
import json

import pytest

from shared.domain.messages import CommitMessage, ReplicationMessage, UsageEvent, decode
from shared.services.catalog import catalog_commit
from tests.pipeline.conftest import VaultFixture
from tests.support.http_backup import wait_until
from tests.support.queues import all_messages, delete_matching, failed_attempts, moved_to_poison, send_wire
from tests.support.runtimes import private_queues, service_runtime

MAX_DEQUEUE_COUNT = 5
MAX_WIRE_CHARS = 65536  # the largest message text the queue service accepts
MAX_BODY_BYTES = 48 * 1024
MODELS = (CommitMessage, ReplicationMessage, UsageEvent)


def _b64(body: bytes | str) -> str:
    return base64.b64encode(body.encode() if isinstance(body, str) else body).decode()


def _padded(payload: dict, size: int) -> bytes:
    """The payload with a padding field that makes its JSON exactly size bytes."""
    body = json.dumps({**payload, "padding": ""}).encode()
    return json.dumps({**payload, "padding": "x" * (size - len(body))}).encode()


def _cases(commit: dict, replication: dict, usage: dict) -> list[tuple[str, str, str, str]]:
    """(queue, case, wire text, reason the host must log)."""
    cases = []
    for queue, valid in (("commits", commit), ("replication", replication), ("metering", usage)):
        cases += [
            (queue, "not base64", "this is not base64 at all!", "not valid base64"),
            (queue, "not base64, largest wire text", "*" * MAX_WIRE_CHARS, "not valid base64"),
            (queue, "base64 of bytes that are not JSON", _b64(bytes(range(256))), "not JSON"),
            (queue, "JSON that is not an object", _b64("[1, 2, 3]"), "not a JSON object"),
            (queue, "unknown version", _b64(json.dumps({**valid, "version": 2})), "unknown message version 2"),
            (queue, "no version", _b64(json.dumps({k: v for k, v in valid.items() if k != "version"})),
             "unknown message version None"),
            (queue, "unknown field", _b64(json.dumps({**valid, "surprise": 1})), "Extra inputs are not permitted"),
            (queue, "bad vault id", _b64(json.dumps({**valid, "vault_id": "../" + "a" * 29})), "vault_id"),
            (queue, "largest body, padded", _b64(_padded(valid, MAX_BODY_BYTES)), "Extra inputs are not permitted"),
        ]
    too_many = {**replication, "recovery_point_id": None, "blobs": [f"packs/{i:064x}" for i in range(401)]}
    cases.append(("replication", "over 400 blobs", _b64(json.dumps(too_many)), "at most 400"))
    cases.append(("commits", "JSON nested 48 K deep", _b64("[" * MAX_BODY_BYTES), ""))
    return cases


def _still_valid(model, text: str) -> bool:
    try:
        decode(model, base64.b64decode(text, validate=True))
    except Exception:  # noqa: BLE001 - any failure makes it a malformed message
        return False
    return True


def _mutations(rng, model, valid: dict, count: int) -> list[tuple[str, str]]:
    """Seeded ways of breaking a valid message (those that happen to stay valid are skipped)."""
    junk = [None, 0, -1, 2**70, 1.5, "", "x" * 5000, [], {}, {"a": [1, {"b": None}]}, "\u0000", True]
    out = []
    while len(out) < count:
        body = dict(valid)
        kind = rng.choice(["drop", "retype", "extra", "truncate", "flip", "garbage"])
        field = rng.choice(sorted(body))
        if kind == "drop" and field != "recovery_point_id":
            del body[field]
            text = _b64(json.dumps(body))
        elif kind == "retype" and field not in ("recovery_point_id", "instance_id"):
            body[field] = rng.choice([j for j in junk if j != body[field]])
            text = _b64(json.dumps(body))
        elif kind == "extra":
            body[f"x{rng.randrange(10**6)}"] = rng.choice(junk)
            text = _b64(json.dumps(body))
        elif kind == "truncate":
            raw = json.dumps(body).encode()
            text = _b64(raw[: rng.randrange(1, len(raw) - 1)])
        elif kind == "flip":
            raw = bytearray(_b64(json.dumps(body)).encode())
            raw[rng.randrange(len(raw))] = rng.choice(b"!#%&()*,-.:;<>?@[]^_{|}~ ")
            text = raw.decode()
        elif kind == "garbage":
            text = _b64(rng.randbytes(rng.randrange(1, 2000)))
        else:
            continue
        if not _still_valid(model, text):
            out.append((f"{kind} {field}", text))
    return out


def _setup(stack):
    connection = stack["PRIMARY_STORAGE_CONNECTION_STRING"]
    # Produced on queues nobody consumes, so that only the malformed copies reach the host.
    rt = service_runtime(stack, **private_queues())
    vault = VaultFixture(rt, redundancy="GRS")
    committed = vault.backup([vault.upload_pack()])
    catalog_commit(rt, committed)
    uncataloged = vault.backup([vault.upload_pack()])
    replication = json.loads(all_messages(connection, rt.settings.replication_queue)[0].body)
    usage = json.loads(all_messages(connection, rt.settings.metering_queue)[0].body)
    commit = json.loads(uncataloged.model_dump_json())
    cases = _cases(commit, replication, usage)
    # A well-formed commit whose manifest is over the catalog's 64 MiB limit: rejected, never read.
    oversized = vault.backup([vault.upload_pack()], upload_manifest=False)
    rt.primary_blobs.put_blob(vault.container, oversized.commit_blob, b" " * ((64 << 20) + 1))
    cases.append(("commits", "manifest over 64 MiB", _b64(oversized.model_dump_json()), "larger than 67108864"))
    return rt, vault, committed, oversized, (commit, replication, usage), cases


def _check(stack, host_log, rt, vault, committed, oversized, cases) -> None:
    connection = stack["PRIMARY_STORAGE_CONNECTION_STRING"]
    sent = [(queue, case, text, reason, send_wire(connection, queue, text)) for queue, case, text, reason in cases]
    wait_until(lambda: all(moved_to_poison(host_log, message_id) for *_, message_id in sent), 180,
               "every malformed message moved to poison")

    function = {"commits": "catalog", "replication": "replication", "metering": "metering"}
    poison = {queue: {m.text for m in all_messages(connection, f"{queue}-poison")} for queue in function}
    for queue, case, text, reason, message_id in sent:
        attempts = failed_attempts(host_log, function[queue], message_id)
        assert [count for count, _ in attempts] == list(range(1, MAX_DEQUEUE_COUNT + 1)), (case, attempts)
        assert all(reason in logged and logged for _, logged in attempts), f"{queue}/{case}: logged {attempts[0][1]!r}"
        assert text in poison[queue], f"{queue}/{case} is not in {queue}-poison unchanged"
    # Checked: out of the way of the operator's listing (it shows the first 32 of each queue).
    for queue in function:
        delete_matching(connection, f"{queue}-poison", {text for q, _, text, _, _ in sent if q == queue})

    # Nothing was written for any of them.
    points = {rp["id"]: rp for rp in rt.catalog.recovery_points.query(vault.vault_id, "c.type = 'recovery_point'")}
    assert set(points) == {committed.recovery_point_id, oversized.recovery_point_id}
    assert points[oversized.recovery_point_id]["state"] == "rejected"
    assert "larger than" in points[oversized.recovery_point_id]["rejected_reason"]
    refs = {doc["recovery_point_id"] for doc in rt.catalog.packs.query(vault.vault_id, "c.type = 'ref'")}
    assert refs == {committed.recovery_point_id}
    assert list(rt.catalog.usage.query(vault.vault_id)) == []
    assert list(rt.secondary_blobs.list_blobs(vault.container)) == []
    assert rt.catalog.recovery_points.get(vault.vault_id, committed.recovery_point_id).get("replicated_at") is None


@pytest.mark.stack
def test_malformed_messages_end_in_poison_with_their_reason_and_write_nothing(stack, host_log):
    rt, vault, committed, oversized, _, cases = _setup(stack)
    _check(stack, host_log, rt, vault, committed, oversized, cases)


@pytest.mark.stack
@pytest.mark.soak
@pytest.mark.timeout(3600)
def test_soak_seeded_mutations_of_valid_messages_end_in_poison(stack, host_log, rng):
    rt, vault, committed, oversized, valid, cases = _setup(stack)
    for queue, model, body in zip(("commits", "replication", "metering"), MODELS, valid):
        cases += [(queue, case, text, "") for case, text in _mutations(rng, model, body, 60)]
    _check(stack, host_log, rt, vault, committed, oversized, cases)
