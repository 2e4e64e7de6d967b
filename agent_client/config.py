"""The machine's registration (config.json, mode 0600) and cache folders under $BACKUP_AGENT_HOME."""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from agent_client.errors import UsageError

HOME_VARIABLE = "BACKUP_AGENT_HOME"
API_URL_VARIABLE = "BACKUP_API_URL"
_CONFIG_FILE = "config.json"


def agent_home(environ: Mapping[str, str] | None = None) -> pathlib.Path:
    environ = os.environ if environ is None else environ
    return pathlib.Path(environ.get(HOME_VARIABLE) or pathlib.Path.home() / ".backup-agent")


@dataclass(frozen=True)
class AgentConfig:
    """Who this machine is in which vault, and the token it authenticates with."""

    api_url: str
    vault_id: str
    vault_name: str
    instance_id: str
    instance_name: str
    token: str

    def effective_api_url(self, environ: Mapping[str, str] | None = None) -> str:
        environ = os.environ if environ is None else environ
        return environ.get(API_URL_VARIABLE) or self.api_url


def save_config(home: pathlib.Path, config: AgentConfig) -> pathlib.Path:
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = home / _CONFIG_FILE
    temporary = home / f".{_CONFIG_FILE}.{os.getpid()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(asdict(config), handle, indent=1)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
    return path


def load_config(home: pathlib.Path) -> AgentConfig:
    path = home / _CONFIG_FILE
    try:
        fields = json.loads(path.read_text())
        return AgentConfig(**{name: fields[name] for name in AgentConfig.__dataclass_fields__})
    except FileNotFoundError:
        raise UsageError(f"this machine is not registered (no {path}): run `backup-agent register` first") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path} is damaged ({exc}); register again") from None


def cache_folder(home: pathlib.Path, vault_id: str) -> pathlib.Path:
    return home / "cache" / vault_id


def read_vault_credentials(path: str) -> dict[str, str]:
    """The JSON written by `backup-admin vault create --out` or `vault credentials --out` (api_url, vault_id,
    vault_name, registration_key), or by `instances rotate-token --out` (a machine's new instance_token)."""
    try:
        with open(path) as handle:
            credentials = json.load(handle)
    except OSError as exc:
        raise UsageError(f"cannot read the vault credentials {path}: {exc.strerror or exc}") from None
    except ValueError:
        raise UsageError(f"{path} is not a vault credentials file (not JSON)") from None
    if not isinstance(credentials, dict):
        credentials = {}
    needed = ("vault_id", "instance_id", "instance_token") if "instance_token" in credentials else ("vault_id", "registration_key")
    missing = [name for name in needed if not credentials.get(name)]
    if missing:
        raise UsageError(f"{path} is not a vault credentials file (missing {', '.join(missing)})")
    return credentials
