"""Runs restic's own Azurite in a private network namespace, where it can own 127.0.0.1:10000.

restic 0.14's Azure backend reaches the emulator only as the well-known `devstoreaccount1` account at
http://127.0.0.1:10000, a port the developers' stacks may hold. `unshare --net` gives a namespace
with its own loopback; a sleeping holder process keeps it alive and `nsenter` runs commands in it.
"""

from __future__ import annotations

import select
import shutil
import subprocess
import time
from pathlib import Path

from bench.compare.dataset import REPO_ROOT

AZURITE_BLOB = REPO_ROOT / "node_modules" / "azurite" / "dist" / "src" / "blob" / "main.js"
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, documented by Microsoft).
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
BLOB_PORT = 10000
CONNECTION_STRING = (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
                     f"BlobEndpoint=http://127.0.0.1:{BLOB_PORT}/{ACCOUNT};")


class NamespaceUnavailable(Exception):
    """The private network or its Azurite could not be started; the message says why."""


def _stop(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class PrivateAzurite:
    """A blob-only Azurite on 127.0.0.1:10000 inside a network namespace of our own."""

    def __init__(self, location: Path) -> None:
        self.location = location
        self._holder: subprocess.Popen | None = None
        self._azurite: subprocess.Popen | None = None

    def prefix(self) -> list[str]:
        """The argv prefix that runs a command inside the namespace."""
        assert self._holder is not None, "start() first"
        return ["nsenter", f"--net=/proc/{self._holder.pid}/ns/net"]

    def start(self) -> None:
        missing = [tool for tool in ("unshare", "nsenter", "ip", "node") if not shutil.which(tool)]
        if missing:
            raise NamespaceUnavailable(f"missing {', '.join(missing)}")
        if not AZURITE_BLOB.exists():
            raise NamespaceUnavailable(f"{AZURITE_BLOB} is missing (run `make node_modules`)")
        self._holder = subprocess.Popen(
            ["unshare", "--net", "--", "sh", "-c", "ip link set lo up && echo up && exec sleep infinity"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self._holder.stdout], [], [], 10)
        if not ready or self._holder.stdout.readline().strip() != "up":
            reason = " ".join(self._holder.stderr.read().split())[:200] if self._holder.poll() is not None else "timeout"
            self.stop()
            raise NamespaceUnavailable(f"unshare --net failed: {reason or 'no reason given'}")
        shutil.rmtree(self.location, ignore_errors=True)
        self.location.mkdir(parents=True)
        log = self.location.parent / "netns-azurite.log"
        with log.open("w") as handle:
            self._azurite = subprocess.Popen(
                [*self.prefix(), shutil.which("node"), str(AZURITE_BLOB), "--blobHost", "127.0.0.1",
                 "--blobPort", str(BLOB_PORT), "--location", str(self.location), "--silent",
                 "--disableTelemetry", "--skipApiVersionCheck"],
                stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while "successfully listens" not in log.read_text():
            if self._azurite.poll() is not None or time.monotonic() > deadline:
                tail = " ".join(log.read_text().split())[-200:]
                self.stop()
                raise NamespaceUnavailable(f"Azurite did not start in the namespace: {tail or 'no output'}")
            time.sleep(0.2)

    def azurite_pid(self) -> int | None:
        return self._azurite.pid if self._azurite is not None else None

    def stop(self) -> None:
        _stop(self._azurite)
        _stop(self._holder)
        self._azurite = self._holder = None
