"""Reads a request body by its framing (Content-Length or chunked) within one deadline for the whole body."""

from __future__ import annotations

import re
import socket
import time
from email.message import Message
from typing import BinaryIO

_DECIMAL = re.compile(r"[0-9]+")
_HEX = re.compile(rb"[0-9A-Fa-f]+")
# Longer than any chunk-size or trailer line a client sends, as http.server bounds its request line.
_MAX_LINE = 65536
# read1 allocates what it is asked for: a huge Content-Length must not become one huge buffer.
_MAX_READ = 65536


class BodyError(Exception):
    """The body cannot be read; status is the answer: 400 for broken framing, 408 for a body that is late."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _DeadlineReader:
    """Reads a connection's buffered file, every read bounded by what is left of one deadline."""

    def __init__(self, rfile: BinaryIO, connection: socket.socket, seconds: float) -> None:
        self._rfile = rfile
        self._connection = connection
        self._seconds = seconds
        self._deadline = time.monotonic() + seconds

    def read(self, size: int) -> bytes:
        parts = []
        while size > 0:
            parts.append(self._read_some(min(size, _MAX_READ)))
            size -= len(parts[-1])
        return b"".join(parts)

    def readline(self) -> bytes:
        line = bytearray()
        while not line.endswith(b"\n"):
            if len(line) >= _MAX_LINE:
                raise BodyError(400, f"a chunk-size or trailer line is longer than {_MAX_LINE} bytes")
            line += self._read_some(1)
        return bytes(line)

    def _read_some(self, size: int) -> bytes:
        remaining = self._deadline - time.monotonic()
        try:
            if remaining <= 0:
                raise TimeoutError
            self._connection.settimeout(remaining)
            part = self._rfile.read1(size)
        except TimeoutError:
            raise BodyError(408, f"the body did not arrive within {self._seconds:g} s") from None
        if not part:
            raise BodyError(400, "the connection ended before the whole body arrived")
        return part


def _content_length(headers: Message) -> int:
    values = {value.strip() for value in headers.get_all("Content-Length", [])}
    if not values:
        return 0
    (value, *others) = values
    if others or not _DECIMAL.fullmatch(value):
        raise BodyError(400, f"Content-Length must be one non-negative integer, not {', '.join(sorted(values))!r}")
    return int(value)


def _read_chunked(reader: _DeadlineReader) -> bytes:
    chunks = []
    while True:
        size_field = reader.readline().split(b";")[0].strip()
        if not _HEX.fullmatch(size_field):
            raise BodyError(400, f"a chunk size must be hexadecimal digits, not {size_field[:32]!r}")
        size = int(size_field, 16)
        if size == 0:
            break
        chunks.append(reader.read(size))
        if reader.readline().strip():
            raise BodyError(400, "a chunk is longer than its size says")
    while reader.readline().strip():
        pass  # trailers
    return b"".join(chunks)


def read_body(headers: Message, rfile: BinaryIO, connection: socket.socket, seconds: float) -> bytes:
    """The body of the request whose headers were read from rfile; raises BodyError."""
    reader = _DeadlineReader(rfile, connection, seconds)
    previous_timeout = connection.gettimeout()
    try:
        if headers.get("Transfer-Encoding", "").lower() == "chunked":
            return _read_chunked(reader)
        return reader.read(_content_length(headers))
    finally:
        connection.settimeout(previous_timeout)
