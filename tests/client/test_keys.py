"""Tests of the key blob: passphrase rules, wrap/unwrap, wrong passphrase, damage, and a golden KDF vector."""

from __future__ import annotations

import json

import pytest

from agent_client import keys
from agent_client.errors import IntegrityError, UsageError, WrongPassphraseError
from agent_client.keys import MasterKeys, new_key_id, unwrap_master_keys, wrap_master_keys

PASSPHRASE = "a passphrase long enough"


def test_wrap_then_unwrap_gives_the_same_master_keys():
    master_keys, key_id = MasterKeys.generate(), new_key_id()
    blob = wrap_master_keys(master_keys, PASSPHRASE, key_id)
    assert unwrap_master_keys(blob, PASSPHRASE, key_id) == master_keys
    assert master_keys.data_key.hex() not in blob.decode() and PASSPHRASE not in blob.decode()


def test_key_blob_records_the_kdf_and_aead():
    document = json.loads(wrap_master_keys(MasterKeys.generate(), PASSPHRASE, new_key_id()))
    assert document["version"] == 1 and document["aead"] == "aes-256-gcm"
    kdf = document["kdf"]
    assert kdf["name"] == "scrypt" and (kdf["n"], kdf["r"], kdf["p"]) == (keys.SCRYPT_N, keys.SCRYPT_R, keys.SCRYPT_P)


def test_production_scrypt_parameters_meet_the_owasp_minimum(monkeypatch):
    """OWASP's equivalent scrypt minimums do the work of N=2^17, r=8, p=1 with at least 64 MiB."""
    monkeypatch.undo()  # the production values, not the cheap ones unit tests use
    assert keys.SCRYPT_N * keys.SCRYPT_R * keys.SCRYPT_P >= (1 << 17) * 8
    assert 128 * keys.SCRYPT_N * keys.SCRYPT_R >= 64 << 20
    assert keys.SCRYPT_R == 8


def test_short_passphrase_is_refused_clearly():
    with pytest.raises(UsageError, match="at least 16 characters"):
        wrap_master_keys(MasterKeys.generate(), "too short", new_key_id())


def test_wrong_passphrase_says_so():
    key_id = new_key_id()
    blob = wrap_master_keys(MasterKeys.generate(), PASSPHRASE, key_id)
    with pytest.raises(WrongPassphraseError, match="wrong passphrase"):
        unwrap_master_keys(blob, PASSPHRASE + "!", key_id)
    with pytest.raises(WrongPassphraseError, match="wrong passphrase"):
        unwrap_master_keys(blob, "short", key_id)


def test_key_blob_is_bound_to_its_name():
    blob = wrap_master_keys(MasterKeys.generate(), PASSPHRASE, new_key_id())
    with pytest.raises(WrongPassphraseError):
        unwrap_master_keys(blob, PASSPHRASE, new_key_id())


def test_damaged_or_hostile_key_blobs_are_integrity_errors():
    key_id = new_key_id()
    document = json.loads(wrap_master_keys(MasterKeys.generate(), PASSPHRASE, key_id))
    with pytest.raises(IntegrityError):
        unwrap_master_keys(b"not json", PASSPHRASE, key_id)
    document["kdf"]["n"] = 1 << 30  # would demand 1 TiB of memory
    with pytest.raises(IntegrityError):
        unwrap_master_keys(json.dumps(document).encode(), PASSPHRASE, key_id)


def test_golden_key_blob_opens(monkeypatch):
    golden = json.loads((__import__("pathlib").Path(__file__).parent / "golden" / "key_blob.json").read_text())
    master_keys = unwrap_master_keys(json.dumps(golden["blob"]).encode(), golden["passphrase"], golden["key_id"])
    assert master_keys.data_key.hex() == golden["data_key"]
    assert master_keys.chunk_id_key.hex() == golden["chunk_id_key"]


@pytest.mark.parametrize("n, r, p", [(1 << 20, 16, 4), (1 << 18, 8, 1), (1 << 16, 8, 8), (1 << 17, 16, 1), (1 << 13, 8, 2)])
def test_a_key_blob_demanding_costly_or_weak_scrypt_is_refused_before_any_work(n, r, p):
    """Finding 6: a hostile key blob could demand 2 GiB and ~100 s per unlock (N=2^20, r=16, p=4)."""
    import time

    key_id = new_key_id()
    document = json.loads(wrap_master_keys(MasterKeys.generate(), PASSPHRASE, key_id))
    document["kdf"].update(n=n, r=r, p=p)
    started = time.monotonic()
    with pytest.raises(IntegrityError, match="damaged or of an unknown version"):
        unwrap_master_keys(json.dumps(document).encode(), PASSPHRASE, key_id)
    assert time.monotonic() - started < 0.5


def test_scrypt_bounds_admit_the_production_setting_and_twice_its_cost(monkeypatch):
    monkeypatch.undo()
    assert keys.acceptable_scrypt(keys.SCRYPT_N, keys.SCRYPT_R, keys.SCRYPT_P)
    assert keys.acceptable_scrypt(keys.SCRYPT_N * 2, keys.SCRYPT_R, keys.SCRYPT_P)  # 128 MiB, twice the work
    assert not keys.acceptable_scrypt(keys.SCRYPT_N * 4, keys.SCRYPT_R, keys.SCRYPT_P)


def test_the_key_proof_is_stable_per_master_keys_and_reveals_neither_key():
    master_keys = MasterKeys.generate()
    proof = keys.key_proof(master_keys)
    assert proof == keys.key_proof(master_keys) != keys.key_proof(MasterKeys.generate())
    assert len(bytes.fromhex(proof)) == 32
    assert master_keys.data_key.hex() not in proof and master_keys.chunk_id_key.hex() not in proof
