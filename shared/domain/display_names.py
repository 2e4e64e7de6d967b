"""Checks a name a person gives a machine: printable text on one line, nothing that rewrites a terminal.

Names reach terminals, logs and web pages of other people (operators list every machine), so a
name may not carry control characters (C0, DEL, C1), bidirectional or other invisible format
characters (which make a listing show something other than what it holds), unassigned or private
code points, or line separators. It is stored in NFC so that one name has one spelling.
"""

from __future__ import annotations

import unicodedata

MAX_LENGTH = 128
# Cc controls, Cf format (bidi overrides, zero-width), Cs surrogates, Co private use, Cn unassigned,
# Zl/Zp line and paragraph separators.
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def check_display_name(value: str) -> str:
    """The name in NFC; raises ValueError with a one-line reason."""
    name = unicodedata.normalize("NFC", value)
    if not name or len(name) > MAX_LENGTH:
        raise ValueError(f"a name has 1 to {MAX_LENGTH} characters")
    if name != name.strip():
        raise ValueError("a name does not start or end with white space")
    for character in name:
        if unicodedata.category(character) in _REFUSED_CATEGORIES:
            raise ValueError(f"a name may not contain the character U+{ord(character):04X}")
    return name


def name_key(name: str) -> str:
    """What makes two names the same name: case and Unicode spelling do not count."""
    return unicodedata.normalize("NFC", name).casefold()
