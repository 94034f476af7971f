"""The HTTP client: ``Client(url, token)``."""

from __future__ import annotations

import contextlib
import csv
import gzip
import http.client
import io
import json
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from typing import IO, Any

from . import __version__
from .errors import InvalidResponse, TransportError, TruncatedResponse, error_from_response
from .reports import Reports
from .result import Dimension, QueryResult
from .spec import (
    Filter,
    MeasureSpec,
    OrderSpec,
    TimeSpec,
    format_time,
    measure_json,
    order_json,
    str_list,
    where_list,
)

__all__ = ["Client"]

_USER_AGENT = f"usagelens-python/{__version__}"
_NEXT_CURSOR = "UsageLens-Next-Cursor"

# What a broken connection raises while a body is read.
_READ_ERRORS = (OSError, http.client.HTTPException, EOFError, zlib.error)


class Client:
    """A client of one UsageLens collector, with an app's read token.

    ``url`` is the collector's base address (``http://127.0.0.1:8080``),
    ``token`` the read token printed by ``usagelens-collector apps create``
    (``rt_…``), ``timeout`` the seconds to wait to connect and for each read.
    The client holds no connection between calls and is safe to share
    between threads. It does not retry: :class:`RateLimited` and
    :class:`StoreUnavailable` carry ``retry_after`` for callers that do.
    """

    def __init__(self, url: str, token: str, *, timeout: float = 30.0) -> None:
        if not isinstance(url, str) or not url:
            raise ValueError("url: give the collector's address, like http://127.0.0.1:8080")
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"url: {url!r} is not an http:// or https:// address")
        if not isinstance(token, str) or not token.strip():
            raise ValueError("token: give the app's read token (printed by `usagelens-collector apps create`)")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ValueError("timeout: a positive number of seconds")
        self.url = url.rstrip("/")
        self.timeout = float(timeout)
        self._token = token.strip()
        self._opener = urllib.request.build_opener()

    def __repr__(self) -> str:
        return f"Client({self.url!r}, token=<hidden>, timeout={self.timeout})"

    @property
    def reports(self) -> Reports:
        """The reports (``POST /v1/reports/<name>``): ``lens.reports.widgets("demo")``."""
        return Reports(self)

    # ---------------------------------------------------------------- query

    def query(
        self,
        app: str,
        *,
        types: str | Sequence[str] | None = None,
        from_: TimeSpec | None = None,
        to: TimeSpec | None = None,
        where: Filter | Sequence[Filter] | None = None,
        group_by: str | Sequence[str] | None = None,
        interval: str | None = None,
        tz: str | None = None,
        measures: MeasureSpec | Sequence[MeasureSpec] | None = None,
        order_by: OrderSpec | Sequence[OrderSpec] | None = None,
        limit: int | None = None,
        explain: bool = False,
        plan: str | None = None,
    ) -> QueryResult:
        """Runs ``POST /v1/query`` and returns its rows.

        ``from_`` is inclusive and ``to`` exclusive. ``measures`` take
        ``"count"``, ``"users"``, ``"sessions"``, ``"p95:duration_ms"`` or
        ``{"fn": "p95", "of": "duration_ms"}``; ``order_by`` takes column
        names, ``"-count"`` for descending, or ``{"by", "desc"}`` dicts.
        Arguments left as ``None`` are not sent (the server's defaults apply).
        ``plan="raw"`` forces the exact answer from the raw events;
        ``result.meta["plan"]`` says which answered (``raw``,
        ``rollup:<name>``, ``rollup:<name>+raw``) and
        ``result.meta["approximate"]`` whether a sketch did.
        """
        spec: dict[str, Any] = {"app": app}
        t = str_list(types, "types")
        if t is not None:
            spec["types"] = t
        if from_ is not None:
            spec["from"] = format_time(from_, "from_")
        if to is not None:
            spec["to"] = format_time(to, "to")
        if where is not None:
            spec["where"] = where_list(where)
        g = str_list(group_by, "group_by")
        if g is not None:
            spec["group_by"] = g
        if interval is not None:
            spec["interval"] = interval
        if tz is not None:
            spec["tz"] = tz
        if measures is not None:
            if isinstance(measures, (str, dict)):
                measures = [measures]
            spec["measures"] = [measure_json(m) for m in measures]
        if order_by is not None:
            if isinstance(order_by, (str, dict)):
                order_by = [order_by]
            spec["order_by"] = [order_json(o) for o in order_by]
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int):
                raise TypeError(f"limit: an int, not {type(limit).__name__}")
            spec["limit"] = limit
        if explain:
            spec["explain"] = True
        if plan is not None:
            spec["plan"] = plan
        return self.query_raw(spec)

    def query_raw(self, spec: Mapping[str, Any]) -> QueryResult:
        """Runs ``POST /v1/query`` with ``spec`` as the JSON body, unchanged."""
        if not isinstance(spec, Mapping):
            raise TypeError(f"spec: a dict, not {type(spec).__name__}")
        body = self._json("POST", "/v1/query", body=dict(spec))
        if not isinstance(body, dict):
            raise InvalidResponse(
                "POST /v1/query: the answer is not a JSON object", status=200, code="invalid_response"
            )
        columns, rows, meta = body.get("columns"), body.get("rows"), body.get("meta", {})
        if not isinstance(columns, list) or not isinstance(rows, list) or not isinstance(meta, dict):
            raise InvalidResponse(
                "POST /v1/query: the answer lacks `columns`, `rows` or `meta`", status=200, code="invalid_response"
            )
        return QueryResult(columns, rows, meta)

    # -------------------------------------------------------------- catalog

    def dimensions(self, app: str) -> list[Dimension]:
        """Every dimension and metric name the app has sent (hidden ones left out)."""
        body = self._json("GET", "/v1/dimensions", params={"app": app})
        if not isinstance(body, list) or not all(isinstance(d, dict) for d in body):
            raise InvalidResponse(
                "GET /v1/dimensions: the answer is not a list of objects", status=200, code="invalid_response"
            )
        return [Dimension.from_json(d) for d in body]

    def hide_dimension(self, app: str, name: str) -> None:
        """Retires ``name`` from the app's catalog; events keep it and queries can still use it."""
        if not isinstance(name, str):
            raise TypeError(f"name: a str, not {type(name).__name__}")
        path = f"/v1/dimensions/{urllib.parse.quote(name, safe='')}/hide"
        self._json("POST", path, params={"app": app}, body=None, empty_post=True)

    # -------------------------------------------------------------- rollups

    def rollups(self, app: str) -> dict[str, Any]:
        """``GET /v1/rollups``: the app's rollups (built-in and declared), what
        each is built from, the dirty hours and the watermark."""
        body = self._json("GET", "/v1/rollups", params={"app": app})
        if not isinstance(body, dict) or not isinstance(body.get("rollups"), list):
            raise InvalidResponse(
                "GET /v1/rollups: the answer lacks `rollups`", status=200, code="invalid_response"
            )
        return body

    def declare_rollup(
        self,
        app: str,
        name: str,
        *,
        types: str | Sequence[str],
        dims: str | Sequence[str] = (),
        metrics: str | Sequence[str] | None = None,
        grain: str = "hour",
    ) -> dict[str, Any]:
        """``POST /v1/rollups``: declares a rollup of the app; it is built for
        new events from ``built_from`` on (``usagelens-collector rollups
        backfill`` builds the history). ``metrics`` defaults to all."""
        spec: dict[str, Any] = {
            "app": app,
            "name": name,
            "types": str_list(types, "types"),
            "dims": str_list(dims, "dims") or [],
            "grain": grain,
        }
        m = str_list(metrics, "metrics")
        if m is not None:
            spec["metrics"] = m
        body = self._json("POST", "/v1/rollups", body=spec)
        if not isinstance(body, dict):
            raise InvalidResponse("POST /v1/rollups: the answer is not a JSON object", status=201, code="invalid_response")
        return body

    def drop_rollup(self, app: str, name: str) -> dict[str, Any]:
        """``DELETE /v1/rollups/<name>``: drops a rollup the app declared, and its documents."""
        if not isinstance(name, str):
            raise TypeError(f"name: a str, not {type(name).__name__}")
        path = f"/v1/rollups/{urllib.parse.quote(name, safe='')}"
        body = self._json("DELETE", path, params={"app": app})
        if not isinstance(body, dict):
            raise InvalidResponse(f"DELETE {path}: the answer is not a JSON object", status=200, code="invalid_response")
        return body

    # --------------------------------------------------------------- export

    def export(
        self,
        app: str,
        *,
        from_: TimeSpec | None = None,
        to: TimeSpec | None = None,
        types: str | Sequence[str] | None = None,
        where: Filter | Sequence[Filter] | None = None,
        page_size: int = 10000,
    ) -> Iterator[dict[str, Any]]:
        """The app's raw events (``GET /v1/events``), oldest first, as dicts.

        ``where`` takes the filters of :meth:`query` (``dim("user") == "u-1"``
        exports one user's events; ``hour``/``weekday`` are in UTC here).

        Pages of ``page_size`` events are requested one at a time as you
        iterate, following ``UsageLens-Next-Cursor``; each page is parsed line
        by line from the response stream, so memory stays flat whatever the
        export's size. A page cut short raises :class:`TruncatedResponse`.
        Requests happen during iteration, so errors raise from it too.
        """
        params = self._export_params(app, from_, to, types, where, page_size, "ndjson")
        return self._export_pages(params)

    def _export_pages(self, params: dict[str, str]) -> Iterator[dict[str, Any]]:
        with contextlib.closing(self._pages(params, "application/x-ndjson", "json")) as pages:
            for what, body in pages:
                yield from iter_ndjson(body, what)

    def export_csv(
        self,
        app: str,
        out: IO[Any],
        *,
        from_: TimeSpec | None = None,
        to: TimeSpec | None = None,
        types: str | Sequence[str] | None = None,
        where: Filter | Sequence[Filter] | None = None,
        page_size: int = 10000,
    ) -> int:
        """Writes the app's raw events as CSV to ``out``; returns the number of rows.

        ``out`` is a text file (open it with ``newline=""``) or a binary one
        (UTF-8 is written). One header row, then every page's rows, as the
        collector formats them (``dims.<name>``/``metrics.<name>`` columns). If
        the app's columns change between pages (a new dimension arrived
        during the export), :class:`InvalidResponse` is raised.
        """
        params = self._export_params(app, from_, to, types, where, page_size, "csv")
        wrapped: io.TextIOWrapper | None = None
        text_out: IO[str]
        if isinstance(out, (io.RawIOBase, io.BufferedIOBase)):
            wrapped = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
            text_out = wrapped
        else:
            text_out = out
        try:
            writer = csv.writer(text_out)
            header: list[str] | None = None
            rows = 0
            with contextlib.closing(self._pages(params, "text/csv", "csv")) as pages:
                for what, body in pages:
                    records = csv.reader(_text_lines(body, what), strict=True)
                    try:
                        page_header = next(records, None)
                        if page_header is None:
                            continue  # an empty body: no events, no header
                        if header is None:
                            header = page_header
                            writer.writerow(header)
                        elif page_header != header:
                            added = sorted(set(page_header) - set(header))
                            gone = sorted(set(header) - set(page_header))
                            raise InvalidResponse(
                                f"{what}: the app's columns changed during the export "
                                f"(new: {added}, gone: {gone}); export again, or use export() for NDJSON",
                                code="columns_changed",
                            )
                        for record in records:
                            writer.writerow(record)
                            rows += 1
                    except csv.Error as e:
                        raise TruncatedResponse(f"{what}: the CSV ends inside a record ({e})") from e
            return rows
        finally:
            if wrapped is not None:
                wrapped.flush()
                wrapped.detach()

    def _pages(self, params: dict[str, str], accept: str, kind: str) -> Generator[tuple[str, IO[bytes]], None, None]:
        """Each page of ``GET /v1/events`` as (a name for messages, its body
        stream), following ``UsageLens-Next-Cursor``. Read a body to its end
        before asking for the next page; the response is closed then."""
        cursor: str | None = None
        page = 0
        while True:
            page += 1
            p = dict(params)
            if cursor is not None:
                p["cursor"] = cursor
            resp = self._open("GET", "/v1/events", params=p, accept=accept)
            what = f"GET /v1/events page {page}"
            try:
                ctype = resp.headers.get("Content-Type", "")
                if kind not in ctype:
                    raise InvalidResponse(
                        f"{what}: expected {kind}, got Content-Type {ctype!r}",
                        status=resp.status,
                        code="invalid_response",
                    )
                cursor = resp.headers.get(_NEXT_CURSOR)
                yield what, _body(resp)
            finally:
                resp.close()
            if not cursor:
                return

    def _export_params(
        self,
        app: str,
        from_: TimeSpec | None,
        to: TimeSpec | None,
        types: str | Sequence[str] | None,
        where: Filter | Sequence[Filter] | None,
        page_size: int,
        fmt: str,
    ) -> dict[str, str]:
        if isinstance(page_size, bool) or not isinstance(page_size, int):
            raise TypeError(f"page_size: an int, not {type(page_size).__name__}")
        params: dict[str, str] = {"app": app, "format": fmt, "limit": str(page_size)}
        if from_ is not None:
            params["from"] = str(format_time(from_, "from_"))
        if to is not None:
            params["to"] = str(format_time(to, "to"))
        t = str_list(types, "types")
        if t is not None:
            params["types"] = ",".join(t)
        if where is not None:
            params["where"] = json.dumps(where_list(where), separators=(",", ":"))
        return params

    # ------------------------------------------------------------ transport

    def _open(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any | None = None,
        empty_post: bool = False,
        accept: str = "application/json",
    ) -> http.client.HTTPResponse:
        """Sends one request; returns the open 2xx response or raises the typed error."""
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": accept,
            "Accept-Encoding": "gzip",
            "User-Agent": _USER_AGENT,
        }
        data: bytes | None = None
        if body is not None:
            data = json.dumps(body, allow_nan=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        elif empty_post:
            data = b""
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        what = f"{method} {path}"
        try:
            resp = self._opener.open(req, timeout=self.timeout)
        except urllib.error.HTTPError as e:
            try:
                raw = _decoded(e.read(), e.headers)
            except _READ_ERRORS:
                raw = b""
            finally:
                e.close()
            raise error_from_response(e.code, raw, retry_after=e.headers.get("Retry-After"), what=what) from None
        except urllib.error.URLError as e:
            raise TransportError(f"{what} to {self.url}: {e.reason}") from e
        except _READ_ERRORS as e:
            raise TransportError(f"{what} to {self.url}: {e!r}") from e
        return resp  # type: ignore[no-any-return]

    def _json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any | None = None,
        empty_post: bool = False,
    ) -> Any:
        resp = self._open(method, path, params=params, body=body, empty_post=empty_post)
        what = f"{method} {path}"
        try:
            raw = _decoded(resp.read(), resp.headers)
        except _READ_ERRORS as e:
            raise TransportError(f"{what}: the answer was cut short ({e!r})") from e
        finally:
            resp.close()
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise InvalidResponse(
                f"{what}: the answer is not JSON ({e})", status=resp.status, code="invalid_response"
            ) from e


