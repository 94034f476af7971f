"""A real collector for the tests: started once per session, on a free port,
over a fresh database of the store at ``MONGODB_URI``, with two apps and the
generated data set ingested through ``POST /v1/batch``.

Environment:

- ``MONGODB_URI`` (required): the MongoDB-compatible store.
- ``USAGELENS_COLLECTOR_BIN`` (optional): the collector binary; default
  ``<repo>/target/debug/usagelens-collector`` (``cargo build -p usagelens-collector``).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from dataset import ARCHIVE, OTHER, SHOP, archive_events, base_time, other_events, shop_events
from harness import App, Collector, Env, closed_port, collector_bin, post_batch, store_uri


@pytest.fixture(scope="session")
def env() -> Iterator[Env]:
    uri = store_uri()
    binary = collector_bin()
    # A fresh database per run: nothing another run or test left behind counts.
    database = f"pyclient_{secrets.token_hex(6)}"
    proc_env = dict(os.environ, MONGODB_URI=uri, USAGELENS_DATABASE=database, RUST_LOG="info")

    def cli(*args: str) -> dict[str, Any]:
        out = subprocess.run([binary, *args], env=proc_env, capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"usagelens-collector {' '.join(args)} failed: {out.stderr}")
        return json.loads(out.stdout)  # type: ignore[no-any-return]

    base = base_time()
    apps: dict[str, App] = {}
    collector = None
    try:
        for app_id, events in (
            (SHOP, shop_events(base)),
            (OTHER, other_events(base)),
            (ARCHIVE, archive_events(base)),
        ):
            created = cli("apps", "create", app_id)
            apps[app_id] = App(app_id, created["write_key"], created["read_token"], events)
        collector = Collector(binary, proc_env)
        collector.wait_ready()
        for app in apps.values():
            post_batch(collector.url, app, app.events)
        yield Env(collector.url, database, apps[SHOP], apps[OTHER], apps[ARCHIVE], collector)
    finally:
        if collector is not None:
            collector.stop()
        for app_id in apps:
            try:
                cli("apps", "delete", app_id, "--purge-events")
            except (RuntimeError, subprocess.TimeoutExpired):
                pass


@pytest.fixture(scope="session")
def dead_store_collector() -> Iterator[Collector]:
    """A collector whose store is a closed port: every store access fails."""
    binary = collector_bin()
    port = closed_port()
    proc_env = dict(
        os.environ,
        MONGODB_URI=f"mongodb://127.0.0.1:{port}/?directConnection=true",
        USAGELENS_DATABASE="pyclient_unreachable",
        RUST_LOG="info",
    )
    collector = Collector(binary, proc_env, ["--store-timeout", "300ms"])
    try:
        yield collector
    finally:
        collector.stop()
