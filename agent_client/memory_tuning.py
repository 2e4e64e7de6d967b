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


def limit_heap_growth() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, _THRESHOLD)
        libc.mallopt(_M_ARENA_MAX, 2)
    except (OSError, AttributeError):
        pass  # not glibc (musl, ...): nothing to tune
