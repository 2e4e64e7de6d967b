"""Row 13: nothing the service side can see holds a file name, a path or the passphrase.

A machine backs up (then lists, verifies and restores) a folder whose names carry a random token,
with a passphrase that carries another, into a GRS vault. Searched afterwards, in UTF-8, UTF-16
and base64: every HTTP request the client sent (URL, headers, body), every blob name and blob
byte in both regions, every Cosmos document of the vault, every message left in the queues and
their poison queues, and the logs of the Functions host and the emulators. The queue message
schemas themselves must only admit ids. The credentials (operator key, vault admin and
registration keys, instance tokens, the signatures of the SAS the service handed out) must be in
no Cosmos document and in neither the Functions host's nor the Cosmos server's log; the service
keeps only their digests, each of which verifies against its credential. Last: the same file
backed up into two vaults (same passphrase) must have no chunk id in common (chunk ids are keyed
per vault).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.domain import credentials
from shared.domain.messages import CommitMessage, ReplicationMessage, UsageEvent
from shared.formats import pack_index
from shared.services.vaults import container_name
from tests.api.conftest import Api, make_tenant
from tests.support.agents import vault_with_machine
from tests.support.http_backup import wait_until
from tests.support.queues import SERVICE_QUEUES, all_messages
from tests.support.runtimes import service_runtime

REPO = Path(__file__).resolve().parents[2]


def _forms(secret: str) -> list[bytes]:
    """The byte strings that would betray `secret`: UTF-8, UTF-16-LE, and base64 at each alignment."""
    raw = secret.encode()
    forms = [raw, secret.encode("utf-16-le")]
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw)
        forms.append(encoded[4 * ((shift + 2) // 3) + 4: -4])  # the part that does not depend on neighbours
    return [form for form in forms if len(form) >= 8]


def _leaks(where: str, data: bytes, secrets: dict[str, list[bytes]]) -> list[str]:
    return [f"{where} holds the {what}" for what, forms in secrets.items() if any(form in data for form in forms)]


def _tree(folder: Path, token: str, rng) -> dict[str, str]:
    """A source folder with the token in file and folder names; returns what must stay hidden."""
    inner = folder / f"Privé-Ordner-{token}"
    inner.mkdir(parents=True)
    names = {"file name": f"salary-review-{token}.xlsx", "unicode name": f"naïve-résumé-{token}.pdf",
             "folder name": inner.name}
    (inner / names["file name"]).write_bytes(rng.randbytes(50_000))
    (inner / names["unicode name"]).write_bytes(b"%PDF- not really " * 2000)
    (folder / "shared.bin").write_bytes(rng.randbytes(120_000))
    return {**names, "source path": str(folder)}


def _run_agent(machine, capture: Path, *arguments: str) -> subprocess.CompletedProcess:
    env = {**machine.env, "RELIABILITY_CAPTURE": str(capture)}
    return subprocess.run([sys.executable, "-m", "tests.reliability.killing_agent", *arguments], env=env, cwd=REPO,
                          capture_output=True, timeout=280)


def _sas_signatures(requests: list[str], *sessions: dict) -> set[str]:
    """The `sig` of every SAS the client used (from its captured URLs) or a session returned."""
    urls = [json.loads(line)["url"] for line in requests] + [f"?{session['sas']}" for session in sessions]
    return {sig for url in urls for sig in parse_qs(urlsplit(url).query).get("sig", [])}


def _credentials(stack, vault, machine, tenant: dict, requests: list[str], sessions: list[dict]) -> dict[str, str]:
    """Every credential the service issued or checked in this test, by what it is."""
    issued = {
        "operator key": stack["BACKUP_ADMIN_KEY"],
        "registration key": json.loads(vault.credentials.read_text())["registration_key"],
        "instance token": json.loads((machine.home / "config.json").read_text())["token"],
        "vault admin key": tenant["admin_key"], "second registration key": tenant["registration_key"],
        "second instance token": tenant["token"],
    }
    for number, sig in enumerate(sorted(_sas_signatures(requests, *sessions))):
        issued[f"SAS signature {number}"] = sig
    return issued


def _digests_verify(rt, tenant: dict) -> list[str]:
    """Each stored credential is a digest: not the secret, and it verifies against the secret."""
    vault = rt.catalog.vaults.get(tenant["vault_id"], tenant["vault_id"])
    instance = rt.catalog.instances.get(tenant["vault_id"], tenant["instance_id"])
    problems = []
    for secret, stored in ((tenant["admin_key"], vault["admin_key_sha256"]),
                           (tenant["registration_key"], vault["registration_key_sha256"]),
                           (tenant["token"], instance["token_sha256"])):
        if stored == secret or secret in json.dumps([vault, instance]) or not credentials.matches(secret, stored):
            problems.append(f"{secret[:4]} credential is not stored as its digest")
    return problems


def _chunk_ids(rt, vault_id: str) -> set[bytes]:
    container = container_name(vault_id)
    ids = set()
    for blob in rt.primary_blobs.list_blobs(container, "packs/"):
        data = rt.primary_blobs.read(container, blob.name)
        ids |= {entry.chunk_id for entry in pack_index.parse_trailer(data, len(data))}
    return ids


@pytest.mark.stack
def test_the_service_sees_no_name_no_path_no_passphrase(stack, tmp_path, rng):
    token = rng.randbytes(8).hex()
    passphrase = f"passphrase {token} long enough"
    hidden = _tree(tmp_path / f"source-{token}", token, rng)
    hidden["passphrase"] = passphrase
    secrets = {what: _forms(value) for what, value in hidden.items()}
    secrets["token"] = _forms(token)
    capture = tmp_path / "requests.jsonl"
    log_marks = {name: (Path(stack["DEVSTACK_DIR"]) / f"{name}.log").stat().st_size
                 for name in ("functions", "storage-primary", "storage-secondary", "cosmos")}
    rt = service_runtime(stack)
    with vault_with_machine(stack, tmp_path / "vault") as (vault, machine), \
            vault_with_machine(stack, tmp_path / "other", name="beta") as (other, stranger):
        api = Api(stack["BACKUP_API_URL"])
        status, _ = api.call("PATCH", f"/vaults/{vault.vault_id}", stack["BACKUP_ADMIN_KEY"], {"redundancy": "GRS"})
        assert status == 200
        machine.env["BACKUP_AGENT_PASSPHRASE"] = stranger.env["BACKUP_AGENT_PASSPHRASE"] = passphrase
        source = Path(hidden["source path"])
        made = _run_agent(machine, capture, "backup", str(source), "--json")
        assert made.returncode == 0, made.stderr.decode()
        rp_id = json.loads(made.stdout)["recovery_point_id"]
        for verb in (["list", "--json"], ["verify", rp_id], ["restore", rp_id, "--target", str(tmp_path / "t")],
                     ["ls", rp_id]):
            assert _run_agent(machine, capture, *verb).returncode == 0, verb
        wait_until(lambda: rt.catalog.recovery_points.get(vault.vault_id, rp_id).get("replicated_at"), 120,
                   "replication to the paired region")
        assert stranger.run("backup", str(source), "--json").code == 0

        requests = capture.read_text().splitlines()
        assert any("commit_blob" in line for line in requests), "the capture saw no API body"
        # The search finds what it looks for, however it is encoded.
        for what, value in hidden.items():
            for wrapped in (value.encode(), json.dumps({"x": base64.b64encode(b"ab" + value.encode()).decode()}).encode(),
                            ("<" + value + ">").encode("utf-16-le")):
                assert _leaks("control", wrapped, {what: secrets[what]}), (what, wrapped[:60])
        found = []
        for line in requests:
            found += _leaks(f"a request ({json.loads(line)['method']} {json.loads(line)['url'][:80]})", line.encode(),
                            secrets)
        container = container_name(vault.vault_id)
        for region, blobs in (("primary", rt.primary_blobs), ("paired region", rt.secondary_blobs)):
            for blob in blobs.list_blobs(container):
                found += _leaks(f"the {region} blob name {blob.name}", blob.name.encode(), secrets)
                found += _leaks(f"the {region} blob {blob.name}", blobs.read(container, blob.name), secrets)
        for name in ("vaults", "instances", "recovery_points", "packs", "sessions", "usage"):
            for doc in getattr(rt.catalog, name).query(vault.vault_id):
                found += _leaks(f"the Cosmos document {name}/{doc['id']}", json.dumps(doc).encode(), secrets)
        for queue in SERVICE_QUEUES:
            for message in all_messages(stack["PRIMARY_STORAGE_CONNECTION_STRING"], queue) + all_messages(
                    stack["PRIMARY_STORAGE_CONNECTION_STRING"], f"{queue}-poison"):
                found += _leaks(f"a message in {message.queue}", message.body, secrets)
        for name, offset in log_marks.items():
            with open(Path(stack["DEVSTACK_DIR"]) / f"{name}.log", "rb") as log:
                log.seek(offset)
                found += _leaks(f"the {name} log", log.read(), secrets)
        assert not found, found

        # Credentials: used by the client and by an admin, then searched where the service keeps things.
        tenant = make_tenant(api, stack["BACKUP_ADMIN_KEY"])
        for path in (f"/vaults/{tenant['vault_id']}", f"/vaults/{tenant['vault_id']}/usage",
                     f"/recovery-points?vault={tenant['vault_id']}", f"/vaults/{vault.vault_id}"):
            api.call("GET", path, tenant["admin_key"])
        status, session = api.call("POST", "/backup-sessions", tenant["token"], {})
        assert status == 201, session
        issued = _credentials(stack, vault, machine, tenant, requests, [session])
        assert any(what.startswith("SAS") for what in issued), "no SAS signature was found to search for"
        credential_forms = {what: _forms(value) for what, value in issued.items()}
        partitions = (vault.vault_id, other.vault_id, tenant["vault_id"], "registry", "poison")
        for name in ("vaults", "instances", "recovery_points", "packs", "sessions", "usage"):
            for partition in partitions:
                for doc in getattr(rt.catalog, name).query(partition):
                    found += _leaks(f"the Cosmos document {name}/{doc['id']}", json.dumps(doc).encode(), credential_forms)
        for name in ("functions", "cosmos"):
            with open(Path(stack["DEVSTACK_DIR"]) / f"{name}.log", "rb") as log:
                log.seek(log_marks[name])
                found += _leaks(f"the {name} log", log.read(), credential_forms)
        found += _digests_verify(rt, tenant)
        assert not found, found

        shared_ids = _chunk_ids(rt, vault.vault_id) & _chunk_ids(rt, other.vault_id)
        assert not shared_ids, f"{len(shared_ids)} chunk ids are the same in two vaults"


def test_queue_messages_can_only_carry_ids():
    """Every string field of every message schema is held to an id or blob-name pattern."""
    for model in (CommitMessage, ReplicationMessage, UsageEvent):
        for name, prop in model.model_json_schema()["properties"].items():
            options = prop.get("anyOf", [prop])
            for option in options:
                if option.get("type") == "string" and option.get("format") != "date-time":
                    assert option.get("pattern") or option.get("enum") or option.get("const"), (model.__name__, name)
            if prop.get("type") == "array":
                assert name == "blobs"  # each checked against the blob-name pattern by the model
