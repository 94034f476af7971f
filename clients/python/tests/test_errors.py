"""Every typed error, from a real collector where one can be made to answer it."""

from __future__ import annotations

import socket
import time

import pytest
from harness import Collector, Env, closed_port

from usagelens import (
    Client,
    Forbidden,
    InvalidQuery,
    NotFound,
    QueryTooSlow,
    RateLimited,
    StoreTooOld,
    StoreUnavailable,
    TransportError,
    Unauthorized,
    UsageLensError,
    dim,
)
from usagelens.errors import error_from_response


def test_unknown_token_is_unauthorized(env: Env) -> None:
    lens = Client(env.url, "rt_" + "0" * 64)
    with pytest.raises(Unauthorized) as e:
        lens.query("shop")
    assert e.value.status == 401
    assert e.value.code == "unauthorized"
    assert e.value.message == "unknown read token"
    assert isinstance(e.value, UsageLensError)
    with pytest.raises(Unauthorized):
        lens.dimensions("shop")


def test_other_apps_token_is_forbidden(env: Env) -> None:
    lens = Client(env.url, env.other.read_token)
    with pytest.raises(Forbidden) as e:
        lens.query("shop", group_by="widget")
    assert (e.value.status, e.value.code) == (403, "forbidden")
    assert "`shop`" in e.value.message
    with pytest.raises(Forbidden):
        lens.hide_dimension("shop", "widget")
    # The same token works for its own app.
    assert list(lens.query("other")) == [{"count": len(env.other.events)}]


def test_invalid_name_names_the_field(env: Env) -> None:
    lens = Client(env.url, env.shop.read_token)
    with pytest.raises(InvalidQuery) as e:
        lens.query("shop", group_by=["widget", "no such name"])
    assert (e.value.status, e.value.code) == (400, "invalid_query")
    assert e.value.message.startswith("group_by[1]:")
    assert "no such name" in e.value.message
    assert str(e.value).startswith("400 invalid_query: group_by[1]:")

    with pytest.raises(InvalidQuery, match=r"measures\[0\]\.fn"):
        lens.query("shop", measures=["median:duration_ms"])
    with pytest.raises(InvalidQuery, match=r"interval"):
        lens.query("shop", interval="fortnight")
    with pytest.raises(InvalidQuery, match=r"limit"):
        lens.query("shop", limit=0)
    with pytest.raises(InvalidQuery, match=r"order_by\[0\]\.by"):
        lens.query("shop", group_by="widget", order_by="-nope")


def test_operator_injection_is_refused(env: Env) -> None:
    lens = Client(env.url, env.shop.read_token)
    with pytest.raises(InvalidQuery, match=r"where\[0\]\.dim: `\$where`"):
        lens.query("shop", where=[dim("$where") == "sleep(10000)"])
    with pytest.raises(InvalidQuery, match=r"group_by\[0\]"):
        lens.query("shop", group_by="$where")
    with pytest.raises(InvalidQuery, match=r"where\[0\]\.metric"):
        lens.query("shop", where=[{"metric": "a.b", "op": "gt", "value": 1}])
    with pytest.raises(InvalidQuery, match=r"where\[0\]\.op"):
        lens.query("shop", where=[{"dim": "page", "op": "$regex", "value": ".*"}])


def test_closed_port_is_a_transport_error() -> None:
    lens = Client(f"http://127.0.0.1:{closed_port()}", "rt_x", timeout=5)
    with pytest.raises(TransportError) as e:
        lens.query("shop")
    assert isinstance(e.value, ConnectionError)
    assert e.value.status is None
    assert e.value.code == "transport"
    assert "POST /v1/query" in e.value.message


def test_a_silent_server_times_out() -> None:
    # The kernel completes the handshake on a listening socket; nothing ever answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        lens = Client(f"http://127.0.0.1:{silent.getsockname()[1]}", "rt_x", timeout=0.5)
        started = time.monotonic()
        with pytest.raises(TransportError, match="timed out"):
            lens.query("shop")
        assert time.monotonic() - started < 5


def test_unreachable_store_is_store_unavailable(dead_store_collector: Collector) -> None:
    lens = Client(dead_store_collector.url, "rt_x")
    with pytest.raises(StoreUnavailable) as e:
        lens.query("shop")
    assert (e.value.status, e.value.code) == (503, "store_unavailable")
    assert e.value.retry_after == 5


def test_unknown_endpoint_is_not_found(env: Env) -> None:
    lens = Client(env.url + "/not-here", env.shop.read_token)
    with pytest.raises(NotFound) as e:
        lens.query("shop")
    assert e.value.status == 404
    assert "POST /v1/query" in e.value.message


def test_error_mapping_of_the_other_statuses() -> None:
    body = b'{"error":{"code":"query_too_slow","message":"the query ran over the 30 s limit"}}'
    e = error_from_response(422, body)
    assert isinstance(e, QueryTooSlow) and e.code == "query_too_slow" and e.message.startswith("the query ran")

    body = b'{"error":{"code":"store_too_old","message":"percentiles need MongoDB 7.0 or later; the store is 6.0.14"}}'
    e = error_from_response(422, body)
    assert isinstance(e, StoreTooOld) and not isinstance(e, QueryTooSlow)
    assert (e.status, e.code) == (422, "store_too_old") and "7.0" in e.message

    e = error_from_response(429, b'{"error":{"code":"rate_limited","message":"slow down"}}', retry_after="3")
    assert isinstance(e, RateLimited) and e.retry_after == 3 and e.status == 429

    e = error_from_response(503, b"")
    assert isinstance(e, StoreUnavailable) and e.retry_after is None and e.code == "http_503"

    e = error_from_response(500, b'{"error":{"code":"internal","message":"internal error"}}')
    assert type(e) is UsageLensError and e.code == "internal"

    e = error_from_response(400, b"Failed to deserialize query string: missing field `app`")
    assert isinstance(e, InvalidQuery) and "missing field `app`" in e.message