def _decoded(raw: bytes, headers: Any) -> bytes:
    if (headers.get("Content-Encoding") or "").strip().lower() in ("gzip", "x-gzip") and raw:
        return gzip.decompress(raw)
    return raw


def _body(resp: http.client.HTTPResponse) -> IO[bytes]:
    """The response body as a byte stream, inflated if the collector gzipped it."""
    if (resp.headers.get("Content-Encoding") or "").strip().lower() in ("gzip", "x-gzip"):
        return gzip.GzipFile(fileobj=resp, mode="rb")  # type: ignore[return-value]
    return resp


def _read_line(stream: IO[bytes], what: str) -> bytes:
    try:
        return stream.readline()
    except _READ_ERRORS as e:
        raise TruncatedResponse(f"{what}: the connection broke mid-page ({e!r})") from e


def iter_ndjson(stream: IO[bytes], what: str = "NDJSON") -> Iterator[dict[str, Any]]:
    """Parses a stream of newline-terminated JSON objects, one line at a time.

    A last line without ``\\n`` means the stream was cut: :class:`TruncatedResponse`.
    A line that is not a JSON object: :class:`InvalidResponse`.
    """
    n = 0
    while True:
        line = _read_line(stream, what)
        if not line:
            return
        n += 1
        if not line.endswith(b"\n"):
            raise TruncatedResponse(f"{what}: line {n} ends without a newline; the page was cut short")
        if not line.strip():
            continue
        try:
            obj = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise InvalidResponse(f"{what}: line {n} is not JSON ({e})", code="invalid_response") from e
        if not isinstance(obj, dict):
            raise InvalidResponse(f"{what}: line {n} is not a JSON object", code="invalid_response")
        yield obj


def _text_lines(stream: IO[bytes], what: str) -> Iterable[str]:
    n = 0
    while True:
        line = _read_line(stream, what)
        if not line:
            return
        n += 1
        if not line.endswith(b"\n"):
            raise TruncatedResponse(f"{what}: line {n} ends without a newline; the page was cut short")
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InvalidResponse(f"{what}: line {n} is not UTF-8", code="invalid_response") from e

