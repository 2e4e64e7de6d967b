"""Runs `backup-agent` as a subprocess against the local stack: a fresh vault, registered machines, blob tampering."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from agent_client.http_client import JsonHttpClient

BIN = Path(sys.executable).parent
PASSPHRASE = "e2e passphrase, long enough"
DATASET_SCRIPT = Path(__file__).resolve().parents[3] / "shared" / "bench" / "make_dataset.py"


@dataclass
class AgentRun:
    """One finished `backup-agent` invocation."""

    code: int
    stdout: str
    stderr: str

    def json(self):
        assert self.code == 0, self.stderr
        return json.loads(self.stdout)


class Machine:
    """A registered machine: its own BACKUP_AGENT_HOME in a vault created for the test."""

    def __init__(self, stack: dict, home: Path, credentials: Path, name: str) -> None:
        self.stack = stack
        self.home = home
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("BACKUP_")},
            "BACKUP_API_URL": stack["BACKUP_API_URL"], "BACKUP_AGENT_HOME": str(home),
            "BACKUP_AGENT_PASSPHRASE": PASSPHRASE, "BACKUP_AGENT_COMMIT_TIMEOUT": "180",
        }
        registered = self.run("register", "--vault-credentials", str(credentials), "--name", name, "--json")
        self.instance_id = registered.json()["instance_id"]

    def run(self, *arguments: str, timeout: float = 280, stdin: bytes | None = None, **env: str) -> AgentRun:
        completed = subprocess.run([str(BIN / "backup-agent"), *arguments], env={**self.env, **env}, input=stdin,
                                   stdin=None if stdin is not None else subprocess.DEVNULL,
                                   capture_output=True, timeout=timeout)
        return AgentRun(completed.returncode, completed.stdout.decode(), completed.stderr.decode())

    def popen(self, *arguments: str) -> subprocess.Popen:
        return subprocess.Popen([str(BIN / "backup-agent"), *arguments], env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def backup(self, *paths: Path) -> dict:
        return self.run("backup", *map(str, paths), "--json").json()


class Vault:
    """A vault made for one test through the operator API, and machines registered in it."""

    def __init__(self, stack: dict, workdir: Path, redundancy: str = "LRS") -> None:
        self.stack = stack
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        api = JsonHttpClient(stack["BACKUP_API_URL"].rstrip("/").removesuffix("/api"), stack["BACKUP_ADMIN_KEY"])
        created = api.post("/api/vaults", {"name": f"e2e-{uuid.uuid4().hex[:12]}", "redundancy": redundancy})
        self.vault_id = created["vault_id"]
        self.container = f"vault-{self.vault_id}"
        self.credentials = workdir / "vault.json"
        self.credentials.write_text(json.dumps({
            "api_url": stack["BACKUP_API_URL"], "vault_id": created["vault_id"], "vault_name": created["name"],
            "registration_key": created["registration_key"],
        }))

    def machine(self, name: str = "alpha") -> Machine:
        return Machine(self.stack, self.workdir / f"home-{name}", self.credentials, name)

    def container_client(self):
        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient.from_connection_string(self.stack["PRIMARY_STORAGE_CONNECTION_STRING"])
        return service.get_container_client(self.container)

    def delete_containers(self) -> None:
        """Frees the stack's disk: the vault's container in both regions (the catalog keeps its records)."""
        from azure.core.exceptions import ResourceNotFoundError
        from azure.storage.blob import BlobServiceClient

        for setting in ("PRIMARY_STORAGE_CONNECTION_STRING", "SECONDARY_STORAGE_CONNECTION_STRING"):
            try:
                BlobServiceClient.from_connection_string(self.stack[setting]).delete_container(self.container)
            except (ResourceNotFoundError, KeyError):
                pass

    def blob_names(self, prefix: str) -> list[str]:
        return sorted(blob.name for blob in self.container_client().list_blobs(name_starts_with=prefix))

    def flip_byte(self, name: str, position: int) -> None:
        """Damages one byte of a blob with the account key (what a storage-level attacker could do)."""
        blob = self.container_client().get_blob_client(name)
        data = bytearray(blob.download_blob().readall())
        data[position % len(data)] ^= 0x01
        blob.upload_blob(bytes(data), overwrite=True)

    def blob_size(self, name: str) -> int:
        return self.container_client().get_blob_client(name).get_blob_properties().size


def make_dataset(directory: Path, size: str, mutate_round: int | None = None) -> dict:
    arguments = [sys.executable, str(DATASET_SCRIPT), str(directory)]
    arguments += ["--mutate", "--round", str(mutate_round)] if mutate_round else ["--size", size]
    return json.loads(subprocess.run(arguments, capture_output=True, text=True, check=True).stdout)


def random_files(folder: Path, count: int, size: int) -> Path:
    folder.mkdir(parents=True)
    for index in range(count):
        (folder / f"part{index:02d}.bin").write_bytes(os.urandom(size))
    return folder


def restored(target: Path, source: Path) -> Path:
    return target / str(source.resolve()).lstrip("/")
