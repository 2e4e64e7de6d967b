"""The real function app with a crash switch: the host SIGKILLs itself right after a chosen write.

Settings (read from the host's environment):
  RELIABILITY_CRASH_VAULT  the vault whose writes count (other tests' vaults are left alone)
  RELIABILITY_CRASH_PLAN   "catalog:3,replication:5": die right after the 3rd write the catalog
                           function makes for that vault, and after the 5th of replication
  RELIABILITY_CRASH_LOG    a file with one line per counted write and per crash; a restarted host
                           reads it back, so positions count across restarts and each fires once

A write is a Cosmos create/upsert/replace/delete, a blob put/delete/copy/container create or a
queue send. The function making it is found on the call stack (the trigger module in functions/,
or the service module for work it handed to a thread pool).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

from function_app import app  # noqa: F401 - the host loads `app` from this module
from shared import runtime as runtime_module
from shared.adapters.cosmos_documents import CONTAINERS
from shared.runtime import Runtime
from shared.settings import load_settings

WRITES = {
    "cosmos": ("create", "upsert", "replace", "delete"),
    "blobs": ("put_blob", "delete_blob", "copy_to", "ensure_container"),
    "queues": ("send", "move"),
}


class CrashSwitch:
    def __init__(self, vault_id: str, plan: str, log_path: Path) -> None:
        self.vault_id = vault_id
        self.plan = {f: int(n) for f, n in (part.split(":") for part in plan.split(",") if part)}
        self.log_path = log_path
        self.counts: dict[str, int] = {}
        self.fired: set[str] = set()
        self.lock = threading.Lock()
        if log_path.exists():
            for line in log_path.read_text().splitlines():
                words = line.split()
                if words and words[0] == "CRASH":
                    self.fired.add(words[1])
                elif len(words) >= 2:
                    self.counts[words[0]] = max(self.counts.get(words[0], 0), int(words[1]))

    def after_write(self, what: str, args: tuple) -> None:
        if self.vault_id not in repr(args):
            return
        function = _calling_function()
        if function is None:
            return
        with self.lock:
            count = self.counts[function] = self.counts.get(function, 0) + 1
            crash = self.plan.get(function) == count and function not in self.fired
            with self.log_path.open("a") as log:
                log.write(f"{function} {count} {what}\n")
                if crash:
                    log.write(f"CRASH {function} {count}\n")
            if crash:
                os.kill(os.getpid(), signal.SIGKILL)


# Work a function hands to a thread pool has no trigger frame on its stack; its service module names it.
POOLED_SERVICES = {"shared.services.replication": "replication", "shared.services.catalog": "catalog"}


def _calling_function() -> str | None:
    frame = sys._getframe(2)
    pooled = None
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith("functions.") and not module.startswith("functions._"):
            return module.removeprefix("functions.")
        pooled = pooled or POOLED_SERVICES.get(module)
        frame = frame.f_back
    return pooled


class Counted:
    """Passes every call through to the target, and reports the writes after they succeed."""

    def __init__(self, target, kind: str, switch: CrashSwitch) -> None:
        self._target, self._kind, self._switch = target, kind, switch

    def __getattr__(self, name: str):
        attribute = getattr(self._target, name)
        if name not in WRITES[self._kind]:
            return attribute

        def write(*args, **kwargs):
            result = attribute(*args, **kwargs)
            self._switch.after_write(f"{self._kind}.{name}", args)
            return result

        return write


def _install() -> None:
    vault_id = os.environ.get("RELIABILITY_CRASH_VAULT", "")
    log_path = Path(os.environ.get("RELIABILITY_CRASH_LOG") or os.devnull)
    switch = CrashSwitch(vault_id, os.environ.get("RELIABILITY_CRASH_PLAN", ""), log_path)
    rt = Runtime.from_settings(load_settings())
    for name in CONTAINERS:
        setattr(rt.catalog, name, Counted(getattr(rt.catalog, name), "cosmos", switch))
    rt.primary_blobs = Counted(rt.primary_blobs, "blobs", switch)
    if rt.secondary_blobs is not None:
        rt.secondary_blobs = Counted(rt.secondary_blobs, "blobs", switch)
    rt.queues = Counted(rt.queues, "queues", switch)
    runtime_module._runtime = rt


if os.environ.get("RELIABILITY_CRASH_VAULT"):
    _install()
