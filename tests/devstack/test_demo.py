"""`make demo` backs up and restores through the running stack and stops only the services it started."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from devstack.stack import REPO_ROOT, Stack

pytestmark = [pytest.mark.stack, pytest.mark.timeout(180)]


def test_the_demo_restores_matching_data_and_stops_only_what_it_started(stack_control: Stack):
    stack_control.stop_service("functions")  # the demo must start this one, and only this one
    emulators = {name: pid for name, pid in stack_control.status().items() if name != "functions"}
    try:
        result = subprocess.run([sys.executable, "-m", "devstack.demo"], cwd=REPO_ROOT,
                                env={**os.environ, "DEVSTACK_DIR": str(stack_control.state_dir)},
                                capture_output=True, text=True, timeout=150)
        assert result.returncode == 0, result.stderr + result.stdout
        assert "demo OK: the restored data matched" in result.stdout
        assert stack_control.pid("functions") is None
        assert {name: stack_control.pid(name) for name in emulators} == emulators and all(emulators.values())
    finally:
        stack_control.up()
