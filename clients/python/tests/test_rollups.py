"""Client.rollups, declare_rollup, drop_rollup and the plan a query reports,
against a real collector; the backfill through ``usagelens-collector
rollups backfill``, its answers checked against the events sent."""

from __future__ import annotations

import os
import subprocess
from collections import Counter

import pytest
from harness import Env, collector_bin, store_uri

from usagelens import Client, Conflict, InvalidQuery, NotFound


def test_declare_list_and_drop_a_rollup(env: Env) -> None:
    lens = Client(env.url, env.other.read_token)
    made = lens.declare_rollup("other", "by_color", types="click", dims=["color"], grain="day")
    assert made["name"] == "by_color" and made["builtin"] is False
    assert made["metrics"] == ["*"] and made["built_from"].endswith("T00:00:00.000Z")
    listed = {r["name"]: r for r in lens.rollups("other")["rollups"]}
    assert listed["by_color"]["dims"] == ["color"] and listed["by_color"]["builtin"] is False
    assert listed["clicks"]["builtin"] is True and listed["clicks"]["dims"] == ["widget", "page"]

    with pytest.raises(Conflict, match="already has a rollup `by_color`"):
        lens.declare_rollup("other", "by_color", types="click", dims=["color"])
    with pytest.raises(Conflict, match="built-in"):
        lens.declare_rollup("other", "clicks", types="click")
    with pytest.raises(InvalidQuery, match=r"^400 invalid_rollup: dims\[0\]: `a\.b` is not a valid name"):
        lens.declare_rollup("other", "bad", types="click", dims=["a.b"])
    with pytest.raises(InvalidQuery, match=r"^400 invalid_rollup: grain: unknown variant `fortnight`"):
        lens.declare_rollup("other", "bad", types="click", grain="fortnight")
    # Another app's token declares nothing here.
    with pytest.raises(Exception, match="not valid for app `other`"):
        Client(env.url, env.shop.read_token).declare_rollup("other", "x", types="click")

    dropped = lens.drop_rollup("other", "by_color")
    assert dropped["dropped"] is True
    assert "by_color" not in {r["name"] for r in lens.rollups("other")["rollups"]}
    with pytest.raises(NotFound, match="no declared rollup `by_color`"):
        lens.drop_rollup("other", "by_color")


def test_a_backfilled_rollup_answers_what_the_raw_events_do(env: Env) -> None:
    lens = Client(env.url, env.shop.read_token)
    raw = lens.query("shop", types="click", group_by="widget", plan="raw", explain=True)
    assert raw.meta["plan"] == "raw" and raw.meta["approximate"] is False
    assert raw.meta["reason"] == "the request asked for plan raw"

    proc_env = dict(os.environ, MONGODB_URI=store_uri(), USAGELENS_DATABASE=env.database)
    out = subprocess.run(
        [collector_bin(), "rollups", "backfill", "--app", "shop", "--since", "3650d"],
        env=proc_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "hours of shop with events since" in out.stderr
    status = lens.rollups("shop")
    assert status["dirty"]["count"] == 0, status

    res = lens.query("shop", types="click", group_by="widget", measures=["count", "users"], explain=True)
    assert res.meta["plan"].startswith("rollup:widgets"), res.meta
    want = Counter(e.dims["widget"] for e in env.shop.events if e.type == "click" and "widget" in e.dims)
    got = {r["widget"]: r["count"] for r in res if r["widget"] is not None}
    assert got == dict(want)
    by_raw = {r["widget"]: r["count"] for r in raw}
    assert {w: n for w, n in by_raw.items() if w is not None} == got
