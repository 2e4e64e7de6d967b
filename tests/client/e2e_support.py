"""Runs `backup-agent` as a subprocess against the local stack: a fresh vault, registered machines, blob tampering."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from agent_client.http_client import JsonHttpClient
from bench.dataset.mixed import create_mixed
from bench.dataset.mutation import mutate
from bench.dataset.sizes import parse_size
from shared.formats.pack_index import ChunkKind, PackFormatError, parse_trailer

BIN = Path(sys.executable).parent
PASSPHRASE = "e2e passphrase, long enough"


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

    def run_measuring_memory(self, *arguments: str, timeout: float = 280) -> tuple[AgentRun, int]:
        """Runs like run(), also returning the process's peak resident memory in bytes (its own, from wait4)."""
        with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
            process = subprocess.Popen([str(BIN / "backup-agent"), *arguments], env=self.env,
                                       stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
            deadline = time.monotonic() + timeout
            while (waited := os.wait4(process.pid, os.WNOHANG))[0] == 0:
                if time.monotonic() > deadline:
                    process.kill()
                time.sleep(0.05)
            process.returncode = os.waitstatus_to_exitcode(waited[1])  # reaped here: Popen must not wait again
            stdout.seek(0)
            stderr.seek(0)
            result = AgentRun(process.returncode, stdout.read().decode(), stderr.read().decode())
        return result, waited[2].ru_maxrss * 1024

    def popen(self, *arguments: str) -> subprocess.Popen:
        return subprocess.Popen([str(BIN / "backup-agent"), *arguments], env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def backup(self, *paths: Path) -> dict:
        return self.run("backup", *map(str, paths), "--json").json()

    def chunk_owners(self, recovery_point_id: str) -> dict[bytes, set[str]]:
        """chunk id -> the paths of the files that hold it, read from the recovery point's tree (before any damage)."""
        from agent_client.agent_context import context_from_environment
        from agent_client.recovery_point_access import open_recovery_point

        opened = open_recovery_point(context_from_environment(self.env), recovery_point_id, trust_cached_trailers=False)
        owners: dict[bytes, set[str]] = defaultdict(set)
        for entry in opened.entries():
            for chunk_id in entry.chunk_ids():
                owners[chunk_id].add("/" + os.fsdecode(entry.path))
        return dict(owners)


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


def make_dataset(directory: Path, size: str, mutate_round: int | None = None, seed: str = "42") -> dict:
    """The benchmark's mixed dataset of `size` under directory, or its mutation round `mutate_round`."""
    if mutate_round:
        return mutate(directory, seed, mutate_round)
    return create_mixed(directory, parse_size(size), seed)


def random_files(folder: Path, count: int, size: int) -> Path:
    folder.mkdir(parents=True)
    for index in range(count):
        (folder / f"part{index:02d}.bin").write_bytes(os.urandom(size))
    return folder


def restored(target: Path, source: Path) -> Path:
    return target / str(source.resolve()).lstrip("/")


@dataclass
class ExpectedDamage:
    """What a client must report after one pack was damaged: the files it can no longer restore, and how."""

    pack_name: str
    paths: set[str]  # the files with a damaged chunk: each must be named, none restored
    whole_pack: bool  # the index or footer is damaged (or the size changed): no chunk of the pack can be located
    tree: bool  # a tree chunk is lost: the tree breaks off there, so the files after it cannot be named


def expected_pack_damage(pack_name: str, original: bytes, damaged: bytes,
                         owners: dict[bytes, set[str]]) -> ExpectedDamage:
    """Which chunks the damage touched, found by comparing each chunk's sealed bytes before and after.

    The client finds a pack's index at the end of the size the commit manifest recorded, so a pack
    whose size changed has no readable index: every data chunk of it is lost.
    """
    before = parse_trailer(original, len(original))
    try:
        if len(damaged) != len(original):
            raise PackFormatError("the pack's size changed")
        after = {entry.chunk_id: damaged[entry.offset : entry.offset + entry.length]
                 for entry in parse_trailer(damaged, len(damaged))}
        touched = [entry for entry in before
                   if after.get(entry.chunk_id) != original[entry.offset : entry.offset + entry.length]]
        whole_pack = False
    except PackFormatError:
        touched, whole_pack = before, True
    paths = {path for entry in touched if entry.kind == ChunkKind.DATA for path in owners.get(entry.chunk_id, ())}
    # The snapshot records where each tree chunk is, so the tree survives a damaged index: it is lost
    # only when the bytes at that place changed.
    tree = any(entry.kind == ChunkKind.TREE
               and damaged[entry.offset : entry.offset + entry.length] != original[entry.offset : entry.offset + entry.length]
               for entry in before)
    return ExpectedDamage(pack_name, paths, whole_pack, tree)


def damage_problems(output: str, expected: ExpectedDamage) -> list[str]:
    """Why `output` (verify's or restore's stderr) does not name `expected` honestly; [] if it does."""
    if expected.tree:
        if "tree of recovery point" not in output or expected.pack_name not in output:
            return [f"the damaged tree chunk in {expected.pack_name} is not reported"]
        return []
    problems = []
    named = sorted(path for path in expected.paths if path in output)
    if len(named) < min(5, len(expected.paths)):  # restore's one line shows the first five
        problems.append(f"damaged file(s) not named: {sorted(expected.paths - set(named))[:5]}")
    if expected.whole_pack and expected.pack_name not in output:
        problems.append(f"the damaged pack {expected.pack_name} is not named")
    return problems


def wrong_restored_files(target_root: Path, source: Path, damaged_paths: set[str], tree_damaged: bool) -> list[str]:
    """Files restored wrong: any byte not the source's, a damaged file present, an intact file missing.

    With a damaged tree the restore stops where it breaks, so intact files may be missing too.
    """
    problems = []
    source = source.resolve()
    for path in source.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        copy = target_root / path.relative_to(source)
        if str(path) in damaged_paths:
            if copy.exists():
                problems.append(f"{path}: damaged, yet restored")
        elif not copy.exists():
            if not tree_damaged:
                problems.append(f"{path}: intact, yet not restored")
        elif copy.read_bytes() != path.read_bytes():
            problems.append(f"{path}: restored with wrong bytes")
    if target_root.exists():
        for copy in target_root.rglob("*"):
            if copy.is_file() and not (source / copy.relative_to(target_root)).exists():
                problems.append(f"{copy}: not in the source (a leftover temporary?)")
    return problems
