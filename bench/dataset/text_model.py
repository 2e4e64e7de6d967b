"""Source-like and log-like text: words from a skewed vocabulary, lines drawn from a shared pool.

A shared pool makes files resemble each other (as a source tree's files do) and a few lines that
recur inside one file give the local repetition compressors find; zstd shrinks it about 3x.
"""

from __future__ import annotations

import itertools
import random

_SYLLABLES = ("ab ac al an ar as be bo ca co da de di do el en er es fa fi ga ge ha he in io is it ka "
              "la le li lo ma me mi mo na ne no nu or pa pe po ra re ri ro sa se si so ta te ti to "
              "un ur va ve vi zo buf ptr len idx tmp val get set str obj cnt").split()
_TOKENS = ("def return if else for while import from class self None True False try except raise "
           "with pass break continue yield int char void static const struct unsigned NULL include "
           "function var let this new async await export ( ) : , . = == + - * { } [ ] ; -> != < > "
           "&& || # // \"").split()
_LOCAL_LINES = 32


class TextModel:
    """Text generator whose vocabulary and line pool depend only on the seed it was built with."""

    def __init__(self, seed: str, vocabulary: int = 5000, pool: int = 50_000) -> None:
        rng = random.Random(f"{seed}/text-model")
        words: set[str] = set()
        while len(words) < vocabulary:
            word = "".join(rng.choices(_SYLLABLES, k=rng.randint(1, 4)))
            words.add(word + ("_" + rng.choice(_SYLLABLES) if rng.random() < 0.25 else ""))
        lexicon = list(_TOKENS) + sorted(words)
        rng.shuffle(lexicon)
        cumulative = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(lexicon))))  # Zipf
        lines = []
        for _ in range(pool):
            indent = "    " * rng.randint(0, 3)
            lines.append(indent + " ".join(rng.choices(lexicon, cum_weights=cumulative, k=rng.randint(2, 12))))
        self.pool = lines

    def text(self, size: int, rng: random.Random) -> bytes:
        """Exactly `size` bytes of text: pool lines with a fifth of them from a per-file set."""
        local = rng.sample(self.pool, _LOCAL_LINES)
        parts: list[str] = []
        length = 0
        while length < size:
            batch = rng.choices(self.pool, k=128)
            batch[::5] = rng.choices(local, k=len(batch[::5]))
            parts.extend(batch)
            length += sum(len(line) + 1 for line in batch)
        return ("\n".join(parts) + "\n").encode()[:size]
