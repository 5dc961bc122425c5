"""The statement guard: an alert query is exactly one read statement.

``check_query`` parses the query with sqlglot in the database's dialect and accepts one
``SELECT`` (``WITH ... SELECT``, ``UNION``/``INTERSECT``/``EXCEPT`` of selects) and nothing else:
a whitelist, so a statement sqlglot does not know (its ``Command`` fallback) or cannot parse is
refused too. Inside the statement it refuses data-modifying CTEs, ``SELECT ... INTO`` (a table, a
variable, ``OUTFILE``/``DUMPFILE``), row locks (``FOR UPDATE``), MySQL's executable comments
(``/*! ... */``, which sqlglot reads as comments and the server runs) and a short list of
functions whose side effects a read-only transaction does not stop (``DANGEROUS_FUNCTIONS``).

Text that starts with SELECT and holds none of the words a refusal needs is accepted without
parsing (``_plainly_one_select``), so a 10,000-alert location pays no parser; the database then
judges its syntax. The parsing check lives in ``spec.sql_parse``, imported (with sqlglot) only
when a query needs it; ``Refusal`` and the function list, which both use, in ``spec.sql_refusals``. The spec loader runs the guard at validate time (the error names file,
alert, field ``query`` and line) and the database resources run it again before every execution. It is one layer: underneath,
queries still run in a read-only transaction with a server-side timeout, PostgreSQL receives them
through the extended protocol (one statement per call), and the database role alerts use should
be read-only. The function list cannot know every extension or user-defined function; the
read-only role is what stops those.
"""

from __future__ import annotations

import re

from sentinel_assets.spec.sql_refusals import DANGEROUS_FUNCTIONS, EXECUTABLE_COMMENT, Refusal

# database kind (SQLAlchemy backend name or URL scheme) -> sqlglot dialect
DIALECTS = {
    "sqlite": "sqlite",
    "postgresql": "postgres",
    "postgres": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "bigquery": "bigquery",
    "mssql": "tsql",
}

_PLAIN_START = re.compile(r"\s*(?:(?:SELECT|WITH)\b|\()", re.IGNORECASE)
# statement keywords, and what may bring a side effect into a SELECT (INTO, FOR UPDATE, LOCK IN
# SHARE MODE, data-modifying CTEs, the DANGEROUS_FUNCTIONS): a query holding none of them as a word
# needs no parsing
_SUSPICIOUS_WORDS = (
    "INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "REPLACE", "CREATE", "DROP", "ALTER",
    "TRUNCATE", "RENAME", "COPY", "SET", "RESET", "COMMIT", "ROLLBACK", "BEGIN", "START",
    "SAVEPOINT", "RELEASE", "CALL", "DO", "EXEC", "EXECUTE", "PREPARE", "DEALLOCATE", "DECLARE",
    "LOCK", "UNLOCK", "FOR", "INTO", "OUTFILE", "DUMPFILE", "ATTACH", "DETACH", "VACUUM",
    "PRAGMA", "ANALYZE", "GRANT", "REVOKE", "USE", "KILL", "LOAD", "EXPORT", "IMPORT",
    "HANDLER", "NOTIFY", "LISTEN", "UNLISTEN", "DISCARD", "CHECKPOINT", "REINDEX", "CLUSTER",
    "REFRESH", "COMMENT", "SECURITY", "SHUTDOWN", "INSTALL", "UNINSTALL", "FLUSH", "PURGE",
)
_SUSPICIOUS = frozenset(_SUSPICIOUS_WORDS) | {name.upper() for name in DANGEROUS_FUNCTIONS}
_WORD = re.compile(r"\w+")


def dialect_for(kind: str | None) -> str:
    """The sqlglot dialect of a database kind (``postgresql``, ``mariadb``...) or URL; "" (sqlglot's
    generic SQL) for a kind it does not know."""
    if not kind:
        return ""
    name = kind.strip().split("://", 1)[0].split("+", 1)[0].lower()
    if name in DIALECTS:
        return DIALECTS[name]
    import sqlglot  # only for a name DIALECTS does not know (about 0.1 s to import)

    return name if name in sqlglot.Dialect.classes else ""


def check_query(sql: str, dialect: str | None) -> Refusal | None:
    """None when ``sql`` is exactly one read statement in ``dialect`` (a sqlglot dialect name,
    see ``dialect_for``), else the ``Refusal`` that says what was found and where.

    ``dialect=None`` (the database is not known yet) accepts what one of the dialects of
    ``DIALECTS`` accepts: what differs between them is syntax, never what is refused.
    ``:name`` placeholders (and BigQuery's ``@name``) are parameters, as everywhere in alerts.
    """
    if _plainly_one_select(sql):
        return None
    from sentinel_assets.spec.sql_parse import _check  # sqlglot: only for what needs parsing

    if dialect is None:
        refusals = [_check(sql, name) for name in dict.fromkeys(DIALECTS.values())]
        return None if None in refusals else refusals[0]
    return _check(sql, dialect)


def _plainly_one_select(sql: str) -> bool:
    """True for text that starts with SELECT, WITH or ``(`` and holds no ``;`` (but a last one),
    no ``/*!`` and none of the words any refusal needs (``_SUSPICIOUS``), wherever they are:
    such text is one read statement in every dialect, without tokenizing or parsing it (which
    costs about a millisecond an alert, ten seconds for a 10,000-alert location).

    Words in strings, comments or names only send a query to the full check; a database never
    runs a statement, an INTO, a data-modifying CTE or a function call that it cannot see as
    words in the text, and MySQL's executable comments are the one place where it runs text
    that a parser reads as a comment.
    """
    return (_PLAIN_START.match(sql) is not None and ";" not in sql.rstrip().rstrip(";")
            and EXECUTABLE_COMMENT.search(sql) is None
            and _SUSPICIOUS.isdisjoint(_WORD.findall(sql.upper())))
