"""Tests of the snapshot document: round trip, binding to its recovery point, and damage detection."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_client.errors import IntegrityError
from agent_client.keys import MasterKeys
from agent_client.snapshot_doc import SnapshotDocument, open_snapshot, seal_snapshot

KEYS = MasterKeys.generate()
RP = "ab" * 16


def _document(recovery_point_id: str = RP) -> SnapshotDocument:
    return SnapshotDocument(recovery_point_id, "cd" * 16, "host", "2026-01-01T00:00:00+00:00", ["/data"],
                            ["ee" * 32], 10, 1234, {"files": 3})


def test_round_trip():
    assert open_snapshot(seal_snapshot(_document(), KEYS), KEYS, RP) == _document()


def test_a_snapshot_cannot_pass_for_another_recovery_point():
    with pytest.raises(IntegrityError, match="damaged"):
        open_snapshot(seal_snapshot(_document(), KEYS), KEYS, "12" * 16)


def test_another_vaults_keys_cannot_open_it():
    with pytest.raises(IntegrityError):
        open_snapshot(seal_snapshot(_document(), KEYS), MasterKeys.generate(), RP)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_any_flipped_byte_is_detected(data):
    blob = bytearray(seal_snapshot(_document(), KEYS))
    blob[data.draw(st.integers(0, len(blob) - 1))] ^= data.draw(st.integers(1, 255))
    with pytest.raises(IntegrityError) as caught:
        open_snapshot(bytes(blob), KEYS, RP)
    assert caught.value.damaged_paths == [f"snapshots/{RP}"]
