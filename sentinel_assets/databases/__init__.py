"""Database adapters: run an alert query and return a ``QueryResult`` (``Database`` protocol)."""

from sentinel_assets.databases.base import Database
from sentinel_assets.databases.errors import QueryError, QueryRefused, QueryTimeout

__all__ = ["Database", "QueryError", "QueryRefused", "QueryTimeout"]
