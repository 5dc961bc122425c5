"""Errors a database resource raises; the message is what the ERROR notice says."""


class QueryError(Exception):
    """The query failed; ``str(exc)`` says why, without credentials."""


class QueryTimeout(QueryError):
    """The query ran longer than its timeout and was cancelled."""


class QueryRefused(QueryError):
    """The query is not exactly one read statement (``spec.sql_guard``); it was not sent."""
