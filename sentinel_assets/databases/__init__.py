"""Database resources: run an alert query and return a ``QueryResult``."""

from sentinel_assets.databases.errors import QueryError, QueryTimeout
from sentinel_assets.databases.sql import SqlDatabase

__all__ = ["QueryError", "QueryTimeout", "SqlDatabase"]
