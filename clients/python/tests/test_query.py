"""Client.query against a real collector; every expected answer computed here."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from dataset import WIDGET_CLICKS, Event
from harness import Env

from usagelens import Client, QueryResult, dim, metric


@pytest.fixture(scope="module")
def lens(env: Env) -> Client:
    return Client(env.url, env.shop.read_token)


def clicks(env: Env) -> list[Event]:
    return [e for e in env.shop.events if e.type == "click"]


def nearest_rank(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[max(0, math.ceil(p * len(s)) - 1)]


def test_top_widgets_as_dicts(env: Env, lens: Client) -> None:
    res = lens.query("shop", types="click", group_by="widget", order_by="-count", limit=3)
    assert isinstance(res, QueryResult)
    assert res.columns == ["widget", "count"]
    top = Counter(e.dims["widget"] for e in clicks(env)).most_common(3)
    assert list(res) == [{"widget": w, "count": n} for w, n in top]
    assert len(res) == 3
    assert res[0] == {"widget": "export-csv", "count": WIDGET_CLICKS["export-csv"]}
    assert res.rows == [[w, n] for w, n in top]
    assert isinstance(res.meta["took_ms"], (int, float))


def test_ascending_order_and_users(env: Env, lens: Client) -> None:
    res = lens.query(
        "shop",
        types=["click"],
        group_by=["widget"],
        measures=["count", "users"],
        order_by=[{"by": "count", "desc": False}],
    )
    users: dict[str, set] = defaultdict(set)
    for e in clicks(env):
        users[e.dims["widget"]].add(e.dims["user"])
    expected = sorted(((w, n, len(users[w])) for w, n in WIDGET_CLICKS.items()), key=lambda r: r[1])
    assert [(r["widget"], r["count"], r["users"]) for r in res] == expected


def test_multi_valued_dimension_groups(env: Env, lens: Client) -> None:
    res = lens.query("shop", types="click", group_by="tags")
    expected: Counter = Counter()
    for e in clicks(env):
        values = set(e.dims.get("tags") or [])
        if not values:
            expected[None] += 1  # absent or [] lands in the null group
        for v in values:  # an event counts once per distinct value
            expected[v] += 1
    got = {r["tags"]: r["count"] for r in res}
    assert got == dict(expected)
    assert len(res) == len(expected)


def test_where_filters(env: Env, lens: Client) -> None:
    res = lens.query("shop", types="click", where=[dim("page") == "/settings"], group_by="widget")
    expected = Counter(e.dims["widget"] for e in clicks(env) if e.dims["page"] == "/settings")
    assert {r["widget"]: r["count"] for r in res} == dict(expected)

    res = lens.query(
        "shop",
        where=[
            dim("tags").contains("admin"),
            metric("duration_ms") > 500,
            {"dim": "widget", "op": "ne", "value": "save"},
        ],
        measures=["count"],
    )
    n = sum(
        1
        for e in env.shop.events
        if "admin" in (e.dims.get("tags") or [])
        and e.metrics.get("duration_ms", -1) > 500
        and e.dims.get("widget") != "save"
    )
    assert n > 0
    assert list(res) == [{"count": n}]

    res = lens.query("shop", where=[dim("page").isin(["/", "/help"]), dim("widget").exists()], group_by="page")
    expected = Counter(e.dims["page"] for e in clicks(env) if e.dims["page"] in ("/", "/help"))
    assert {r["page"]: r["count"] for r in res} == dict(expected)


def test_metric_measures(env: Env, lens: Client) -> None:
    res = lens.query(
        "shop",
        types="click",
        group_by="widget",
        measures=[
            "count",
            "sum:duration_ms",
            {"fn": "max", "of": "duration_ms"},
            "min:duration_ms",
            "p50:duration_ms",
            "p90:duration_ms",
        ],
    )
    assert res.columns == [
        "widget",
        "count",
        "sum_duration_ms",
        "max_duration_ms",
        "min_duration_ms",
        "p50_duration_ms",
        "p90_duration_ms",
    ]
    by_widget: dict[str, list[float]] = defaultdict(list)
    for e in clicks(env):
        by_widget[e.dims["widget"]].append(e.metrics["duration_ms"])
    assert len(res) == len(by_widget)
    for row in res:
        values = by_widget[row["widget"]]
        assert row["count"] == len(values)
        assert row["sum_duration_ms"] == sum(values)  # quarter ms: exact
        assert row["max_duration_ms"] == max(values)
        assert row["min_duration_ms"] == min(values)
        # Approximate percentiles: within the values between the 10-point neighbours.
        for p, col in ((0.5, "p50_duration_ms"), (0.9, "p90_duration_ms")):
            lo, hi = nearest_rank(values, max(p - 0.1, 0.0)), nearest_rank(values, min(p + 0.1, 1.0))
            assert lo <= row[col] <= hi, (row["widget"], col, row[col], lo, hi)


def hour(t: dt.datetime) -> dt.datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def test_interval_buckets(env: Env, lens: Client) -> None:
    res = lens.query("shop", types="page", interval="hour", measures=["count"])
    assert res.columns == ["bucket", "count"]
    expected = Counter(hour(e.ts) for e in env.shop.events if e.type == "page")
    got = {r["bucket"]: r["count"] for r in res}
    assert got == {b.strftime("%Y-%m-%dT%H:%M:%S.000Z"): n for b, n in expected.items()}
    buckets = [r["bucket"] for r in res]
    assert buckets == sorted(buckets)  # oldest first by default


def test_interval_in_a_time_zone(env: Env, lens: Client) -> None:
    zone = ZoneInfo("America/New_York")
    res = lens.query(
        "shop",
        interval="day",
        tz="America/New_York",
        group_by="widget",
        where=[dim("widget") == "save"],
        measures=["count"],
    )
    expected: Counter = Counter()
    for e in clicks(env):
        if e.dims["widget"] == "save":
            local = e.ts.astimezone(zone)
            start = dt.datetime(local.year, local.month, local.day, tzinfo=zone).astimezone(dt.timezone.utc)
            expected[start.strftime("%Y-%m-%dT%H:%M:%S.000Z")] += 1
    assert {r["bucket"]: r["count"] for r in res} == dict(expected)
    assert all(r["widget"] == "save" for r in res)


def test_time_range_is_half_open(env: Env, lens: Client) -> None:
    ordered = sorted(env.shop.events, key=lambda e: e.ts)
    start, end = ordered[30].ts, ordered[120].ts
    n = sum(1 for e in env.shop.events if start <= e.ts < end)
    for f, t in (
        (start, end),  # datetimes
        (int(start.timestamp() * 1000), int(end.timestamp() * 1000)),  # epoch ms
        (start.astimezone(ZoneInfo("Europe/Berlin")).isoformat(), end.isoformat()),  # strings with offsets
    ):
        assert list(lens.query("shop", from_=f, to=t)) == [{"count": n}]
    with pytest.raises(ValueError, match="naive"):
        lens.query("shop", from_=dt.datetime(2026, 1, 1))


def test_query_raw_and_explain(env: Env, lens: Client) -> None:
    res = lens.query_raw(
        {"app": "shop", "types": ["http"], "group_by": ["status"], "order_by": [{"by": "status"}], "explain": True}
    )
    expected = Counter(e.dims["status"] for e in env.shop.events if e.type == "http")
    assert res.rows == [[s, expected[s]] for s in sorted(expected)]
    assert isinstance(res.meta["pipeline"], list) and res.meta["pipeline"]


def test_to_pandas(env: Env, lens: Client) -> None:
    res = lens.query("shop", types="click", group_by="widget", interval="day", measures=["count", "sum:duration_ms"])
    df = res.to_pandas()
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == ["widget", "bucket", "count", "sum_duration_ms"]
    assert len(df) == len(res) == len({(e.dims["widget"], e.ts.date()) for e in clicks(env)})
    assert pd.api.types.is_datetime64_any_dtype(df["bucket"])
    assert str(df["bucket"].dt.tz) == "UTC"
    assert pd.api.types.is_integer_dtype(df["count"])
    assert pd.api.types.is_float_dtype(df["sum_duration_ms"])
    assert int(df["count"].sum()) == len(clicks(env))
    first = min(e.ts for e in clicks(env))
    assert df["bucket"].min() == pd.Timestamp(first.date(), tz="UTC")

    empty = lens.query("shop", types="nothing", group_by="widget").to_pandas()
    assert list(empty.columns) == ["widget", "count"] and len(empty) == 0


def test_to_pandas_without_pandas_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_pandas(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("No module named 'pandas'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    with pytest.raises(ImportError, match=r"pip install 'usagelens\[pandas\]'"):
        QueryResult(["count"], [[1]], {}).to_pandas()


def test_row_access() -> None:
    res = QueryResult(["a", "count"], [["x", 1], ["y", 2]], {"plan": "raw"})
    assert res[1] == {"a": "y", "count": 2}
    assert res[-1] == {"a": "y", "count": 2}
    assert res[0:1] == [{"a": "x", "count": 1}]
    assert res.dicts() == [{"a": "x", "count": 1}, {"a": "y", "count": 2}]
    assert "rows=2" in repr(res)


def test_helpers_build_plain_filters() -> None:
    assert (dim("page") == "/x") == {"dim": "page", "op": "eq", "value": "/x"}
    assert (dim("page") != "/x") == {"dim": "page", "op": "ne", "value": "/x"}
    assert (metric("m") >= 1) == {"metric": "m", "op": "gte", "value": 1}
    assert (metric("m") < 2) == {"metric": "m", "op": "lt", "value": 2}
    assert dim("b").notin(["x"]) == {"dim": "b", "op": "nin", "value": ["x"]}
    assert dim("b").exists(False) == {"dim": "b", "op": "exists", "value": False}
    with pytest.raises(TypeError):
        dim("b").isin("abc")


def test_bad_arguments_fail_before_sending() -> None:
    lens = Client("http://127.0.0.1:9", "rt_x")
    with pytest.raises(TypeError, match="where"):
        lens.query("shop", where=[dim("page")])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="limit"):
        lens.query("shop", limit="10")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="url"):
        Client("127.0.0.1:8080", "rt_x")
    with pytest.raises(ValueError, match="token"):
        Client("http://127.0.0.1:8080", " ")
    assert "rt_x" not in repr(lens)
