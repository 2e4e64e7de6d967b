"""Summarises a py-spy raw (collapsed) profile: time per thread, what each thread waits on, the hot frames."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

# Leaf frames that mean "not on the CPU": (function name prefix, what the thread is waiting for).
_WAITS = (
    ("SocketIO.readinto", "network: waiting for the server's answer"),
    ("HTTPConnection.send", "network: sending the request body"),
    ("SSLSocket.", "network: TLS"),
    ("Condition.wait", "blocked on another thread"),
    ("Event.wait", "blocked on another thread"),
    ("_worker", "idle worker"),
    ("select", "idle"),
)


@dataclass(frozen=True)
class Sample:
    thread: str
    frames: tuple[str, ...]  # outermost first, each "function (file:line)"
    count: int


def load(path: str) -> list[Sample]:
    samples = []
    with open(path) as handle:
        for line in handle:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            frames = stack.split(";")
            thread = frames[0].split(": ", 1)[-1] if frames[0].startswith("thread") else "?"
            samples.append(Sample(thread, tuple(frames[1:]), int(count)))
    return samples


def _name(frame: str) -> str:
    return frame.split(" (", 1)[0]


def _where(frame: str) -> str:
    """'function (path/file.py:12)' -> 'file.py:12 function', shorter for tables."""
    name, _, rest = frame.partition(" (")
    return f"{rest.rstrip(')').rsplit('/', 1)[-1]} {name}" if rest else name


def classify(sample: Sample) -> str:
    leaf = _name(sample.frames[-1]) if sample.frames else ""
    for prefix, meaning in _WAITS:
        if leaf.startswith(prefix):
            return meaning
    if leaf == "commit_and_wait" or "sleep" in leaf:
        return "sleeping (polling)"
    return "on CPU (Python or native code under it)"


def per_thread(samples: Iterable[Sample]) -> dict[str, Counter]:
    """thread -> Counter of classify() -> samples."""
    out: dict[str, Counter] = {}
    for sample in samples:
        out.setdefault(sample.thread, Counter())[classify(sample)] += sample.count
    return out


def below(samples: Iterable[Sample], thread_prefix: str, anchor: str, depth: int = 1) -> Counter:
    """Time of one thread split by the `depth` frames called from the first frame named `anchor`."""
    split: Counter = Counter()
    for sample in samples:
        if not sample.thread.startswith(thread_prefix):
            continue
        names = [_name(frame) for frame in sample.frames]
        if anchor in names:
            start = names.index(anchor) + 1
            split[" > ".join(_where(frame) for frame in sample.frames[start:start + depth]) or "(itself)"] += sample.count
        else:
            split[f"(outside {anchor})"] += sample.count
    return split


def hot_leaves(samples: Iterable[Sample], limit: int = 12) -> list[tuple[str, int]]:
    """The innermost frames where threads were on the CPU, over all threads."""
    leaves: Counter = Counter()
    for sample in samples:
        if classify(sample).startswith("on CPU") and sample.frames:
            leaves[_where(sample.frames[-1])] += sample.count
    return leaves.most_common(limit)


def render(title: str, samples: list[Sample], rate: int, anchor: str) -> str:
    lines = [f"## {title}", ""]
    for thread, kinds in sorted(per_thread(samples).items()):
        total = sum(kinds.values())
        parts = ", ".join(f"{kind} {count / rate:.1f} s" for kind, count in kinds.most_common())
        lines.append(f"- thread {thread}: {total / rate:.1f} s: {parts}")
    lines += ["", f"Main thread below `{anchor}`:", ""]
    for where, count in below(samples, "MainThread", anchor).most_common(10):
        lines.append(f"- {count / rate:5.1f} s  {where}")
    lines += ["", "Hottest frames on the CPU (all threads):", ""]
    for where, count in hot_leaves(samples):
        lines.append(f"- {count / rate:5.1f} s  {where}")
    return "\n".join(lines) + "\n"
