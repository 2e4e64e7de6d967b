"""Measures what the machine allows: raw upload and download of the dataset's bytes to Azurite.

The bytes travel as 16 MiB blobs (our client's pack size), each one Put Blob or one Get Blob, through
the same storage SDK, at several concurrencies; the best of each direction is the ceiling.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from azure.storage.blob import BlobServiceClient

from bench.compare.blob_usage import delete_container

BLOB_SIZE = 16 << 20


@dataclass(frozen=True)
class Transfer:
    concurrency: int
    bytes: int
    upload_seconds: float
    download_seconds: float


def _pieces(root: Path, size: int) -> Iterator[bytes]:
    """The dataset's files, concatenated in walk order and cut into pieces of `size` bytes."""
    piece = bytearray()
    for folder, _, names in sorted(os.walk(root)):
        for name in sorted(names):
            with open(os.path.join(folder, name), "rb") as handle:
                while chunk := handle.read(size - len(piece)):
                    piece += chunk
                    if len(piece) == size:
                        yield bytes(piece)
                        piece.clear()
    if piece:
        yield bytes(piece)


def _bounded(pool: ThreadPoolExecutor, jobs: Iterator, work, limit: int) -> None:
    """Submit work(job) for every job, with at most `limit` in flight (bounds the memory held)."""
    pending: set[Future] = set()
    for job in jobs:
        if len(pending) >= limit:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()
        pending.add(pool.submit(work, job))
    for future in pending:
        future.result()


def raw_transfer(connection_string: str, root: Path, concurrency: int) -> Transfer:
    """Upload the dataset's bytes raw into a fresh container, download them back, delete the container."""
    container_name = f"ceiling-c{concurrency}-{os.getpid()}"
    service = BlobServiceClient.from_connection_string(connection_string)
    container = service.create_container(container_name)
    names: list[str] = []
    total = 0

    def upload(job: tuple[int, bytes]) -> None:
        index, piece = job
        container.upload_blob(f"raw/{index:06d}", piece, overwrite=True, max_concurrency=1)

    def download(name: str) -> None:
        container.download_blob(name, max_concurrency=1).readall()

    try:
        with ThreadPoolExecutor(concurrency) as pool:
            started = time.perf_counter()

            def numbered() -> Iterator[tuple[int, bytes]]:
                nonlocal total
                for index, piece in enumerate(_pieces(root, BLOB_SIZE)):
                    names.append(f"raw/{index:06d}")
                    total += len(piece)
                    yield index, piece

            _bounded(pool, numbered(), upload, concurrency * 2)
            uploaded = time.perf_counter() - started
            started = time.perf_counter()
            _bounded(pool, iter(names), download, concurrency * 2)
            downloaded = time.perf_counter() - started
    finally:
        delete_container(connection_string, container_name)
    return Transfer(concurrency, total, uploaded, downloaded)


def best_transfers(connection_string: str, root: Path, concurrencies: Sequence[int]) -> list[Transfer]:
    """One raw transfer per concurrency, in order (the caller picks the best of each direction)."""
    results = []
    for concurrency in concurrencies:
        result = raw_transfer(connection_string, root, concurrency)
        print(f"bench: raw transfer x{concurrency}: up {result.bytes / result.upload_seconds / 1e6:.0f} MB/s, "
              f"down {result.bytes / result.download_seconds / 1e6:.0f} MB/s", flush=True)
        results.append(result)
    return results
