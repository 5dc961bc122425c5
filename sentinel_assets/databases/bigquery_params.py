"""Named query parameters for BigQuery: ``:name`` in the SQL, typed parameters on the job.

Alert queries bind values the SQLAlchemy way (``:window_start``); BigQuery wants ``@window_start``
and a typed ``ScalarQueryParameter``. The rewrite skips string literals, quoted identifiers and
comments, so a ``':'`` inside a string or a ``12:30`` in a comment is left alone. Values are never
formatted into the SQL.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import re
from typing import Any, Mapping

from google.cloud import bigquery

from sentinel_assets.databases.errors import QueryError

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORD = re.compile(r"\w")
_INT64 = (-(2**63), 2**63 - 1)


def to_bigquery_sql(sql: str) -> tuple[str, list[str]]:
    """Rewrite ``:name`` placeholders to ``@name``.

    Returns:
        The rewritten SQL and the parameter names it refers to (``:name`` and ``@name`` alike),
        in order of first use.
    """
    out: list[str] = []
    names: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        end = _skip_literal_or_comment(sql, i)
        if end > i:
            out.append(sql[i:end])
            i = end
            continue
        if ch in ":@":
            prev = sql[i - 1] if i else ""
            match = _IDENT.match(sql, i + 1)
            after = sql[match.end()] if match and match.end() < n else ""
            standalone = prev != ch and not _WORD.match(prev or " ")
            if match and standalone and after != ch:
                name = match.group(0)
                if name not in names:
                    names.append(name)
                out.append("@" + name)
                i = match.end()
                continue
        out.append(ch)
        i += 1
    return "".join(out), names


def _skip_literal_or_comment(sql: str, i: int) -> int:
    """End index of the string, quoted identifier or comment starting at ``i`` (``i`` if none)."""
    ch, rest = sql[i], sql[i:i + 3]
    if rest in ("'''", '"""'):
        end = sql.find(rest, i + 3)
        return len(sql) if end < 0 else end + 3
    if ch in "'\"`":
        j = i + 1
        while j < len(sql):
            if sql[j] == "\\":
                j += 2
                continue
            if sql[j] == ch:
                return j + 1
            j += 1
        return len(sql)
    if rest[:2] == "--" or ch == "#":
        end = sql.find("\n", i)
        return len(sql) if end < 0 else end
    if rest[:2] == "/*":
        end = sql.find("*/", i + 2)
        return len(sql) if end < 0 else end + 2
    return i


def query_parameters(names: list[str], params: Mapping[str, Any]) -> list[Any]:
    """Typed BigQuery parameters for the ``names`` the SQL uses, taken from ``params``.

    Raises:
        QueryError: when the SQL uses a name that ``params`` has no value for, or a value has a
            type BigQuery parameters cannot carry.
    """
    missing = [name for name in names if name not in params]
    if missing:
        given = ", ".join(sorted(params)) or "none"
        raise QueryError(f"the query uses parameter(s) {', '.join(':' + m for m in missing)} "
                         f"but no value was given for them (parameters given: {given})")
    return [query_parameter(name, params[name]) for name in names]


def query_parameter(name: str, value: Any) -> Any:
    """One ``ScalarQueryParameter`` (or ``ArrayQueryParameter`` for a list) typed from ``value``."""
    if isinstance(value, (list, tuple)):
        present = [v for v in value if v is not None]
        element = parameter_type(name, present[0]) if present else "STRING"
        return bigquery.ArrayQueryParameter(name, element, list(value))
    return bigquery.ScalarQueryParameter(name, parameter_type(name, value), value)


def parameter_type(name: str, value: Any) -> str:
    """The BigQuery type of a Python value: INT64, FLOAT64, NUMERIC, STRING, BOOL, TIMESTAMP..."""
    if value is None:
        return "STRING"  # a typed NULL; BigQuery coerces it where the column type differs
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            return "BIGNUMERIC"
        return "INT64"
    if isinstance(value, float):
        return "FLOAT64"
    if isinstance(value, decimal.Decimal):
        return "NUMERIC" if _fits_numeric(value) else "BIGNUMERIC"
    if isinstance(value, str):
        return "STRING"
    if isinstance(value, bytes):
        return "BYTES"
    if isinstance(value, _dt.datetime):
        return "TIMESTAMP"  # a naive datetime is read as UTC, as BigQuery does
    if isinstance(value, _dt.date):
        return "DATE"
    if isinstance(value, _dt.time):
        return "TIME"
    raise QueryError(f"parameter :{name} has a value of type {type(value).__name__}, which a "
                     "BigQuery query parameter cannot carry; use a number, string, bool, "
                     "date, datetime or a list of them")


def _fits_numeric(value: decimal.Decimal) -> bool:
    """NUMERIC holds 29 integer digits and 9 decimal digits."""
    sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):  # NaN or infinity
        return False
    scale = max(0, -exponent)
    integer_digits = max(0, len(digits) - scale + max(0, exponent))
    return scale <= 9 and integer_digits <= 29
