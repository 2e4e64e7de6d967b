"""Starts the benchmark's own local stack (its own state folder and ports), so no developer's stack is touched."""

from __future__ import annotations

import shutil
from pathlib import Path

from devstack.ports import DEFAULT_PORTS, free_port
from devstack.stack import Stack


class BenchStack:
    """The stack under bench/.data/stack; stopped (and its state removed) at the end only if this run started it.

    Its state is disposable: Azurite keeps the extents of deleted blobs until its own collector
    runs, so a stack stopped right after a run would grow by the bytes of every run before it,
    and a larger Azurite database is a slower one. Each run that starts the stack starts it empty.
    """

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        # Prefer free ports over the defaults, which belong by habit to the developers' stacks.
        preferred: dict[str, int] = {}
        for key in DEFAULT_PORTS:
            preferred[key] = free_port(excluded=preferred.values())
        self.stack = Stack(state_dir, preferred_ports=preferred)
        self._started = False

    def up(self) -> dict[str, str]:
        self._started = not self.stack.is_up()
        if self._started:
            self.stack.down()  # whatever part of it still runs, so no process outlives its pid file
            shutil.rmtree(self.state_dir, ignore_errors=True)
        return self.stack.up()

    def down(self, keep: bool = False) -> None:
        if self._started and not keep:
            self.stack.down()
            shutil.rmtree(self.state_dir, ignore_errors=True)
