"""Running a real collector for the tests: ``usagelens-collector serve`` on a
free port over a fresh database, apps created with ``apps create``, events
posted through ``POST /v1/batch``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from dataset import Event

REPO = Path(__file__).resolve().parents[3]


@dataclass
class App:
    """An app created with ``apps create``, and the events sent to it."""

    id: str
    write_key: str
    read_token: str
    events: list[Event]


class Collector:
    """``usagelens-collector serve`` as a child process."""

    def __init__(self, binary: str, env: dict[str, str], extra: list[str] | None = None) -> None:
        self.logs: list[str] = []
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--log-format", "json", *(extra or [])],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        addr: list[str] = []
        ready = threading.Event()

        def pump() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                self.logs.append(line.rstrip("\n"))
                if not addr:
                    try:
                        listen = json.loads(line).get("fields", {}).get("listen")
                    except ValueError:
                        listen = None
                    if listen:
                        addr.append(listen)
                        ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(30) or not addr:
            self.stop()
            raise RuntimeError("the collector did not log its address:\n" + "\n".join(self.logs[-20:]))
        self.url = f"http://{addr[0]}"

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=5) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError) as e:
                last = repr(e)
            time.sleep(0.1)
        raise RuntimeError(f"{self.url}/readyz did not answer 200 within {timeout} s ({last})")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def collector_bin() -> str:
    path = os.environ.get("USAGELENS_COLLECTOR_BIN") or str(REPO / "target" / "debug" / "usagelens-collector")
    if not os.access(path, os.X_OK):
        pytest.fail(
            f"no collector binary at {path}: build it with `cargo build -p usagelens-collector` "
            "or set USAGELENS_COLLECTOR_BIN",
            pytrace=False,
        )
    return path


def store_uri() -> str:
    uri = os.environ.get("MONGODB_URI")
    if not uri:
        pytest.fail(
            "MONGODB_URI is not set: these tests run a real collector over a MongoDB-compatible store "
            "(`cargo xtask store` starts one and prints its URI)",
            pytrace=False,
        )
    return uri


def post_batch(url: str, app: App, events: list[Event]) -> None:
    """Sends ``events`` through ``POST /v1/batch``; every one must be stored."""
    for start in range(0, len(events), 100):
        chunk = events[start : start + 100]
        body = json.dumps({"app": app.id, "events": [e.wire() for e in chunk]}).encode()
        req = urllib.request.Request(
            url + "/v1/batch",
            data=body,
            headers={"Content-Type": "application/json", "X-Write-Key": app.write_key},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            answer = json.loads(r.read())
        assert answer == {"accepted": len(chunk), "duplicates": 0, "rejected": []}, answer


@dataclass
class Env:
    """The running collector (``url``), its database, and its three apps."""

    url: str
    database: str
    shop: App
    other: App
    archive: App
    collector: Collector


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
