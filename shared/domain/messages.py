"""Queue message schemas (versioned pydantic models) and their strict decoding."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.formats import blob_names

from shared.formats import bounded_json

MAX_MESSAGE_BYTES = 48 * 1024
_HEX32 = r"^[0-9a-f]{32}$"


class MessageError(ValueError):
    """A queue message that cannot be decoded or does not validate; it will end in poison."""


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CommitMessage(_Message):
    version: Literal[1] = 1
    vault_id: str = Field(pattern=_HEX32)
    instance_id: str = Field(pattern=_HEX32)
    recovery_point_id: str = Field(pattern=_HEX32)
    # Any commit name, the legacy digest-less one too: the catalog rejects that with a reason.
    commit_blob: str = Field(pattern=blob_names.ANY_COMMIT_PATTERN)
    enqueued_at: datetime


class ReplicationMessage(_Message):
    version: Literal[1] = 1
    vault_id: str = Field(pattern=_HEX32)
    recovery_point_id: str | None = Field(default=None, pattern=_HEX32)
    op: Literal["copy", "delete"]
    blobs: list[str] = Field(default_factory=list, max_length=400)

    @field_validator("blobs")
    @classmethod
    def _layout_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not blob_names.in_layout(name):
                raise ValueError(f"invalid blob name {name!r}")
        return names


class UsageEvent(_Message):
    version: Literal[1] = 1
    event_id: str = Field(min_length=3, max_length=128, pattern=r"^[a-z_]+:[0-9a-f]{32}$")
    vault_id: str = Field(pattern=_HEX32)
    instance_id: str | None = Field(default=None, pattern=_HEX32)
    kind: Literal["backup", "restore", "replicated", "purged"]
    occurred_at: datetime
    bytes: int = Field(default=0, ge=0)
    transactions: int = Field(default=0, ge=0)


def encode(message: _Message) -> bytes:
    body = message.model_dump_json().encode()
    if len(body) > MAX_MESSAGE_BYTES:
        raise MessageError(f"message of {len(body)} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit")
    return body


def decode(model: type[_Message], body: bytes | str):
    """Parses one message body strictly; raises MessageError with a one-line reason."""
    raw = body.encode() if isinstance(body, str) else body
    if len(raw) > MAX_MESSAGE_BYTES:
        raise MessageError(f"message of {len(raw)} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit")
    try:
        payload = bounded_json.parse(raw)
    except bounded_json.JsonTooDeep as exc:
        raise MessageError(f"message body is {exc}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise MessageError("message body is not JSON") from exc
    if not isinstance(payload, dict):
        raise MessageError("message body is not a JSON object")
    if payload.get("version") != 1:
        raise MessageError(f"unknown message version {payload.get('version')!r}")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise MessageError(f"invalid {model.__name__}: {where}: {first['msg']}") from exc
