"""client.reports against a real collector (POST /v1/reports/<name>), over
the shop data set, with the answers computed here from the events sent."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict

import pytest
from dataset import Event
from harness import Env

from usagelens import Client, Forbidden, InvalidQuery, NotFound, Report, dim


def expected(events: list[Event], keep: object = None) -> tuple[list[dict[str, object]], int]:
    clicks = [e for e in events if e.type == "click" and (keep is None or keep(e))]  # type: ignore[operator]
    by: dict[str, list[Event]] = defaultdict(list)
    for e in clicks:
        by[e.dims["widget"]].append(e)
    total = len(clicks)
    rows = []
    for w, es in by.items():
        pages = Counter(e.dims["page"] for e in es)
        rows.append(
            {
                "widget": w,
                "clicks": len(es),
                "users": len({e.dims["user"] for e in es}),
                "sessions": len({e.dims["session"] for e in es}),
                "share": len(es) / total,
                "previous_clicks": 0,
                "pages": sorted(pages.items(), key=lambda p: (-p[1], p[0]))[:5],
            }
        )
    rows.sort(key=lambda r: (-r["clicks"], r["widget"]))  # type: ignore[operator]
    return rows, total


def comparable(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    out = []
    for r in rows:
        r = dict(r)
        pages = r["pages"]
        if pages and isinstance(pages[0], dict):  # type: ignore[index]
            pages = [(p["page"], p["clicks"]) for p in pages]  # type: ignore[union-attr]
        # Pages with equal clicks are in no set order: compare the top clicks and the set.
        r["pages"] = sorted(pages)  # type: ignore[arg-type]
        r["share"] = round(r["share"], 12)  # type: ignore[call-overload]
        out.append(r)
    return sorted(out, key=lambda r: (-r["clicks"], r["widget"]))  # type: ignore[operator]


def window(env: Env) -> tuple[dt.datetime, dt.datetime]:
    first = min(e.ts for e in env.shop.events)
    return first, first + dt.timedelta(days=5)


def test_widgets_ranks_the_shop_widgets(env: Env) -> None:
    lens = Client(env.url, env.shop.read_token)
    start, end = window(env)
    report = lens.reports.widgets("shop", from_=start, to=end)
    assert isinstance(report, Report) and report.name == "widgets"
    want, total = expected(env.shop.events)
    assert report["total_clicks"] == total
    assert comparable(report["widgets"]) == comparable(want)
    assert [w["clicks"] for w in report["widgets"]] == sorted((w["clicks"] for w in want), reverse=True)
    # Every widget was clicked in the range: least used is the ranking reversed.
    least = report["least_used"]
    assert [w["clicks"] for w in least] == sorted(w["clicks"] for w in want)
    assert least[0]["widget"] == "help"
    assert report.meta["queries"] == 4
    assert "widgets" in report.tables() and "least_used" in report.tables()


def test_widgets_segments_by_any_dimension(env: Env) -> None:
    lens = Client(env.url, env.shop.read_token)
    start, end = window(env)
    report = lens.reports.widgets("shop", from_=start, to=end, where=dim("page") == "/settings", limit=3)
    want, total = expected(env.shop.events, lambda e: e.dims.get("page") == "/settings")
    assert report["total_clicks"] == total
    got = comparable(report["widgets"])
    assert len(got) == min(3, len(want))
    assert all(w in comparable(want) for w in got)
    same = lens.reports.widgets("shop", from_=start, to=end, page="/settings", limit=3)
    assert comparable(same["widgets"]) == got


def test_widgets_frame(env: Env) -> None:
    pandas = pytest.importorskip("pandas")
    lens = Client(env.url, env.shop.read_token)
    start, end = window(env)
    df = lens.reports.widgets("shop", from_=start, to=end).frame("widgets")
    assert isinstance(df, pandas.DataFrame)
    assert list(df["widget"])[0] == "export-csv"
    assert int(df["clicks"].sum()) == sum(1 for e in env.shop.events if e.type == "click")


def test_report_errors(env: Env) -> None:
    lens = Client(env.url, env.shop.read_token)
    with pytest.raises(InvalidQuery, match=r"where\[0\]\.op"):
        lens.reports.widgets("shop", where={"dim": "page", "op": "$regex", "value": "/"})
    with pytest.raises(InvalidQuery, match="limit"):
        lens.reports.widgets("shop", limit=0)
    with pytest.raises(TypeError, match="limit"):
        lens.reports.widgets("shop", limit="5")  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="the reports are widgets, defaults, load-time, performance, correlation, user-story"):
        lens.reports.run("nope", {"app": "shop"})
    with pytest.raises(Forbidden):
        Client(env.url, env.other.read_token).reports.widgets("shop")


def test_load_time_wiring(env: Env) -> None:
    # The shop sends no `load` events: an empty breakdown, shaped as asked.
    lens = Client(env.url, env.shop.read_token)
    start, end = window(env)
    report = lens.reports.load_time("shop", from_=start, to=end, percentiles=["p90", "p99"], tz="Europe/Berlin")
    assert report.name == "load-time"
    assert report["percentiles"] == ["p90", "p99"]
    assert report["pages"] == [] and report["trend"] == []
    with pytest.raises(InvalidQuery, match=r"percentiles\[0\]"):
        lens.reports.load_time("shop", percentiles=["avg"])


def test_performance_routes_from_the_shop_http_events(env: Env) -> None:
    lens = Client(env.url, env.shop.read_token)
    start, end = window(env)
    report = lens.reports.performance("shop", from_=start, to=end, interval="day")
    calls = [e for e in env.shop.events if e.type == "http"]
    routes = report["server"]["routes"]
    assert sum(r["count"] for r in routes) == len(calls)
    for r in routes:
        mine = [e for e in calls if e.dims["route"] == r["route"]]
        assert r["count"] == len(mine)
        assert r["errors"] == sum(1 for e in mine if e.dims["status"] >= 500)
    assert report["interval"] == "day"


def test_user_story_of_a_shop_user(env: Env) -> None:
    lens = Client(env.url, env.shop.read_token)
    start, end = window(env)
    report = lens.reports.user_story("shop", "u-3", from_=start, to=end, limit=2)
    mine = [e for e in env.shop.events if e.dims.get("user") == "u-3" and e.type not in ("http",)]
    assert report["user"] == "u-3"
    sessions = {e.dims["session"] for e in mine}
    assert report["sessions_total"] == len(sessions)
    assert len(report["sessions"]) == min(2, len(sessions))
    assert sum(sum(row) for row in report["workday"]["matrix"]) == len(mine)
    assert report["workday"]["tz"] == "UTC"
    with pytest.raises(TypeError, match="user"):
        lens.reports.user_story("shop", "")


def test_correlation_over_the_shop_sessions(env: Env) -> None:
    lens = Client(env.url, env.shop.read_token)
    start, end = window(env)
    report = lens.reports.correlation(
        "shop", metric={"type": "page", "of": "load_ms"}, outcome="clicks", by="page", from_=start, to=end, buckets=3
    )
    with_pages = {e.dims["session"] for e in env.shop.events if e.type == "page"}
    assert report["sessions"] == len(with_pages)
    assert sum(b["sessions"] for b in report["buckets"]) == len(with_pages)
    assert len(report["buckets"]) == 3
    assert report["spearman"]["n"] == len(with_pages)
    assert report["by"]["dimension"] == "page"
    with pytest.raises(InvalidQuery, match="outcome"):
        lens.reports.correlation("shop", outcome="happiness")


def test_defaults_wiring(env: Env) -> None:
    # The shop sends no choices: no controls, shaped as asked.
    lens = Client(env.url, env.shop.read_token)
    report = lens.reports.defaults("shop", min_samples=5, page="/settings")
    assert report["controls"] == [] and report["min_samples"] == 5
    with pytest.raises(InvalidQuery, match="min_samples"):
        lens.reports.defaults("shop", min_samples=0)

