"""Starts the benchmark's own local stack (its own state folder and ports), so no developer's stack is touched."""

from __future__ import annotations

from pathlib import Path

from devstack.ports import DEFAULT_PORTS, free_port
from devstack.stack import Stack


class BenchStack:
    """The stack under bench/.data/stack; stopped at the end only if this run started it."""

    def __init__(self, state_dir: Path) -> None:
        # Prefer free ports over the defaults, which belong by habit to the developers' stacks.
        preferred: dict[str, int] = {}
        for key in DEFAULT_PORTS:
            preferred[key] = free_port(excluded=preferred.values())
        self.stack = Stack(state_dir, preferred_ports=preferred)
        self._started = False

    def up(self) -> dict[str, str]:
        self._started = not self.stack.is_up()
        return self.stack.up()

    def down(self, keep: bool = False) -> None:
        if self._started and not keep:
            self.stack.down()
