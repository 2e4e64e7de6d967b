"""Writes and reads the stack's state folder: ports, keys, the sourceable env file and local.settings.json."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shlex
import stat
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

# Azurite's well-known development account (public, documented by Microsoft).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
# The Cosmos DB emulator's well-known key, which cosmosdb-server accepts.
COSMOS_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
COSMOS_DATABASE = "backup"
# Where the local Functions host reads the master key its /admin API demands.
MASTER_KEY_FILE = "functions-master.key"

# The function app's settings that do not depend on the ports (shared/settings.py names them).
FIXED_SETTINGS: dict[str, str] = {
    "COSMOS_DATABASE": COSMOS_DATABASE,
    "COMMIT_QUEUE": "commits",
    "REPLICATION_QUEUE": "replication",
    "METERING_QUEUE": "metering",
    "RETENTION_SCHEDULE": "0 30 2 * * *",
    "GC_GRACE_HOURS": "48",
    "BACKUP_SESSION_HOURS": "12",
    "DEFAULT_REDUNDANCY": "GRS",
    "PRICE_TABLE": "",
    # Tests open many sessions per machine and back up in tight loops; a test that is about the
    # limits sets them on its own vault (PATCH /api/vaults/{vault} `limits`).
    "INSTANCE_MAX_OPEN_SESSIONS": "1000",
    "INSTANCE_MAX_COMMITS_PER_HOUR": "100000",
    "VAULT_QUOTA_BYTES": "0",
}


def storage_connection_string(ports: Mapping[str, int], region: str) -> str:
    """Connection string of the region's ("primary" or "secondary") Azurite."""
    base = "http://127.0.0.1:{}/" + AZURITE_ACCOUNT
    return (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={base.format(ports[region + '_blob'])};"
            f"QueueEndpoint={base.format(ports[region + '_queue'])};"
            f"TableEndpoint={base.format(ports[region + '_table'])};")


def cosmos_endpoint(ports: Mapping[str, int]) -> str:
    return f"https://127.0.0.1:{ports['cosmos']}/"


REPO_ROOT = Path(__file__).resolve().parent.parent


def default_state_dir() -> Path:
    """`.devstack` under the repository root, or $DEVSTACK_DIR."""
    return Path(os.environ.get("DEVSTACK_DIR") or REPO_ROOT / ".devstack").resolve()


def make_state_dir(path: Path) -> None:
    """Create the state folder (and missing parents) if it is not there; the folder itself owner-only."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def _write_private(path: Path, text: str) -> None:
    """Replace path by a file holding text, readable by its owner only and never seen half-written."""
    # mkstemp makes the file 0600 before a byte is in it; a chmod afterwards would leave a window.
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _kept_secret(path: Path, make: Callable[[], str]) -> str:
    """The secret stored in path, made and stored the first time it is asked for."""
    secret = path.read_text().strip() if path.exists() else ""
    if not secret:
        secret = make()
        _write_private(path, secret + "\n")
    return secret


def operator_key(state_dir: Path) -> str:
    """The stack's operator key, made once (`bko_` + 43 url-safe base64 chars) and kept."""
    return _kept_secret(state_dir / "operator.key", lambda: "bko_" + secrets.token_urlsafe(32))


def functions_master_key(state_dir: Path) -> str:
    """The local Functions host's master key (43 url-safe base64 chars), made once and kept."""
    return _kept_secret(state_dir / MASTER_KEY_FILE, lambda: secrets.token_urlsafe(32))


def app_settings(ports: Mapping[str, int], key: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The function app's settings on this stack (the Values of local.settings.json)."""
    return {
        # The host's own storage, which Core Tools' local.settings.json always names.
        "AzureWebJobsStorage": storage_connection_string(ports, "primary"),
        "PRIMARY_STORAGE": storage_connection_string(ports, "primary"),
        "SECONDARY_STORAGE": storage_connection_string(ports, "secondary"),
        "COSMOS_ENDPOINT": cosmos_endpoint(ports),
        "COSMOS_KEY": COSMOS_KEY,
        **FIXED_SETTINGS,
        "OPERATOR_KEY_SHA256": hashlib.sha256(key.encode()).hexdigest(),
        **(extra or {}),
    }


def client_environment(ports: Mapping[str, int], key: str, master_key: str) -> dict[str, str]:
    """What .devstack/env exports for clients, CLIs and tests."""
    return {
        "BACKUP_API_URL": f"http://127.0.0.1:{ports['functions']}/api",
        "BACKUP_ADMIN_KEY": key,
        "FUNCTIONS_MASTER_KEY": master_key,
        "PRIMARY_STORAGE_CONNECTION_STRING": storage_connection_string(ports, "primary"),
        "SECONDARY_STORAGE_CONNECTION_STRING": storage_connection_string(ports, "secondary"),
        "COSMOS_ENDPOINT": cosmos_endpoint(ports),
        "COSMOS_KEY": COSMOS_KEY,
    }


def _write_if_changed(path: Path, text: str) -> bool:
    """Write text to path (owner-only) unless it holds it already; True if the text changed."""
    try:
        unchanged = path.read_text() == text
        private = stat.S_IMODE(path.stat().st_mode) & 0o077 == 0
    except FileNotFoundError:
        unchanged, private = False, True
    if not (unchanged and private):
        _write_private(path, text)  # also closes a file an older stack left readable by others
    return not unchanged


def write_env_file(path: Path, variables: Mapping[str, str]) -> bool:
    """Write `export NAME='value'` lines; True if the file changed."""
    lines = ["# Written by devstack.stack: source it to talk to the local stack."]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in variables.items()]
    return _write_if_changed(path, "\n".join(lines) + "\n")


def read_env_file(path: Path) -> dict[str, str]:
    """The variables of an env file written by write_env_file."""
    variables: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            name, _, quoted = line[len("export "):].partition("=")
            variables[name] = (shlex.split(quoted) or [""])[0]
    return variables


def write_local_settings(path: Path, values: Mapping[str, str]) -> bool:
    """Write local.settings.json in the Core Tools format; True if the file changed."""
    document = {"IsEncrypted": False, "Values": dict(values)}
    return _write_if_changed(path, json.dumps(document, indent=2) + "\n")


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def write_json(path: Path, document: dict) -> bool:
    return _write_if_changed(path, json.dumps(document, indent=2, sort_keys=True) + "\n")
