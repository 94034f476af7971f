"""What the collector answers: query results and catalog entries."""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, overload

from .spec import parse_time

if TYPE_CHECKING:  # pragma: no cover
    import pandas

__all__ = ["QueryResult", "Dimension"]

_PANDAS_HINT = "QueryResult.to_pandas() needs pandas: pip install 'usagelens[pandas]'"


class QueryResult:
    """The answer of :meth:`Client.query`.

    Iterating (or indexing) gives each row as a dict keyed by column;
    ``columns`` and ``rows`` (lists in column order) are the answer as sent,
    ``meta`` holds ``took_ms``, ``plan`` and, with ``explain=True``, ``pipeline``.
    """

    __slots__ = ("columns", "rows", "meta")

    def __init__(self, columns: list[str], rows: list[list[Any]], meta: dict[str, Any]) -> None:
        self.columns = columns
        self.rows = rows
        self.meta = meta

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        cols = self.columns
        for r in self.rows:
            yield dict(zip(cols, r))

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [dict(zip(self.columns, r)) for r in self.rows[i]]
        return dict(zip(self.columns, self.rows[i]))

    def dicts(self) -> list[dict[str, Any]]:
        """Every row as a dict."""
        return list(self)

    def to_pandas(self) -> pandas.DataFrame:
        """A DataFrame with one column per answer column.

        ``bucket`` is parsed into timezone-aware UTC datetimes; measures are
        numbers (a measure over no values, such as ``max`` of a metric no
        event had, is NaN). Needs ``pip install 'usagelens[pandas]'``.
        """
        try:
            import pandas as pd
        except ImportError as e:
            raise ImportError(_PANDAS_HINT) from e
        df = pd.DataFrame(self.rows, columns=self.columns)
        if "bucket" in df.columns:
            df["bucket"] = pd.to_datetime(df["bucket"], utc=True)
        return df

    def __repr__(self) -> str:
        return f"QueryResult(columns={self.columns!r}, rows={len(self.rows)})"


@dataclasses.dataclass(frozen=True)
class Dimension:
    """One name of the dimension catalog (``GET /v1/dimensions``)."""

    #: The dimension or metric name.
    name: str
    #: ``"dimension"`` or ``"metric"``.
    field: str
    #: Value kinds seen: ``string``, ``number``, ``bool``, ``list``.
    kinds: list[str] = dataclasses.field(default_factory=list)
    #: Event types it appeared on.
    types: list[str] = dataclasses.field(default_factory=list)
    #: When first and last seen (UTC), or ``None`` if the collector did not say.
    first_seen: _dt.datetime | None = None
    last_seen: _dt.datetime | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Dimension:
        return cls(
            name=str(d.get("name", "")),
            field=str(d.get("field", "")),
            kinds=list(d.get("kinds") or []),
            types=list(d.get("types") or []),
            first_seen=parse_time(d.get("first_seen")),
            last_seen=parse_time(d.get("last_seen")),
        )
