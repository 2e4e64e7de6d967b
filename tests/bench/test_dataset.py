"""The benchmark's own dataset generator: seeded, shaped like a workstation, mutated by about 1%."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard

from bench.dataset.files import list_files
from bench.dataset.mixed import create_mixed
from bench.dataset.mutation import EmptyTreeError, mutate
from bench.dataset.sizes import MIB, parse_size
from bench.dataset.small_files import create_small_files
from bench.dataset.vm_image import BLOCK

ROOT = Path(__file__).resolve().parents[2]
SIZE = 64 * MIB


def _digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path, size in list_files(root):
        digest.update(f"{path}\0{size}\0".encode())
        digest.update(hashlib.sha256((root / path).read_bytes()).digest())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed") / "tree"
    return root, create_mixed(root, SIZE, "7")


def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_bytes(mixed, tmp_path):
    root, summary = mixed
    again = create_mixed(tmp_path / "again", SIZE, "7")
    other = create_mixed(tmp_path / "other", SIZE, "8")
    assert _digest(tmp_path / "again") == _digest(root)
    assert again["parts"] == summary["parts"]
    assert _digest(tmp_path / "other") != _digest(root)
    assert other["total_bytes"] == pytest.approx(SIZE, rel=0.02)


def test_the_parts_take_their_shares_of_the_size(mixed):
    root, summary = mixed
    parts = summary["parts"]
    assert summary["total_bytes"] == sum(size for _, size in list_files(root))
    assert summary["total_files"] == len(list_files(root))
    assert parts["vm_image"]["bytes"] == pytest.approx(0.40 * SIZE, rel=0.01)
    assert parts["near_dups"]["files"] == 12
    assert parts["small_text"]["files"] == round(5000 * SIZE / (1 << 30))
    assert parts["medium_random"]["bytes"] > 0.25 * SIZE


def test_text_compresses_and_media_does_not(mixed):
    root, _ = mixed
    texts = b"".join((root / path).read_bytes() for path, _ in list_files(root) if path.startswith("src/"))
    media = b"".join((root / path).read_bytes() for path, _ in list_files(root) if path.startswith(("media/", "archives/")))
    compressor = zstandard.ZstdCompressor(level=3)
    assert len(compressor.compress(texts)) < len(texts) / 2.5
    assert len(compressor.compress(media[:8 * MIB])) > 0.99 * min(len(media), 8 * MIB)


def test_the_disk_image_holds_zero_runs_repeats_and_patterns(mixed):
    root, summary = mixed
    image = (root / "vm" / "disk.img").read_bytes()
    extents = summary["parts"]["vm_image"]["extent_bytes"]
    assert len(image) % BLOCK == 0 and len(image) == sum(extents.values())
    blocks = [image[offset:offset + BLOCK] for offset in range(0, len(image), BLOCK)]
    zero_blocks = sum(block == bytes(BLOCK) for block in blocks)
    assert zero_blocks * BLOCK >= extents["zero"]
    assert len(set(blocks)) < 0.8 * len(blocks), "repeats and patterns make blocks recur"


def test_near_duplicates_share_most_of_their_bytes(mixed):
    root, _ = mixed
    first = (root / "docs" / "db_dump_v1.sql").read_bytes()
    second = (root / "copies" / "db_dump_v2.sql").read_bytes()
    assert first != second
    assert abs(len(first) - len(second)) < 1000
    assert first[:64] in second or first[-64:] in second


def test_a_mutation_changes_about_one_percent_the_same_way_each_time(tmp_path):
    trees = []
    for name in ("a", "b"):
        create_mixed(tmp_path / name, SIZE, "3")
        trees.append(mutate(tmp_path / name, "3", 1))
    first, second = trees
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert {key: value for key, value in first.items() if key != "root"} == \
        {key: value for key, value in second.items() if key != "root"}
    assert 0.005 < first["changed_fraction"] < 0.02
    assert "vm/disk.img" in first["overwritten"] and first["appended"] > 0
    assert len(first["added"]) == 8 and len(first["deleted"]) == 11
    assert all((tmp_path / "a" / path).exists() for path in first["added"])
    assert not any((tmp_path / "a" / path).exists() for path in first["deleted"])
    third = mutate(tmp_path / "a", "3", 2)
    assert third["added"] != first["added"] and _digest(tmp_path / "a") != _digest(tmp_path / "b")


def test_the_small_files_tree_has_the_asked_count_in_folders_of_a_hundred(tmp_path):
    summary = create_small_files(tmp_path / "small", 1050, "5")
    files = list_files(tmp_path / "small")
    assert summary["total_files"] == len(files) == 1050 and summary["folders"] == 11
    assert summary["total_bytes"] == sum(size for _, size in files)
    assert all(64 <= size <= 4096 for _, size in files)
    assert len({path.rsplit("/", 1)[0] for path, _ in files}) == 11
    mutation = mutate(tmp_path / "small", "5", 1)
    assert mutation["text_edited"] > 0 and len(mutation["deleted"]) == 10


def test_bad_input_is_one_line_and_writes_nothing(tmp_path):
    def run(*arguments):
        return subprocess.run([sys.executable, "-m", "bench.dataset", *arguments], cwd=ROOT,
                              capture_output=True, text=True)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep").write_text("mine")
    for arguments, message in ((["--size", "lots", str(tmp_path / "new")], "is not a size"),
                               ([str(tmp_path / "full")], "is not empty"),
                               ([str(tmp_path / "none"), "--mutate"], "is not a folder"),
                               ([str(tmp_path / "new"), "--small-files", "0"], "positive count")):
        done = run(*arguments)
        assert done.returncode == 2 and message in done.stderr and len(done.stderr.splitlines()) == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == ["full"]
    assert (tmp_path / "full" / "keep").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmptyTreeError):
        mutate(tmp_path / "empty", "1", 1)
    small = run(str(tmp_path / "tiny"), "--small-files", "3")
    assert small.returncode == 0 and json.loads(small.stdout)["total_files"] == 3


@pytest.mark.parametrize("text, size", [("1G", 1 << 30), ("256M", 256 << 20), ("1.5GiB", 3 << 29), ("4096", 4096)])
def test_sizes_read_as_people_type_them(text, size):
    assert parse_size(text) == size


def test_nothing_in_the_suite_or_the_benchmarks_reads_outside_the_repository():
    outside = re.compile(r"""parents?\[\d\]\s*/\s*["']shared["']|\.\./shared|parent\s*/\s*["']shared["']""")
    offenders = [str(path.relative_to(ROOT)) for folder in ("tests", "bench", "devstack", "agent_client", "shared")
                 for path in (ROOT / folder).rglob("*.py")
                 if path != Path(__file__).resolve() and outside.search(path.read_text())]
    assert offenders == []
