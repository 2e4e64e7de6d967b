"""The machine's registration file: private, complete, and read back as written."""

from __future__ import annotations

import json
import os
import stat

import pytest

from agent_client.config import AgentConfig, agent_home, load_config, read_vault_credentials, save_config
from agent_client.errors import UsageError

CONFIG = AgentConfig("http://127.0.0.1:7071/api", "v" * 32, "vault", "i" * 32, "alpha", "bki_secret")


def test_config_file_is_private_and_round_trips(tmp_path):
    path = save_config(tmp_path / "home", CONFIG)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_config(tmp_path / "home") == CONFIG


def test_api_url_comes_from_the_environment_first():
    assert CONFIG.effective_api_url({"BACKUP_API_URL": "http://elsewhere"}) == "http://elsewhere"
    assert CONFIG.effective_api_url({}) == CONFIG.api_url


def test_home_defaults_to_dot_backup_agent(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert agent_home({}) == tmp_path / ".backup-agent"
    assert agent_home({"BACKUP_AGENT_HOME": "/srv/agent"}).as_posix() == "/srv/agent"


def test_damaged_config_and_bad_credentials_are_usage_errors(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(UsageError, match="damaged"):
        load_config(tmp_path)
    (tmp_path / "creds.json").write_text(json.dumps({"vault_id": "x"}))
    with pytest.raises(UsageError, match="registration_key"):
        read_vault_credentials(str(tmp_path / "creds.json"))
    with pytest.raises(UsageError, match="cannot read"):
        read_vault_credentials(str(tmp_path / "missing.json"))
