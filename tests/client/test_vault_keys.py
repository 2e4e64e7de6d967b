"""The vault key's life: created on first backup, shared by machines, re-wrapped by a passphrase change."""

from __future__ import annotations

import pytest

from agent_client.backup_run import BackupRequest, run_backup
from agent_client.errors import UsageError, WrongPassphraseError
from agent_client.passphrases import Passphrases
from agent_client.restore_run import run_restore
from agent_client.vault_keys import change_passphrase, open_backup_keys

from .conftest import PASSPHRASE

NEW_PASSPHRASE = "an entirely new passphrase"


def test_first_backup_creates_one_key_blob_and_registers_it(make_context, fake_service, tmp_path):
    (tmp_path / "f").write_text("x")
    run_backup(make_context(), BackupRequest(sources=[str(tmp_path / "f")]))
    key_blobs = [name for name in fake_service.vault_blobs.blobs if name.startswith("keys/")]
    assert key_blobs == [f"keys/{fake_service.key_id}"]
    assert PASSPHRASE.encode() not in fake_service.vault_blobs.blobs[key_blobs[0]]


def test_a_machine_losing_the_first_key_race_uses_the_winners_key(make_context, fake_service):
    context = make_context("loser")
    session = context.api.open_backup_session()  # opened before the winner set its key
    winner = make_context("winner").open_backup()
    opened = open_backup_keys(context.api, session, context.make_blobs, context.passphrases)
    assert opened.key_id == winner.key_id == fake_service.key_id
    assert opened.master_keys == winner.master_keys


def test_passphrase_change_rewraps_without_moving_data(make_context, fake_service, tmp_path):
    (tmp_path / "f").write_text("precious")
    context = make_context()
    report = run_backup(context, BackupRequest(sources=[str(tmp_path / "f")]))
    old_key_id = fake_service.key_id
    packs_before = {name for name in fake_service.vault_blobs.blobs if name.startswith("packs/")}
    context.passphrases = Passphrases({"BACKUP_AGENT_PASSPHRASE": PASSPHRASE,
                                       "BACKUP_AGENT_NEW_PASSPHRASE": NEW_PASSPHRASE}, interactive=False)
    new_key_id = change_passphrase(context.api, context.make_blobs, context.passphrases)
    assert fake_service.key_id == new_key_id != old_key_id
    assert {name for name in fake_service.vault_blobs.blobs if name.startswith("packs/")} == packs_before
    run_restore(make_context(passphrase=NEW_PASSPHRASE), report.recovery_point_id, str(tmp_path / "new"), [])
    assert (tmp_path / "new" / str(tmp_path / "f").lstrip("/")).read_text() == "precious"
    # The old key is kept while points name it (the service cannot tell a new key from garbage),
    # so the point made before the change still opens with the old passphrase; later ones do not.
    run_restore(make_context(passphrase=PASSPHRASE), report.recovery_point_id, str(tmp_path / "old"), [])
    later = run_backup(make_context(passphrase=NEW_PASSPHRASE), BackupRequest(sources=[str(tmp_path / "f")]))
    with pytest.raises(WrongPassphraseError):
        run_restore(make_context(passphrase=PASSPHRASE), later.recovery_point_id, str(tmp_path / "later"), [])


def test_new_passphrase_must_be_long_enough(make_context, tmp_path):
    (tmp_path / "f").write_text("x")
    context = make_context()
    run_backup(context, BackupRequest(sources=[str(tmp_path / "f")]))
    context.passphrases = Passphrases({"BACKUP_AGENT_PASSPHRASE": PASSPHRASE,
                                       "BACKUP_AGENT_NEW_PASSPHRASE": "short"}, interactive=False)
    with pytest.raises(UsageError, match="16 characters"):
        change_passphrase(context.api, context.make_blobs, context.passphrases)


def test_first_backup_refuses_a_short_passphrase(make_context, fake_service, tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(UsageError, match="16 characters"):
        run_backup(make_context(passphrase="too short"), BackupRequest(sources=[str(tmp_path / "f")]))
    assert fake_service.key_id is None


def test_no_passphrase_and_no_terminal_is_a_clear_usage_error():
    with pytest.raises(UsageError, match="BACKUP_AGENT_PASSPHRASE"):
        Passphrases({}, interactive=False).current()
