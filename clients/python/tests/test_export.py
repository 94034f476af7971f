"""Client.export and Client.export_csv against a real collector (GET /v1/events)."""

from __future__ import annotations

import csv
import io
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from dataset import AWKWARD, Event, rfc3339
from harness import Env

from usagelens import Client, InvalidQuery, InvalidResponse, TransportError, TruncatedResponse, Unauthorized, dim
from usagelens.client import iter_ndjson


class Spy:
    """Records the query string of every request the client opens."""

    def __init__(self, lens: Client, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[dict[str, str]] = []
        real = lens._open

        def spy(method: str, path: str, **kw: Any) -> Any:
            self.calls.append(dict(kw.get("params") or {}))
            return real(method, path, **kw)

        monkeypatch.setattr(lens, "_open", spy)


def ordered(events: list[Event]) -> list[Event]:
    return sorted(events, key=lambda e: (e.ts, e.id))


def test_every_event_exactly_once_across_small_pages(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    lens = Client(env.url, env.shop.read_token)
    spy = Spy(lens, monkeypatch)
    # 50 is not a multiple of 3: page boundaries fall inside groups of equal ts.
    events = list(lens.export("shop", page_size=50))
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)) == len(env.shop.events) == 207
    # Oldest first, ties (three events share each timestamp) broken by id.
    assert ids == [e.id for e in ordered(env.shop.events)]
    # Page by page, each following the previous page's cursor.
    assert len(spy.calls) >= 207 // 50 + 1
    assert "cursor" not in spy.calls[0]
    cursors = [c["cursor"] for c in spy.calls[1:]]
    assert len(set(cursors)) == len(cursors)
    assert all(c["limit"] == "50" for c in spy.calls)


def test_events_keep_their_fields(env: Env) -> None:
    lens = Client(env.url, env.shop.read_token)
    sent = {e.id: e for e in env.shop.events}
    for got in lens.export("shop"):
        e = sent[got["id"]]
        assert got["type"] == e.type
        assert got["ts"] == rfc3339(e.ts)
        assert got["client_ts"] == rfc3339(e.ts)
        assert isinstance(got["received_at"], str) and got["received_at"].endswith("Z")
        assert got["dims"] == e.dims  # lists (duplicates and [] too), integers, strings
        assert got["metrics"] == e.metrics


