"""The generated data set the tests ingest, and the events as sent.

Deterministic (a seeded RNG) apart from its start, midnight UTC ten days ago,
so every timestamp is in the past for the collector's skew correction. The
tests compute every expected answer from these events in Python.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

SHOP = "shop"
OTHER = "other"

#: Clicks per widget: distinct counts, so a top-N has no ties.
WIDGET_CLICKS = {"export-csv": 41, "save": 29, "filter": 17, "search": 11, "share": 6, "help": 3}
PAGES = ["/", "/settings", "/reports", "/reports/weekly", "/help"]
ROUTES = ["GET /api/items", "POST /api/items", "GET /api/report"]
# Multi-valued: some with a value twice (counts once), some empty, some absent.
TAG_SETS: list[list[str] | None] = [
    ["beta"],
    ["beta", "admin"],
    ["admin", "admin"],
    ["ops", "beta", "admin"],
    [],
    None,
    ["ops"],
]


@dataclass
class Event:
    id: str
    type: str
    ts: dt.datetime  # aware UTC, whole milliseconds
    dims: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    def wire(self) -> dict[str, Any]:
        e: dict[str, Any] = {"id": self.id, "type": self.type, "ts": rfc3339(self.ts), "props": self.dims}
        if self.metrics:
            e["metrics"] = self.metrics
        return e


def rfc3339(t: dt.datetime) -> str:
    t = t.astimezone(dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def base_time() -> dt.datetime:
    today = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - dt.timedelta(days=10)


def shop_events(base: dt.datetime) -> list[Event]:
    rng = random.Random(20261128)
    protos: list[Event] = []
    for widget, n in WIDGET_CLICKS.items():
        for _ in range(n):
            dims: dict[str, Any] = {"widget": widget, "page": rng.choice(PAGES)}
            tags = rng.choice(TAG_SETS)
            if tags is not None:
                dims["tags"] = list(tags)
            # Quarter milliseconds: sums are exact in binary floating point.
            protos.append(Event("", "click", base, dims, {"duration_ms": rng.randint(1, 4000) / 4}))
    for _ in range(60):
        protos.append(Event("", "page", base, {"page": rng.choice(PAGES)}, {"load_ms": float(rng.randint(50, 3000))}))
    for _ in range(40):
        protos.append(
            Event(
                "",
                "http",
                base,
                {"route": rng.choice(ROUTES), "status": rng.choice([200, 200, 200, 404, 500])},
                {"duration_ms": rng.randint(4, 2000) / 4},
            )
        )
    rng.shuffle(protos)
    for i, e in enumerate(protos):
        e.id = f"ev-{i:04d}"
        # Three events share each timestamp (paging must break ties by id);
        # 61 minutes apart, with a millisecond part, over about three days.
        e.ts = base + dt.timedelta(minutes=61 * (i // 3), milliseconds=(i // 3) * 7 % 1000)
        user = rng.randrange(12)
        e.dims["user"] = f"u-{user}"
        e.dims["session"] = f"s-{user}-{i // 40}"
    return protos


def other_events(base: dt.datetime) -> list[Event]:
    colors = ["red", "green", "blue"]
    return [
        Event(
            f"o-{i}",
            "choice",
            base + dt.timedelta(minutes=5 * i),
            {"color": colors[i % 3], "user": f"v-{i % 4}"},
            {"weight": float(i)},
        )
        for i in range(12)
    ]


ARCHIVE = "archive"
#: A value CSV must quote: a comma, a double quote and a line break.
AWKWARD = 'say "hi", then\nbye'


def archive_events(base: dt.datetime) -> list[Event]:
    """A small app for the CSV export: quoting, lists, absent cells, a hidden name."""
    return [
        Event(
            "a-0",
            "note",
            base + dt.timedelta(hours=1),
            {"text": AWKWARD, "labels": ["x", "y"], "secret": "s0"},
            {"size": 1.5},
        ),
        Event("a-1", "note", base + dt.timedelta(hours=2), {"text": "plain", "secret": "s1"}),
        Event("a-2", "note", base + dt.timedelta(hours=3), {"labels": [], "flag": True}, {"size": 3.0}),
    ]
