"""Runs the stack's Functions host as tests/reliability/crash_app.py and restarts it each time it kills itself."""

from __future__ import annotations

import json
import time
from pathlib import Path

import urllib3

from devstack.errors import StackError
from devstack.stack import Stack

CRASH_APP = "tests.reliability.crash_app:app"
# A message a dead host had received reappears after its lease, which the host takes from
# functionTimeout (10 minutes in host.json); a few seconds keep a crash test short.
CRASH_FUNCTION_TIMEOUT = "00:00:06"
LEASE_SECONDS = 6


class CrashingHost:
    """The Functions host of a running stack, swapped for the crash app until restore() is called."""

    def __init__(self, stack: Stack, folder: Path, vault_id: str, plan: dict[str, int]) -> None:
        self.stack = stack
        self.log = folder / f"crash-{vault_id}.log"
        host_json = json.loads((stack.repo_root / "host.json").read_text())
        host_json["functionTimeout"] = CRASH_FUNCTION_TIMEOUT
        self.host_json = folder / "host-crash.json"
        self.host_json.write_text(json.dumps(host_json))
        self.settings = {
            "RELIABILITY_CRASH_VAULT": vault_id,
            "RELIABILITY_CRASH_PLAN": ",".join(f"{f}:{n}" for f, n in plan.items()),
            "RELIABILITY_CRASH_LOG": str(self.log),
        }
        self.restarts = 0

    def _crashing_stack(self) -> Stack:
        return Stack(self.stack.state_dir, app=CRASH_APP, host_json=self.host_json, extra_settings=self.settings)

    def start(self) -> None:
        self.stack.stop_service("functions")
        self._start_crashing_host()

    def supervise(self) -> None:
        """Restarts the host if it killed itself (called from every wait loop)."""
        if self.stack.pid("functions") is None:
            self.restarts += 1
            self._start_crashing_host()

    def _start_crashing_host(self) -> None:
        """Start the crash app; a planned crash may fire before its HTTP port is ready, so start again.

        A message the dead host held can be delivered to the new one as soon as it polls, which
        can be before the start-up probe passes: that death is a planned crash (a new CRASH line),
        not a broken host. Each planned crash fires once, so this loop ends.
        """
        while True:
            fired = len(self.crashes())
            try:
                self._crashing_stack().start_service("functions")
                return
            except StackError:
                if len(self.crashes()) == fired:
                    raise
                self.restarts += 1

    def restore(self) -> None:
        """The stack's own host again (rewriting its settings restarts it)."""
        self.stack.stop_service("functions")
        self.stack.start_service("functions")

    def crashes(self) -> list[tuple[str, int]]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [(w[1], int(w[2])) for w in (line.split() for line in lines) if w[0] == "CRASH"]

    def writes(self) -> dict[str, int]:
        """How many writes each function made for the vault (the positions a crash can take)."""
        counts: dict[str, int] = {}
        for words in (line.split() for line in (self.log.read_text().splitlines() if self.log.exists() else [])):
            if words[0] != "CRASH":
                counts[words[0]] = max(counts.get(words[0], 0), int(words[1]))
        return counts

    def wait(self, predicate, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.supervise()
            value = predicate()
            if value:
                return value
            time.sleep(0.3)
        raise AssertionError(f"{what} did not happen within {timeout:.0f} s (crashes so far: {self.crashes()})")

    def invoke(self, function: str, timeout: float = 600) -> None:
        """POST /admin/functions/<name> until one invocation completes (a crash breaks the request)."""
        http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=timeout))
        env = self.stack.env()
        url = f"{env['FUNCTIONS_ADMIN_URL']}/functions/{function}"
        headers = {"x-functions-key": env["FUNCTIONS_MASTER_KEY"]}

        def completed() -> bool:
            try:
                response = http.request("POST", url, json={"input": ""}, headers=headers)
            except urllib3.exceptions.HTTPError:
                return False
            assert response.status in (202, 500), response.data
            return response.status == 202

        self.wait(completed, timeout, f"a complete run of {function}")
