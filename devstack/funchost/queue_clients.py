"""Builds queue clients from a binding's connection setting and encodes or decodes message bodies."""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import LinearRetry, QueueClient

from devstack.funchost.app_settings import AppSettingError

DEFAULT_CONNECTION = "AzureWebJobsStorage"


class MessageDecodeError(Exception):
    """A message's content is not valid for the configured messageEncoding."""


def connection_string(setting_name: str | None, environ: Mapping[str, str] = os.environ) -> str:
    """The connection string held by the binding's `connection` app setting."""
    name = setting_name or DEFAULT_CONNECTION
    value = environ.get(name) or environ.get(f"AzureWebJobs{name}")
    if value:
        return value
    if environ.get(f"{name}__queueServiceUri"):
        raise AppSettingError(f"connection {name} is identity-based; the local host needs a connection string")
    raise AppSettingError(f"connection setting {name} is not set")


def queue_client(conn_str: str, queue_name: str) -> QueueClient:
    """A client that sends and receives message text unchanged: the host does the base64 itself."""
    return QueueClient.from_connection_string(
        conn_str,
        queue_name,
        message_encode_policy=None,
        message_decode_policy=None,
        # A few quick retries: in an outage a settle fails within seconds and the message reappears.
        retry_policy=LinearRetry(backoff=1, random_jitter_range=0.5, retry_total=3),
        connection_timeout=5,
        read_timeout=20,
    )


def decode_body(content: str | None, encoding: str) -> bytes:
    """The message body as the function sees it; invalid base64 raises MessageDecodeError."""
    text = content or ""
    if encoding == "none":
        return text.encode("utf-8")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise MessageDecodeError(f"message is not valid base64 ({exc})") from exc


def encode_body(body: str | bytes, encoding: str) -> str:
    """The message text to put on the wire for a body."""
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    if encoding == "none":
        return raw.decode("utf-8")
    return base64.b64encode(raw).decode("ascii")


def send_text(client: QueueClient, text: str) -> None:
    """Send message text, creating the queue first if it does not exist yet."""
    try:
        client.send_message(text)
    except ResourceNotFoundError:
        try:
            client.create_queue()
        except ResourceExistsError:
            pass
        client.send_message(text)
