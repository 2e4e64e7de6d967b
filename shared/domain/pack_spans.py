"""Which packs a machine's recovery points reference, as spans of commit sequence numbers (pure).

Each commit of a machine gets the next sequence number of that machine. A span says "pack P was
in every point of machine I from sequence `first` to `last`" (`last` None: still in its newest
point). A commit changes only the spans of the packs that entered or left the machine's newest
point, so its cost follows the data that changed, not the data it reuses; and a pack is needed
exactly while some point that still exists lies inside one of its spans.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ManifestDiff:
    """How a machine's new point differs from its previous one, by pack name."""

    added: frozenset[str]
    removed: frozenset[str]
    resized: frozenset[str]  # in both, declared with another size: a commit that lies about a pack


def diff(previous: Mapping[str, int] | None, current: Mapping[str, int]) -> ManifestDiff:
    """The packs (name -> size) that entered and left; `previous` None: the machine's first point."""
    before = previous or {}
    added = frozenset(name for name in current if name not in before)
    removed = frozenset(name for name in before if name not in current)
    resized = frozenset(name for name in current if name in before and before[name] != current[name])
    return ManifestDiff(added, removed, resized)


@dataclass(frozen=True)
class Span:
    """Pack `pack` was in every point of `instance_id` from sequence `first` to `last` (None: still is)."""

    instance_id: str
    pack: str
    first: int
    last: int | None = None

    @property
    def doc_id(self) -> str:
        # Deterministic: a repeated delivery of the same commit writes the same span, not a second one.
        return span_id(self.instance_id, self.pack, self.first)

    def covers(self, seq: int) -> bool:
        return self.first <= seq and (self.last is None or seq <= self.last)


def span_id(instance_id: str, pack: str, first: int) -> str:
    return f"span:{instance_id}:{pack}:{first}"


def spans_of_history(instance_id: str, manifests: Iterable[tuple[int, Iterable[str]]]) -> list[Span]:
    """The spans of a machine's points, from (sequence, pack names) in sequence order.

    What the commits would have written one by one; the migration of a vault cataloged before
    spans builds them this way, one manifest in memory at a time.
    """
    open_since: dict[str, int] = {}
    closed: list[Span] = []
    previous_seq = None
    for seq, packs in manifests:
        present = set(packs)
        for pack in [p for p in open_since if p not in present]:
            closed.append(Span(instance_id, pack, open_since.pop(pack), previous_seq))
        for pack in present:
            open_since.setdefault(pack, seq)
        previous_seq = seq
    return closed + [Span(instance_id, pack, first) for pack, first in open_since.items()]


def is_needed(spans: Iterable[Span], existing_seqs: Mapping[str, Iterable[int]]) -> bool:
    """Whether any point that still exists (pending, committed, deleted or purging; by machine)
    lies inside one of the pack's spans."""
    return any(span.covers(seq) for span in spans for seq in existing_seqs.get(span.instance_id, ()))


def purge_candidates(purged: Iterable[str], previous: Iterable[str] | None, following: Iterable[str] | None) -> set[str]:
    """The packs that purging a point may free: those of its manifest in neither neighbour.

    `previous` and `following` are the manifests of the machine's nearest points before and
    after it that still exist (None if there is none). A pack freed by the purge is in no other
    point of the machine, so in neither neighbour: the candidates include every freed pack, and
    each is confirmed against its spans (a pack can also be back in a later point after a gap,
    or in another machine's points) before it is condemned.
    """
    return set(purged) - set(previous or ()) - set(following or ())
