"""Sizes as people type them: `1G`, `256M`, `1.5GiB`, `4096` (binary units)."""

from __future__ import annotations

KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30
_UNITS = {"K": KIB, "M": MIB, "G": GIB, "T": 1 << 40}


def parse_size(text: str) -> int:
    """Bytes for a size such as `1G`; a ValueError names the text when it is not one."""
    cleaned = text.strip().upper().removesuffix("IB").removesuffix("B")
    multiplier = _UNITS.get(cleaned[-1:], 1)
    number = cleaned[:-1] if cleaned[-1:] in _UNITS else cleaned
    try:
        value = int(float(number) * multiplier)
    except ValueError:
        raise ValueError(f"{text!r} is not a size (try 1G, 256M or 4096)") from None
    if value <= 0:
        raise ValueError(f"{text!r} is not a positive size")
    return value
