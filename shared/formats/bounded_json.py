"""Parses JSON received from outside the process, refusing nesting deeper than MAX_DEPTH as invalid JSON."""

from __future__ import annotations

import json
from typing import Any

# Our deepest document (a service answer, a message, a key blob, a snapshot document) nests 4
# levels. The bound is fixed, not Python's recursion limit: json.loads raises RecursionError
# only past about 1000 levels less the caller's stack, and a document a little short of that
# parses, then raises RecursionError later, in json.dumps or pydantic, far from the parse.
MAX_DEPTH = 64


class JsonTooDeep(ValueError):
    """A JSON document nested more than MAX_DEPTH levels deep: invalid input, like any bad JSON."""


def parse(raw: bytes | str) -> Any:
    """json.loads, except that a document nested more than MAX_DEPTH levels raises JsonTooDeep."""
    try:
        document = json.loads(raw)
    except RecursionError:
        # The C decoder counts its depth against the recursion limit and unwinds cleanly.
        raise JsonTooDeep(f"JSON nested more than {MAX_DEPTH} levels deep") from None
    level = [document]
    for _ in range(MAX_DEPTH):
        level = [child for node in level for child in _containers_in(node)]
        if not level:
            return document
    raise JsonTooDeep(f"JSON nested more than {MAX_DEPTH} levels deep")


def _containers_in(node: Any) -> list:
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    return [child for child in children if isinstance(child, (dict, list))]
