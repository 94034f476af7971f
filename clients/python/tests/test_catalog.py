"""Client.dimensions and Client.hide_dimension against a real collector."""

from __future__ import annotations

import datetime as dt

import pytest
from dataset import Event
from harness import Env

from usagelens import Client, Dimension, InvalidQuery


def expected_catalog(events: list[Event]) -> dict[tuple[str, str], tuple[set[str], set[str], dt.datetime, dt.datetime]]:
    out: dict[tuple[str, str], tuple[set[str], set[str], dt.datetime, dt.datetime]] = {}

    def note(key: tuple[str, str], kind: str, e: Event) -> None:
        kinds, types, first, last = out.get(key, (set(), set(), e.ts, e.ts))
        kinds.add(kind)
        types.add(e.type)
        out[key] = (kinds, types, min(first, e.ts), max(last, e.ts))

    for e in events:
        for name, v in e.dims.items():
            kind = (
                "list"
                if isinstance(v, list)
                else "bool"
                if isinstance(v, bool)
                else "number"
                if isinstance(v, (int, float))
                else "string"
            )
            note((name, "dimension"), kind, e)
        for name in e.metrics:
            note((name, "metric"), "number", e)
    return out


def test_dimensions_list_every_name(env: Env) -> None:
    dims = Client(env.url, env.shop.read_token).dimensions("shop")
    assert all(isinstance(d, Dimension) for d in dims)
    got = {(d.name, d.field): (set(d.kinds), set(d.types), d.first_seen, d.last_seen) for d in dims}
    assert got == expected_catalog(env.shop.events)
    tags = next(d for d in dims if d.name == "tags")
    assert tags.kinds == ["list"] and tags.types == ["click"]
    assert tags.first_seen is not None and tags.first_seen.tzinfo is not None


def test_hide_dimension(env: Env) -> None:
    lens = Client(env.url, env.other.read_token)
    names = {d.name for d in lens.dimensions("other")}
    assert names == {"color", "user", "weight"}
    assert lens.hide_dimension("other", "color") is None
    assert {d.name for d in lens.dimensions("other")} == {"user", "weight"}
    # Hidden from the catalog, still in the events and queryable.
    res = lens.query("other", group_by="color", order_by="color")
    assert [(r["color"], r["count"]) for r in res] == [("blue", 4), ("green", 4), ("red", 4)]

    with pytest.raises(InvalidQuery, match=r"name: app `other` has no dimension or metric `nope`"):
        lens.hide_dimension("other", "nope")
    with pytest.raises(InvalidQuery, match=r"invalid_query: name: `a\.b` is not a valid name"):
        lens.hide_dimension("other", "a.b")
