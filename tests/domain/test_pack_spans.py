"""Spans of commit sequence numbers say exactly which points reference a pack (property tests)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.pack_spans import Span, diff, is_needed, purge_candidates, spans_of_history

PACKS = st.sampled_from([f"p{n}" for n in range(8)])
HISTORY = st.lists(st.frozensets(PACKS, max_size=6), min_size=1, max_size=12)


def _incremental(instance: str, history: list[frozenset[str]]) -> set[Span]:
    """The spans as commits write them: open the added packs' spans, close the removed packs' ones."""
    spans: dict[tuple[str, int], Span] = {}
    previous = None
    for seq, packs in enumerate(history, start=1):
        change = diff({p: 1 for p in previous} if previous is not None else None, {p: 1 for p in packs})
        for pack in change.added:
            spans[(pack, seq)] = Span(instance, pack, seq)
        for pack in change.removed:
            key = next(key for key, span in spans.items() if span.pack == pack and span.last is None)
            spans[key] = Span(instance, pack, spans[key].first, seq - 1)
        previous = packs
    return set(spans.values())


@given(HISTORY)
def test_commits_write_the_spans_the_history_has(history):
    assert _incremental("i", history) == set(spans_of_history("i", enumerate(history, start=1)))


@given(HISTORY, st.data())
def test_a_pack_is_needed_exactly_while_a_point_holding_it_exists(history, data):
    spans = spans_of_history("i", enumerate(history, start=1))
    existing = data.draw(st.sets(st.integers(1, len(history))))
    for pack in {p for packs in history for p in packs}:
        holders = {seq for seq, packs in enumerate(history, start=1) if pack in packs}
        assert is_needed([s for s in spans if s.pack == pack], {"i": existing}) == bool(holders & existing)


@given(HISTORY, st.data())
@settings(max_examples=300)
def test_purge_candidates_include_every_pack_the_purge_frees(history, data):
    existing = sorted(data.draw(st.sets(st.integers(1, len(history)), min_size=1)))
    purged = data.draw(st.sampled_from(existing))
    rest = [seq for seq in existing if seq != purged]
    previous = max((seq for seq in rest if seq < purged), default=None)
    following = min((seq for seq in rest if seq > purged), default=None)
    manifest = lambda seq: history[seq - 1] if seq is not None else None  # noqa: E731
    candidates = purge_candidates(manifest(purged), manifest(previous), manifest(following))
    freed = {p for p in manifest(purged) if not any(p in history[seq - 1] for seq in rest)}
    assert freed <= candidates <= set(manifest(purged))


def test_a_diff_names_a_pack_declared_with_another_size():
    change = diff({"a": 1, "b": 2}, {"b": 3, "c": 4})
    assert (change.added, change.removed, change.resized) == ({"c"}, {"a"}, {"b"})


def test_a_machines_first_point_adds_every_pack():
    assert diff(None, {"a": 1}).added == {"a"}
