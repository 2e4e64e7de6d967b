"""One contract for every VaultBlobs: the in-memory fake and the SAS adapter on Azurite pass the same tests.

The SAS is made here with azure-storage-blob (tests only) with exactly the client's permissions:
read, create, list; no write, no delete.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from agent_client.errors import BlobConflictError, BlobNotFoundError, ServiceError
from agent_client.ports import iter_blobs
from agent_client.retrying_blobs import RetryingBlobs
from agent_client.sas_blobs import SasBlobs

from .fakes import MemoryBlobs


@pytest.fixture
def azurite_blobs(stack):
    from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

    service = BlobServiceClient.from_connection_string(stack["PRIMARY_STORAGE_CONNECTION_STRING"])
    container = service.create_container(f"vault-contract-{uuid.uuid4().hex[:12]}")
    sas = generate_container_sas(
        service.account_name, container.container_name, account_key=service.credential.account_key,
        permission=ContainerSasPermissions(read=True, create=True, list=True),
        expiry=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    yield RetryingBlobs(SasBlobs(container.url, sas, list_page_size=2), attempts=3)
    container.delete_container()


@pytest.fixture(params=["memory", pytest.param("azurite", marks=pytest.mark.stack)])
def vault_blobs(request):
    if request.param == "memory":
        return MemoryBlobs(page_size=2)
    return request.getfixturevalue("azurite_blobs")


@pytest.fixture
def plant(request, vault_blobs):
    """Creates a blob as another writer would, of any kind (the account key on Azurite)."""
    if isinstance(vault_blobs, MemoryBlobs):
        return vault_blobs.plant
    from azure.storage.blob import BlobClient

    inner = vault_blobs._inner
    stack = request.getfixturevalue("stack")

    def plant_blob(name: str, data: bytes, blob_type: str = "BlockBlob") -> None:
        container = inner._container_url.rsplit("/", 1)[1]
        client = BlobClient.from_connection_string(stack["PRIMARY_STORAGE_CONNECTION_STRING"], container, name)
        client.upload_blob(data, blob_type=blob_type)

    return plant_blob


def test_put_new_then_get(vault_blobs):
    assert vault_blobs.put_new("packs/aa", b"pack bytes") is True
    assert vault_blobs.get("packs/aa") == b"pack bytes"


def test_put_new_from_parts_writes_them_in_order(vault_blobs):
    parts = [os.urandom(1000), b"", os.urandom(70_000), b"tail"]
    assert vault_blobs.put_new("packs/parts", parts) is True
    assert vault_blobs.get("packs/parts") == b"".join(parts)


def test_put_new_never_overwrites_and_refuses_a_name_taken_with_other_bytes(vault_blobs):
    vault_blobs.put_new("snapshots/x", b"first")
    with pytest.raises(BlobConflictError, match="snapshots/x"):
        vault_blobs.put_new("snapshots/x", b"second")
    assert vault_blobs.get("snapshots/x") == b"first"


def test_put_new_of_the_same_bytes_again_is_false_not_an_error(vault_blobs):
    """A retry whose first answer was lost finds its own blob."""
    assert vault_blobs.put_new("commits/x", [b"man", b"ifest"]) is True
    assert vault_blobs.put_new("commits/x", b"manifest") is False
    assert vault_blobs.get("commits/x") == b"manifest"


def test_a_blob_of_another_kind_is_listed_as_such_and_never_taken_for_ours(vault_blobs, plant):
    plant("packs/planted", b"\0" * 512, "PageBlob")
    assert [(b.name, b.blob_type) for b in iter_blobs(vault_blobs, "packs/")] == [("packs/planted", "PageBlob")]
    with pytest.raises(BlobConflictError):
        vault_blobs.put_new("packs/planted", b"\0" * 512)


def test_missing_blobs_raise_not_found(vault_blobs):
    with pytest.raises(BlobNotFoundError):
        vault_blobs.get("packs/none")
    with pytest.raises(BlobNotFoundError):
        vault_blobs.get_range("packs/none", 0, 10)


def test_ranged_reads(vault_blobs):
    data = os.urandom(5 << 20)
    vault_blobs.put_new("packs/big", data)
    assert vault_blobs.get_range("packs/big", 1000, 4096) == data[1000:5096]
    assert vault_blobs.get_range("packs/big", len(data) - 48, 48) == data[-48:]
    assert vault_blobs.get_range("packs/big", len(data) - 10, 100) == data[-10:]
    assert vault_blobs.get_range("packs/big", 0, 0) == b""


def test_listing_by_prefix_across_pages_in_name_order(vault_blobs):
    names = [f"packs/{index:02x}" for index in range(5)]
    for name in reversed(names):
        vault_blobs.put_new(name, name.encode() * 3)
    vault_blobs.put_new("snapshots/other", b"x")
    listed = list(iter_blobs(vault_blobs, "packs/"))
    assert [blob.name for blob in listed] == names
    assert [blob.size for blob in listed] == [len(name) * 3 for name in names]
    assert list(iter_blobs(vault_blobs, "keys/")) == []


@pytest.mark.stack
def test_the_sas_cannot_overwrite_or_delete(azurite_blobs):
    azurite_blobs.put_new("packs/kept", b"original")
    adapter = azurite_blobs._inner
    response = adapter._pool.request("PUT", adapter._blob_url("packs/kept"), body=b"evil",
                                     headers={"x-ms-blob-type": "BlockBlob"})
    assert response.status == 403
    response = adapter._pool.request("DELETE", adapter._blob_url("packs/kept"))
    assert response.status == 403
    assert azurite_blobs.get("packs/kept") == b"original"


@pytest.mark.stack
def test_an_expired_or_wrong_sas_is_a_clear_service_error(azurite_blobs):
    adapter = azurite_blobs._inner
    broken = SasBlobs(adapter._container_url, "sv=2021-08-06&sig=forged", list_page_size=2)
    with pytest.raises(ServiceError, match="refused"):
        broken.put_new("packs/x", b"x")
