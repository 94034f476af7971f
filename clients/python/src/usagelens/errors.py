"""Typed errors.

Every error the client raises is a :class:`UsageLensError`. Errors the
collector answered carry its HTTP ``status``, its stable ``code`` and its
``message`` (from the body ``{"error": {"code", "message"}}``); network
failures are :class:`TransportError` (also a built-in :class:`ConnectionError`).
"""

from __future__ import annotations

import json

__all__ = [
    "UsageLensError",
    "InvalidQuery",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "QueryTooSlow",
    "StoreTooOld",
    "RateLimited",
    "StoreUnavailable",
    "InvalidResponse",
    "TransportError",
    "TruncatedResponse",
]


class UsageLensError(Exception):
    """Base of every error of this package.

    ``status`` is the HTTP status (``None`` when no answer arrived), ``code``
    the collector's stable error code (``http_<status>`` when the answer had
    no error body), ``message`` what to fix, as the collector said it.
    """

    def __init__(self, message: str, *, status: int | None = None, code: str = "error") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code

    def __str__(self) -> str:
        if self.status is None:
            return self.message
        return f"{self.status} {self.code}: {self.message}"


class InvalidQuery(UsageLensError):
    """400: the request is malformed; the message names the field."""


class Unauthorized(UsageLensError):
    """401: no read token, or one the collector does not know."""


class Forbidden(UsageLensError):
    """403: the read token belongs to another app."""


class NotFound(UsageLensError):
    """404: no such endpoint (a collector older than this client?) or resource."""


class QueryTooSlow(UsageLensError):
    """422: the query ran over the server's time limit; narrow it."""


class StoreTooOld(UsageLensError):
    """422 ``store_too_old``: the query needs a newer MongoDB than the
    collector's store (percentiles need 7.0); the message names the version."""


class _RetryAfter(UsageLensError):
    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "error",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        #: Seconds to wait before trying again (from ``Retry-After``), or ``None``.
        self.retry_after = retry_after


class RateLimited(_RetryAfter):
    """429: over a rate limit; wait ``retry_after`` seconds."""


class StoreUnavailable(_RetryAfter):
    """503: the collector cannot reach its store; wait ``retry_after`` seconds."""


class InvalidResponse(UsageLensError):
    """The collector answered with something this client cannot read."""


class TransportError(UsageLensError, ConnectionError):
    """The request did not get an answer: refused, reset, timed out, DNS."""

    def __init__(self, message: str) -> None:
        UsageLensError.__init__(self, message, status=None, code="transport")


class TruncatedResponse(TransportError):
    """The answer stopped early: a streamed page ended in the middle of a line."""


class Conflict(UsageLensError):
    """409: the name is taken (``rollup_exists``)."""


#: Codes whose error class is not their status's.
_BY_CODE: dict[str, type[UsageLensError]] = {"store_too_old": StoreTooOld}

_BY_STATUS: dict[int, type[UsageLensError]] = {
    400: InvalidQuery,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: QueryTooSlow,
    429: RateLimited,
    503: StoreUnavailable,
}


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        secs = float(value.strip())
    except ValueError:
        return None  # an HTTP date: the collector never sends one
    return secs if secs >= 0 else None


def error_from_response(status: int, body: bytes, *, retry_after: str | None = None, what: str = "") -> UsageLensError:
    """The typed error for a non-2xx answer.

    ``retry_after`` is the ``Retry-After`` header, if any. ``what``
    (``"GET /v1/events"``) goes into the message when the body says nothing.
    """
    code = f"http_{status}"
    message = ""
    try:
        parsed = json.loads(body.decode("utf-8"))
        err = parsed.get("error") if isinstance(parsed, dict) else None
        if isinstance(err, dict):
            if isinstance(err.get("code"), str):
                code = err["code"]
            if isinstance(err.get("message"), str):
                message = err["message"]
    except (UnicodeDecodeError, ValueError):
        pass
    if not message:
        text = body.decode("utf-8", "replace").strip()
        message = text[:500] if text else (f"{what} answered {status}" if what else f"HTTP {status}")
        if status == 404 and not text and what:
            message = f"{what} answered 404: the collector has no such endpoint (older than this client?)"
    cls = _BY_CODE.get(code) or _BY_STATUS.get(status, UsageLensError)
    if issubclass(cls, _RetryAfter):
        return cls(message, status=status, code=code, retry_after=_retry_after(retry_after))
    return cls(message, status=status, code=code)
