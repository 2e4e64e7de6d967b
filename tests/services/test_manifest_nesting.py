"""A deeply nested commit manifest is rejected like any invalid one: pydantic-core bounds its own JSON parser."""

import hashlib
from types import SimpleNamespace

import pytest

from shared.errors import CommitRejected
from shared.formats.commit_manifest import CommitManifest
from shared.services.commit_checks import load_manifest

DEEP = {"unclosed-arrays": b"[" * 100_000, "in-a-field": b'{"version": 1, "packs": ' + b"[" * 100_000,
        "closed-300-levels": b'{"version": 1, "summary": ' + b"[" * 300 + b"]" * 300 + b"}"}


class _OneBlob:
    def __init__(self, content: bytes) -> None:
        self.content = content

    def blob_properties(self, container: str, name: str):
        return SimpleNamespace(size=len(self.content), blob_type="BlockBlob")

    def read(self, container: str, name: str) -> bytes:
        return self.content


@pytest.mark.parametrize("manifest", DEEP.values(), ids=DEEP.keys())
def test_the_catalog_rejects_a_deeply_nested_manifest(manifest):
    rt = SimpleNamespace(primary_blobs=_OneBlob(manifest))
    with pytest.raises(CommitRejected, match="invalid commit manifest.*recursion limit") as raised:
        load_manifest(rt, "vault-container", f"commits/{'ab' * 16}.{hashlib.sha256(manifest).hexdigest()}")
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("manifest", DEEP.values(), ids=DEEP.keys())
def test_the_client_sees_a_deeply_nested_manifest_as_invalid(manifest):
    with pytest.raises(ValueError, match="recursion limit"):  # recovery_point_access treats ValueError as unreadable
        CommitManifest.from_json_bytes(manifest)
