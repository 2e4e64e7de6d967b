"""The commit manifest (`commits/<recovery_point_id>.<sha256>`, JSON, version 2; version 1 read only) as a pydantic model."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from shared.formats import blob_names

HexId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
PackName = Annotated[str, Field(pattern=blob_names.PACK_PATTERN)]
Count = Annotated[int, Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SnapshotRef(_Strict):
    """The snapshot blob of the recovery point, its size in bytes and (from version 2) its SHA-256."""

    name: str
    size: Count
    sha256: Sha256 | None = None


class PackRef(_Strict):
    """A pack the recovery point needs: its blob name, size and the entry count of its index."""

    name: PackName
    size: Count
    chunks: Count


class CommitSummary(_Strict):
    """What the backup saw and did; the catalog shows it, nothing depends on it."""

    files: Count
    dirs: Count
    bytes: Count
    files_new: Count
    files_changed: Count
    files_unchanged: Count
    bytes_read: Count
    bytes_uploaded: Count
    partial: bool
    skipped: Count = 0


class CommitManifest(_Strict):
    """Everything the catalog checks before a recovery point exists (docs/design.md)."""

    version: Literal[1, 2] = 2
    recovery_point_id: HexId
    instance_id: HexId
    client_time: AwareDatetime
    snapshot: SnapshotRef
    packs: list[PackRef]
    key_id: HexId
    summary: CommitSummary

    @model_validator(mode="after")
    def _check_references(self) -> CommitManifest:
        if self.snapshot.name != blob_names.snapshot_name(self.recovery_point_id):
            raise ValueError("the snapshot must be snapshots/<recovery_point_id>")
        if self.version >= 2 and self.snapshot.sha256 is None:
            raise ValueError("a version 2 manifest names the snapshot's sha256")
        names = [pack.name for pack in self.packs]
        if names != sorted(set(names)):
            raise ValueError("packs must be sorted by name and unique")
        return self

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json_bytes(cls, raw: bytes) -> CommitManifest:
        return cls.model_validate_json(raw)
