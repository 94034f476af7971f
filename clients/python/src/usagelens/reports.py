"""The reports (``POST /v1/reports/<name>``): ``client.reports.widgets(...)``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from .errors import InvalidResponse
from .spec import Filter, TimeSpec, format_time, where_list

if TYPE_CHECKING:  # pragma: no cover
    import pandas

__all__ = ["Report", "Reports"]


class _Transport(Protocol):
    def _json(self, method: str, path: str, *, body: Any | None = None) -> Any: ...


class Report(Mapping[str, Any]):
    """A report's answer: a read-only mapping of its JSON (``report["widgets"]``),
    with ``name``, ``meta`` and :meth:`frame` for its tables."""

    __slots__ = ("name", "data")

    def __init__(self, name: str, data: dict[str, Any]) -> None:
        self.name = name
        self.data = data

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"Report({self.name!r}, keys={list(self.data)})"

    @property
    def meta(self) -> dict[str, Any]:
        """``took_ms``, ``plan``, ``queries``, ``from`` and ``to``."""
        meta = self.data.get("meta", {})
        return meta if isinstance(meta, dict) else {}

    def frame(self, key: str) -> pandas.DataFrame:
        """The list of objects under ``key`` (``"widgets"``, ``"least_used"``)
        as a pandas DataFrame, one row per object."""
        try:
            import pandas
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("Report.frame() needs pandas: pip install 'usagelens[pandas]'") from e
        rows = self.data.get(key)
        if not isinstance(rows, list):
            raise KeyError(f"{key!r} is not a table of the {self.name} report: its tables are {self.tables()}")
        return pandas.DataFrame.from_records(rows)

    def tables(self) -> list[str]:
        """The keys whose value is a list of objects."""
        return [k for k, v in self.data.items() if isinstance(v, list) and all(isinstance(r, dict) for r in v)]


def _scope(
    app: str,
    from_: TimeSpec | None,
    to: TimeSpec | None,
    where: Filter | Sequence[Filter] | None,
    tz: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"app": app}
    if from_ is not None:
        body["from"] = format_time(from_, "from_")
    if to is not None:
        body["to"] = format_time(to, "to")
    if where is not None:
        body["where"] = where_list(where)
    if tz is not None:
        body["tz"] = tz
    return body


def _ints(body: dict[str, Any], **values: int | None) -> None:
    """Each given (not ``None``) value into ``body``, checked to be an int."""
    for key, value in values.items():
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{key}: an int, not {type(value).__name__}")
            body[key] = value


class Reports:
    """``client.reports``: one method per report (docs/reports.md).

    Each takes the common scope — ``app``, ``from_`` (inclusive), ``to``
    (exclusive; default the last 7 days), ``where`` (the filters of
    :meth:`Client.query`, to segment by any dimension) and ``tz`` — plus the
    report's own arguments, and returns a :class:`Report`.
    """

    __slots__ = ("_client",)

    def __init__(self, client: _Transport) -> None:
        self._client = client

    def run(self, name: str, body: Mapping[str, Any]) -> Report:
        """Runs report ``name`` with ``body`` as its JSON, unchanged."""
        if not isinstance(name, str) or not name:
            raise TypeError("name: a report name, like 'widgets'")
        answer = self._client._json("POST", f"/v1/reports/{name}", body=dict(body))
        if not isinstance(answer, dict) or answer.get("report") != name:
            raise InvalidResponse(
                f"POST /v1/reports/{name}: the answer is not the {name} report", status=200, code="invalid_response"
            )
        return Report(name, answer)

    def widgets(
        self,
        app: str,
        *,
        from_: TimeSpec | None = None,
        to: TimeSpec | None = None,
        where: Filter | Sequence[Filter] | None = None,
        tz: str | None = None,
        page: str | None = None,
        limit: int | None = None,
    ) -> Report:
        """Which widgets are used most (``widgets``: clicks, users, sessions,
        share, previous_clicks, pages) and least (``least_used``, widgets
        without a click in the range included); ``page`` keeps one page's clicks."""
        body = _scope(app, from_, to, where, tz)
        if page is not None:
            body["page"] = page
        _ints(body, limit=limit)
        return self.run("widgets", body)

    def defaults(
        self,
        app: str,
        *,
        from_: TimeSpec | None = None,
        to: TimeSpec | None = None,
        where: Filter | Sequence[Filter] | None = None,
        tz: str | None = None,
        page: str | None = None,
        control: str | None = None,
        min_samples: int | None = None,
        limit: int | None = None,
    ) -> Report:
        """Are the defaults the options users use? Per control (``controls``):
        samples (its state at the end of each page view), kept defaults, the
        values chosen, and a ``suggestion`` when another value wins with 95%
        confidence and at least ``min_samples`` (default 30) samples."""
        body = _scope(app, from_, to, where, tz)
        for key, value in (("page", page), ("control", control)):
            if value is not None:
                body[key] = value
        _ints(body, min_samples=min_samples, limit=limit)
        return self.run("defaults", body)

    def load_time(
        self,
        app: str,
        *,
        from_: TimeSpec | None = None,
        to: TimeSpec | None = None,
        where: Filter | Sequence[Filter] | None = None,
        tz: str | None = None,
        page: str | None = None,
        percentiles: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> Report:
        """The load-time breakdown per page (``pages``: ``loads``, ``phases``
        in waterfall order then the app's own phases and the vitals, each
        with its percentiles and ``count``; ``total``) and by day (``trend``,
        in ``tz``). ``percentiles`` picks from p50, p75, p90, p95, p99."""
        body = _scope(app, from_, to, where, tz)
        if page is not None:
            body["page"] = page
        if percentiles is not None:
            if isinstance(percentiles, str):
                percentiles = [percentiles]
            body["percentiles"] = list(percentiles)
        _ints(body, limit=limit)
        return self.run("load-time", body)

    def performance(
        self,
        app: str,
        *,
        from_: TimeSpec | None = None,
        to: TimeSpec | None = None,
        where: Filter | Sequence[Filter] | None = None,
        tz: str | None = None,
        interval: str | None = None,
        limit: int | None = None,
    ) -> Report:
        """Browser memory, GC and long tasks (``browser``: ``series`` by
        ``interval``, default hour, and ``by_page``) and the server's API
        routes (``server.routes``: count, errors, error_rate, p50/p95/p99
        duration, p95 serialization, serialize_share) and memory
        (``server.memory``)."""
        body = _scope(app, from_, to, where, tz)
        if interval is not None:
            body["interval"] = interval
        _ints(body, limit=limit)
        return self.run("performance", body)

    def correlation(
        self,
        app: str,
        *,
        metric: Mapping[str, str] | None = None,
        outcome: str | Mapping[str, str] | None = None,
        by: str | None = None,
        edges: Sequence[float] | None = None,
        buckets: int | None = None,
        max_sessions: int | None = None,
        from_: TimeSpec | None = None,
        to: TimeSpec | None = None,
        where: Filter | Sequence[Filter] | None = None,
        tz: str | None = None,
    ) -> Report:
        """Per session, a performance ``metric`` (default ``{"type": "load",
        "of": "total_ms"}``, its median) against a usage ``outcome``
        (``"clicks"`` (default), ``"events"``, ``"pages"``, ``"duration"``,
        ``{"widget": name}`` or ``{"type": event type}``): ``buckets`` from
        fastest to slowest (quantiles, or ``edges``), ``spearman`` and, with
        ``by``, per value of a session dimension; ``truncated`` when the read
        reached ``max_sessions`` (default and most 10,000; the first ones by
        session id are joined).
        Correlation, not causation."""
        body = _scope(app, from_, to, where, tz)
        for key, value in (("metric", metric), ("outcome", outcome), ("by", by), ("buckets", buckets)):
            if value is not None:
                body[key] = dict(value) if isinstance(value, Mapping) else value
        if edges is not None:
            body["edges"] = list(edges)
        _ints(body, max_sessions=max_sessions)
        return self.run("correlation", body)

    def user_story(
        self,
        app: str,
        user: str,
        *,
        from_: TimeSpec | None = None,
        to: TimeSpec | None = None,
        where: Filter | Sequence[Filter] | None = None,
        tz: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Report:
        """What one user typically does: ``sessions`` (latest first, ``limit``
        from ``offset``), ``workday`` (the week × hour ``matrix``, typical
        hours and dayparts in their own time zone, else ``tz``),
        ``sequences`` (common 3-step paths), ``distinctive`` (lift against
        everyone) and ``experience`` (their p75 load and API times)."""
        if not isinstance(user, str) or not user.strip():
            raise TypeError("user: the user's id, as identify() set it")
        body = _scope(app, from_, to, where, tz)
        body["user"] = user
        _ints(body, limit=limit, offset=offset)
        return self.run("user-story", body)
