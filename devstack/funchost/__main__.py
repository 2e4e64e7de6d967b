"""Command line of the local Functions host: load settings, host.json and the app, then serve until SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import sys
import threading
from pathlib import Path

from devstack.funchost.app_loader import AppLoadError, describe_functions, load_app
from devstack.funchost.app_settings import AppSettingError, apply_settings, read_local_settings
from devstack.funchost.function_host import FunctionHost
from devstack.funchost.host_config import HostConfigError, load_host_config
from devstack.funchost.http_server import FunctionsServer
from devstack.funchost.routing import RouteError

log = logging.getLogger("funchost")

# How long a stop waits for HTTP requests in progress.
HTTP_DRAIN_SECONDS = 30.0


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devstack.funchost", description=__doc__)
    parser.add_argument("--app", default="function_app:app", help="module:attribute of the FunctionApp")
    parser.add_argument("--script-root", type=Path, default=Path.cwd(), help="folder put first on sys.path")
    parser.add_argument("--host-json", type=Path, default=None, help="host.json (default: in the script root)")
    parser.add_argument("--settings", type=Path, default=None,
                        help="local.settings.json whose Values become environment variables")
    parser.add_argument("--master-key-file", type=Path, default=None,
                        help="file holding the key /admin requests must send (default: a random key "
                             "nobody is told, which closes the admin API)")
    parser.add_argument("--port", type=int, default=7071, help="port on 127.0.0.1")
    return parser.parse_args(argv)


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The SDKs' per-request logging would drown the functions' own lines.
    logging.getLogger("azure").setLevel(logging.WARNING)


def _master_key(path: Path | None) -> str:
    if path is None:
        return secrets.token_urlsafe(32)
    try:
        key = path.read_text().strip()
    except OSError as exc:
        raise AppSettingError(f"cannot read the master key file {path}: {exc.strerror or exc}") from exc
    if not key:
        raise AppSettingError(f"the master key file {path} is empty")
    return key


def _build(options: argparse.Namespace) -> tuple[FunctionHost, FunctionsServer]:
    settings_path = options.settings or options.script_root / "local.settings.json"
    if options.settings or settings_path.exists():
        apply_settings(read_local_settings(settings_path))
    config = load_host_config(options.host_json or options.script_root / "host.json")
    app = load_app(options.app, options.script_root)
    specs, problems = describe_functions(app)
    host = FunctionHost(specs, problems, config, os.environ)
    try:
        server = FunctionsServer(("127.0.0.1", options.port), host, _master_key(options.master_key_file))
    except OSError as exc:
        raise AppSettingError(f"cannot listen on 127.0.0.1:{options.port}: {exc.strerror or exc}") from exc
    return host, server


def main(argv: list[str] | None = None) -> int:
    options = _arguments(argv)
    _configure_logging()
    try:
        host, server = _build(options)
    except (AppLoadError, AppSettingError, HostConfigError, RouteError) as exc:
        print(f"funchost: error: {exc}", file=sys.stderr, flush=True)
        return 1
    stop_requested = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop_requested.set())
    host.start()
    serving = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    serving.start()
    log.info("host started on http://127.0.0.1:%d (app %s, %d functions)", options.port, options.app,
             len(host.functions))
    stop_requested.wait()
    log.info("stopping: finishing the invocations in progress")
    server.shutdown()
    server.drain(HTTP_DRAIN_SECONDS)
    host.stop()
    server.server_close()
    log.info("host stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
