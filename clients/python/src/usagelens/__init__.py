"""UsageLens: a Python client for the collector's query, catalog and export APIs.

>>> from usagelens import Client, dim
>>> lens = Client("http://127.0.0.1:8080", "rt_…")
>>> for row in lens.query("demo", types="click", group_by="widget", order_by="-count", limit=10):
...     print(row["widget"], row["count"])
"""

from __future__ import annotations

__version__ = "0.1.0"

from .client import Client
from .errors import (
    Conflict,
    Forbidden,
    InvalidQuery,
    InvalidResponse,
    NotFound,
    QueryTooSlow,
    RateLimited,
    StoreTooOld,
    StoreUnavailable,
    TransportError,
    TruncatedResponse,
    Unauthorized,
    UsageLensError,
)
from .reports import Report, Reports
from .result import Dimension, QueryResult
from .spec import Field, dim, metric

__all__ = [
    "__version__",
    "Client",
    "Conflict",
    "QueryResult",
    "Report",
    "Reports",
    "Dimension",
    "Field",
    "dim",
    "metric",
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
