"""Row 5: tampered blobs are always detected; `verify` names the damaged files; `restore` writes no wrong byte.

One recovery point, backed up by the real `backup-agent` in small packs. Each case damages one
blob with the storage account's key (what an attacker at the storage layer could do), runs
`verify` and `restore`, then puts the original back: a flipped byte in every pack and in the
snapshot, a truncated blob, a zero-length blob, two chunks of a pack swapped (index rewritten to
stay consistent), and a sealed chunk copied in from another vault's pack of the same files.
`verify` and `restore` must fail with the integrity exit code (7) and name the damage: the
files with a damaged chunk (found from the tree before the damage and the pack's index), the
pack too when its index is damaged, the tree when a tree chunk is, "the snapshot ... is damaged"
for the snapshot. `restore` must put every intact file in place byte-identical, and no damaged
file at all.
"""

from __future__ import annotations

import hashlib

import pytest

from shared.formats import pack_index
from tests.client.e2e_support import (
    ExpectedDamage,
    Vault,
    damage_problems,
    expected_pack_damage,
    restored,
    wrong_restored_files,
)

INTEGRITY_EXIT = 7
PACK_SIZE = str(128 << 10)


def _source(folder, rng):
    folder.mkdir(parents=True)
    for index in range(8):
        (folder / f"data{index}.bin").write_bytes(rng.randbytes(rng.randint(20_000, 160_000)))
    (folder / "notes.txt").write_text("line of notes\n" * 4000)
    (folder / "sub").mkdir()
    (folder / "sub" / "small.txt").write_text("small file\n")
    return folder


def _split(data: bytes) -> list[tuple[pack_index.PackEntry, bytes]]:
    entries = pack_index.parse_trailer(data, len(data))
    return [(e, data[e.offset:e.offset + e.length]) for e in entries]


def _join(parts: list[tuple[pack_index.PackEntry, bytes]]) -> bytes:
    """A pack whose index is valid for these (id, kind, sealed bytes), laid out afresh."""
    body, entries = b"", []
    for entry, sealed in parts:
        entries.append(pack_index.PackEntry(entry.chunk_id, entry.kind, len(body), len(sealed)))
        body += sealed
    return body + pack_index.serialize_trailer(entries)


def _cases(vault: Vault, other: Vault, rp_id: str, rng) -> list[tuple[str, str, callable]]:
    """(case, blob, damage(original bytes) -> damaged bytes)."""
    packs = vault.blob_names("packs/")
    snapshot = f"snapshots/{rp_id}"
    foreign = [part for name in other.blob_names("packs/") for part in _split(_download(other, name))
               if part[0].kind == pack_index.ChunkKind.DATA]

    def flip(data: bytes) -> bytes:
        position = rng.randrange(len(data))
        return data[:position] + bytes([data[position] ^ (1 << rng.randrange(8))]) + data[position + 1:]

    def swap(data: bytes) -> bytes:
        parts = _split(data)
        i, j = rng.sample(range(len(parts)), 2)
        swapped = list(parts)
        swapped[i], swapped[j] = (parts[i][0], parts[j][1]), (parts[j][0], parts[i][1])
        return _join(swapped)

    def transplant(data: bytes) -> bytes:
        parts = _split(data)
        i = rng.randrange(len(parts))
        parts[i] = (parts[i][0], rng.choice(foreign)[1])
        return _join(parts)

    multi = [name for name in packs if len(_split(_download(vault, name))) > 1]
    cases = [(f"flipped byte in {name}", name, flip) for name in packs]
    cases += [
        ("flipped byte in the snapshot", snapshot, flip),
        ("truncated pack", rng.choice(packs), lambda d: d[: rng.randrange(len(d))]),
        ("truncated snapshot", snapshot, lambda d: d[: rng.randrange(len(d))]),
        ("zero-length pack", rng.choice(packs), lambda d: b""),
        ("zero-length snapshot", snapshot, lambda d: b""),
        ("two chunks swapped", rng.choice(multi), swap),
        ("a chunk from another vault", rng.choice(packs), transplant),
    ]
    return cases


def _download(vault: Vault, name: str) -> bytes:
    return vault.container_client().download_blob(name).readall()


def _upload(vault: Vault, name: str, data: bytes) -> None:
    vault.container_client().upload_blob(name, data, overwrite=True)


def _check_case(machine, source, rp_id, case, workdir, expected: ExpectedDamage | None) -> list[str]:
    """Runs verify and restore on the damaged vault; `expected` is None for a damaged snapshot."""
    problems = []
    target = workdir / hashlib.sha256(case.encode()).hexdigest()[:12]
    for command, result in (("verify", machine.run("verify", rp_id, "--json")),
                            ("restore", machine.run("restore", rp_id, "--target", str(target), "--json"))):
        output = result.stderr.strip()[-600:]
        if result.code != INTEGRITY_EXIT:
            problems.append(f"{case}: {command} exited {result.code}: {output}")
        elif expected is None and f"the snapshot snapshots/{rp_id} is damaged" not in result.stderr:
            problems.append(f"{case}: {command} did not say the snapshot is damaged: {output}")
        elif expected is not None:
            problems += [f"{case}: {command}: {problem}: {output}" for problem in damage_problems(result.stderr, expected)]
    root = restored(target, source)
    if expected is None:
        if root.exists() and any(path.is_file() for path in root.rglob("*")):
            problems.append(f"{case}: restore wrote files from a damaged snapshot")
    else:
        problems += [f"{case}: {problem}" for problem in wrong_restored_files(root, source, expected.paths, expected.tree)]
    return problems


def _run(stack, tmp_path, rng, sample: int | None) -> int:
    vault, other = Vault(stack, tmp_path / "vault"), Vault(stack, tmp_path / "other")
    try:
        source = _source(tmp_path / "source", rng)
        machine = vault.machine()
        machine.env["BACKUP_AGENT_PACK_SIZE"] = PACK_SIZE
        stranger = other.machine("stranger")
        stranger.env["BACKUP_AGENT_PACK_SIZE"] = PACK_SIZE
        rp_id = machine.backup(source)["recovery_point_id"]
        stranger.backup(source)
        cases = _cases(vault, other, rp_id, rng)
        if sample is not None:
            flips = [c for c in cases if c[0].startswith("flipped byte in packs/")]
            cases = rng.sample(flips, min(sample, len(flips))) + [c for c in cases if c not in flips]
        owners = machine.chunk_owners(rp_id)
        problems = []
        for case, blob, damage in cases:
            original = _download(vault, blob)
            damaged = damage(original)
            expected = expected_pack_damage(blob, original, damaged, owners) if blob.startswith("packs/") else None
            _upload(vault, blob, damaged)
            try:
                problems += _check_case(machine, source, rp_id, case, tmp_path / "restores", expected)
            finally:
                _upload(vault, blob, original)
        clean = machine.run("verify", rp_id, "--json")
        assert clean.code == 0, f"the recovery point does not verify once every blob is back: {clean.stderr}"
        assert not problems, "\n".join(problems)
        return len(cases)
    finally:
        vault.delete_containers()
        other.delete_containers()


@pytest.mark.stack
@pytest.mark.timeout(900)
def test_every_kind_of_damage_is_detected_named_and_never_restored(stack, tmp_path, rng):
    _run(stack, tmp_path, rng, sample=2)


@pytest.mark.stack
@pytest.mark.soak
@pytest.mark.timeout(4 * 3600)
def test_soak_every_pack_every_damage_many_positions(stack, tmp_path, rng):
    for round_ in range(15):
        _run(stack, tmp_path / f"round{round_}", rng, sample=None)
