"""Keeps glibc from hoarding freed pack-sized buffers, so the client's resident memory stays flat.

glibc raises its mmap threshold after the first large free (up to 32 MiB), after which 8-16 MiB
read blocks and packs come from per-thread heaps that are rarely given back. A fixed threshold
makes every buffer of 4 MiB or more a mapping of its own, returned to the system when freed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
_THRESHOLD = 4 << 20


def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 - both exist only in glibc
        return libc
    except (OSError, AttributeError):
        return None  # not glibc (musl, ...): nothing to tune


_LIBC = _glibc()


def limit_heap_growth() -> None:
    if _LIBC is not None:
        _LIBC.mallopt(_M_MMAP_THRESHOLD, _THRESHOLD)
        _LIBC.mallopt(_M_ARENA_MAX, 2)


def release_free_memory() -> None:
    """Returns freed heap pages to the system (glibc's malloc_trim also releases pages inside the heap)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
