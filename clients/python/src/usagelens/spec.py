"""Building blocks of a query: filters, measures, orderings, times.

Everything here produces the plain JSON the collector takes, so plain dicts
and these helpers mix freely::

    where=[dim("page") == "/settings", {"dim": "roles", "op": "contains", "value": "admin"}]
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Sequence
from typing import Any, Union

__all__ = [
    "Field",
    "dim",
    "metric",
    "Filter",
    "MeasureSpec",
    "OrderSpec",
    "TimeSpec",
    "format_time",
]

#: One ``where`` item: ``{"dim" | "metric": name, "op": op, "value": value}``.
Filter = dict[str, Any]
#: ``"count"``, ``"users"``, ``"sessions"``, ``"<fn>:<metric>"`` or ``{"fn", "of"}``.
MeasureSpec = Union[str, dict[str, str]]
#: ``"count"`` (ascending), ``"-count"`` (descending) or ``{"by", "desc"}``.
OrderSpec = Union[str, dict[str, Any]]
#: An aware ``datetime``, a ``date`` (midnight UTC), epoch milliseconds, or an RFC 3339 string.
TimeSpec = Union[_dt.datetime, _dt.date, int, str]

_NAMED_MEASURES = ("count", "users", "sessions")


class Field:
    """A dimension or metric to filter on; comparisons build ``where`` items.

    ``dim("page") == "/settings"``, ``metric("duration_ms") > 100``,
    ``dim("browser").isin(["Chrome", "Firefox"])``, ``dim("roles").contains("admin")``,
    ``dim("plan").exists()``.
    """

    __hash__ = None  # type: ignore[assignment]

    def __init__(self, kind: str, name: str) -> None:
        if kind not in ("dim", "metric"):
            raise ValueError("kind is `dim` or `metric`")
        if not isinstance(name, str):
            raise TypeError(f"a {kind} name is a str, not {type(name).__name__}")
        self.kind = kind
        self.name = name

    def _f(self, op: str, value: Any) -> Filter:
        return {self.kind: self.name, "op": op, "value": value}

    def __eq__(self, value: Any) -> Filter:  # type: ignore[override]
        return self._f("eq", value)

    def __ne__(self, value: Any) -> Filter:  # type: ignore[override]
        return self._f("ne", value)

    def __gt__(self, value: Any) -> Filter:
        return self._f("gt", value)

    def __ge__(self, value: Any) -> Filter:
        return self._f("gte", value)

    def __lt__(self, value: Any) -> Filter:
        return self._f("lt", value)

    def __le__(self, value: Any) -> Filter:
        return self._f("lte", value)

    def isin(self, values: Iterable[Any]) -> Filter:
        """The value is one of ``values``."""
        return self._f("in", _listed(values, "isin"))

    def notin(self, values: Iterable[Any]) -> Filter:
        """The value is none of ``values``."""
        return self._f("nin", _listed(values, "notin"))

    def exists(self, present: bool = True) -> Filter:
        """The event has (or, with ``False``, lacks) this name."""
        return self._f("exists", bool(present))

    def contains(self, value: Any) -> Filter:
        """A multi-valued dimension holds ``value`` (any element)."""
        return self._f("contains", value)

    def __repr__(self) -> str:
        return f"{self.kind}({self.name!r})"


def _listed(values: Iterable[Any], what: str) -> list[Any]:
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{what}() takes a list of values, not a single string")
    return list(values)


def dim(name: str) -> Field:
    """A dimension to filter on: ``dim("page") == "/settings"``."""
    return Field("dim", name)


def metric(name: str) -> Field:
    """A metric to filter on: ``metric("duration_ms") > 100``."""
    return Field("metric", name)


def measure_json(m: MeasureSpec) -> MeasureSpec:
    """``"p95:duration_ms"`` becomes ``{"fn": "p95", "of": "duration_ms"}``; others pass."""
    if isinstance(m, dict):
        return m
    if isinstance(m, str):
        if ":" in m:
            fn, _, of = m.partition(":")
            return {"fn": fn, "of": of}
        return m
    raise TypeError(f"a measure is a str like 'count' or 'p95:duration_ms', or a dict, not {type(m).__name__}")


def order_json(o: OrderSpec) -> dict[str, Any]:
    """``"-count"`` becomes ``{"by": "count", "desc": True}``; dicts pass."""
    if isinstance(o, dict):
        return o
    if isinstance(o, str):
        if o.startswith("-"):
            return {"by": o[1:], "desc": True}
        return {"by": o, "desc": False}
    raise TypeError(f"an order_by item is a column name (prefix '-' for descending) or a dict, not {type(o).__name__}")


def format_time(value: TimeSpec, field: str) -> str | int:
    """The wire form of a time: RFC 3339 UTC with milliseconds, or epoch ms.

    Naive datetimes are refused: say which zone they are in.
    """
    if isinstance(value, bool):
        raise TypeError(f"{field}: a time is a datetime, a date, epoch milliseconds or a str, not bool")
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            raise ValueError(
                f"{field}: {value.isoformat()} is a naive datetime; give it a zone, "
                "e.g. datetime(..., tzinfo=timezone.utc)"
            )
        utc = value.astimezone(_dt.timezone.utc)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    if isinstance(value, _dt.date):
        return f"{value.isoformat()}T00:00:00.000Z"
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return value
    raise TypeError(f"{field}: a time is a datetime, a date, epoch milliseconds or a str, not {type(value).__name__}")


def str_list(value: str | Sequence[str] | None, field: str) -> list[str] | None:
    """``"click"`` or ``["click", "page"]`` as a list; ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    out = list(value)
    for v in out:
        if not isinstance(v, str):
            raise TypeError(f"{field}: every item is a str, not {type(v).__name__}")
    return out


def parse_time(value: Any) -> _dt.datetime | None:
    """An RFC 3339 string from the collector as an aware UTC datetime (``None`` if empty)."""
    if not isinstance(value, str) or not value:
        return None
    s = value.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    # Python 3.9's fromisoformat takes 0, 3 or 6 fraction digits only.
    if "." in s:
        head, _, rest = s.partition(".")
        i = 0
        while i < len(rest) and rest[i].isdigit():
            i += 1
        frac, tail = rest[:i], rest[i:]
        s = f"{head}.{(frac + '000000')[:6]}{tail}"
    return _dt.datetime.fromisoformat(s).astimezone(_dt.timezone.utc)


def where_list(where: Filter | Sequence[Filter]) -> list[Filter]:
    """``where`` as a list of filter dicts, each checked to be one."""
    items = [where] if isinstance(where, dict) else list(where)
    for i, w in enumerate(items):
        if not isinstance(w, dict):
            raise TypeError(
                f"where[{i}]: a filter is a dict or a comparison like dim('page') == '/settings', "
                f"not {type(w).__name__}"
            )
    return items
