"""Counts and removes the blobs a benchmark left in an Azurite account (also runnable inside a namespace).

`python -m bench.compare.blob_usage bytes|delete CONNECTION_STRING CONTAINER` prints the bytes stored
in the container, or deletes it; the restic-in-Azurite measurement runs it inside its private network.
"""

from __future__ import annotations

import sys

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient


def container_bytes(connection_string: str, container: str) -> int:
    """The sum of the sizes of every blob in the container (0 if it does not exist)."""
    client = BlobServiceClient.from_connection_string(connection_string).get_container_client(container)
    try:
        return sum(blob.size for blob in client.list_blobs())
    except ResourceNotFoundError:
        return 0


def container_names(connection_string: str) -> set[str]:
    return {item.name for item in BlobServiceClient.from_connection_string(connection_string).list_containers()}


def delete_container(connection_string: str, container: str) -> None:
    """Delete the container; succeeds if it is already gone."""
    try:
        BlobServiceClient.from_connection_string(connection_string).delete_container(container)
    except ResourceNotFoundError:
        pass


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in ("bytes", "delete"):
        print("usage: python -m bench.compare.blob_usage bytes|delete CONNECTION_STRING CONTAINER", file=sys.stderr)
        return 2
    command, connection_string, container = argv
    if command == "bytes":
        print(container_bytes(connection_string, container))
    else:
        delete_container(connection_string, container)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