def test_pages_are_fetched_as_you_iterate(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    lens = Client(env.url, env.shop.read_token)
    spy = Spy(lens, monkeypatch)
    it = lens.export("shop", page_size=10)
    assert spy.calls == []
    first = [next(it) for _ in range(10)]
    assert len(spy.calls) == 1
    next(it)
    assert len(spy.calls) == 2
    it.close()  # type: ignore[attr-defined]
    assert [e["id"] for e in first] == [e.id for e in ordered(env.shop.events)[:10]]


def test_types_filter(env: Env) -> None:
    lens = Client(env.url, env.shop.read_token)
    got = [e["id"] for e in lens.export("shop", types=["click", "http"], page_size=50)]
    assert got == [e.id for e in ordered(env.shop.events) if e.type in ("click", "http")]
    assert {e["type"] for e in lens.export("shop", types="page")} == {"page"}


def test_where_exports_one_users_events(env: Env) -> None:
    lens = Client(env.url, env.shop.read_token)
    by_time = ordered(env.shop.events)
    got = [e["id"] for e in lens.export("shop", where=dim("user") == "u-3", page_size=7)]
    assert got == [e.id for e in by_time if e.dims.get("user") == "u-3"]
    assert got, "the data set has events of u-3"
    # Several filters, with types; the derived `hour` is in UTC.
    filters = [dim("user").isin(["u-1", "u-2"]), dim("hour") >= 12]
    got = [e["id"] for e in lens.export("shop", types="click", where=filters)]
    assert got == [
        e.id for e in by_time if e.type == "click" and e.dims.get("user") in ("u-1", "u-2") and e.ts.hour >= 12
    ]
    out = io.StringIO(newline="")
    assert lens.export_csv("shop", out, where=dim("user") == "u-3") == len(
        [e for e in env.shop.events if e.dims.get("user") == "u-3"]
    )
    with pytest.raises(InvalidQuery, match=r"where\[0\]\.op"):
        next(lens.export("shop", where={"dim": "user", "op": "$regex", "value": "u"}))
    with pytest.raises(TypeError, match=r"where\[1\]"):
        next(lens.export("shop", where=[dim("user") == "u-1", "user=u-1"]))  # type: ignore[list-item]


def test_time_range_is_half_open(env: Env) -> None:
    lens = Client(env.url, env.shop.read_token)
    by_time = ordered(env.shop.events)
    start, end = by_time[30].ts, by_time[120].ts  # each shared by three events
    expected = [e.id for e in by_time if start <= e.ts < end]
    assert sum(1 for e in env.shop.events if e.ts == start) == 3
    got = [e["id"] for e in lens.export("shop", from_=start, to=end, page_size=40)]
    assert got == expected
    got = [e["id"] for e in lens.export("shop", from_=rfc3339(start), to=int(end.timestamp() * 1000))]
    assert got == expected


def test_export_errors(env: Env) -> None:
    with pytest.raises(Unauthorized):
        next(Client(env.url, "rt_nope").export("shop"))
    lens = Client(env.url, env.shop.read_token)
    with pytest.raises(InvalidQuery, match="types"):
        next(lens.export("shop", types=["Not A Type"]))
    with pytest.raises(InvalidQuery, match="limit"):
        next(lens.export("shop", page_size=0))


def test_export_csv(env: Env) -> None:
    lens = Client(env.url, env.archive.read_token)
    lens.hide_dimension("archive", "secret")
    out = io.StringIO(newline="")
    assert lens.export_csv("archive", out, page_size=1) == 3
    text = out.getvalue()
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == [
        "id", "type", "ts", "client_ts", "received_at",
        "dims.flag", "dims.labels", "dims.text", "metrics.size",
    ]  # fmt: skip
    assert len(rows) == 4  # one header for all three pages
    body = [dict(zip(rows[0], r)) for r in rows[1:]]
    assert [r["id"] for r in body] == ["a-0", "a-1", "a-2"]
    assert body[0]["dims.text"] == AWKWARD
    assert json.loads(body[0]["dims.labels"]) == ["x", "y"]
    assert json.loads(body[2]["dims.labels"]) == []
    assert body[1]["dims.labels"] == "" and body[1]["metrics.size"] == ""
    assert float(body[2]["metrics.size"]) == 3.0

    raw = io.BytesIO()
    assert lens.export_csv("archive", raw) == 3
    assert raw.getvalue().decode("utf-8") == text
    assert not raw.closed


def test_a_cut_line_is_a_truncated_page() -> None:
    it = iter_ndjson(io.BytesIO(b'{"id":"a"}\n{"id":"b","ty'), "page 1")
    assert next(it) == {"id": "a"}
    with pytest.raises(TruncatedResponse, match="line 2 ends without a newline"):
        next(it)
    with pytest.raises(InvalidResponse, match="line 2 is not JSON"):
        list(iter_ndjson(io.BytesIO(b'{"id":"a"}\n{"id":\n')))
    assert list(iter_ndjson(io.BytesIO(b""))) == []


@pytest.fixture()
def hangs_up_mid_page() -> Iterator[str]:
    """A socket that answers 200 with one and a half NDJSON lines of a chunked
    body, then closes: a connection lost in the middle of a page."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            conn.recv(65536)
            part = b'{"id":"a"}\n{"id":'
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n"
                + f"{len(part):x}\r\n".encode()
                + part
                + b"\r\n"
            )

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    t.join(5)
    srv.close()


def test_a_connection_lost_mid_page_raises(hangs_up_mid_page: str) -> None:
    it = Client(hangs_up_mid_page, "rt_x", timeout=5).export("shop")
    assert next(it) == {"id": "a"}
    with pytest.raises(TruncatedResponse) as e:
        next(it)
    assert isinstance(e.value, TransportError)
