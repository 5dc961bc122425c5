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
judges its syntax. The spec loader runs it at validate time (the error names file, alert, field ``query`` and line)
and the database resources run it again before every execution. It is one layer: underneath,
queries still run in a read-only transaction with a server-side timeout, PostgreSQL receives them
through the extended protocol (one statement per call), and the database role alerts use should
be read-only. The function list cannot know every extension or user-defined function; the
read-only role is what stops those.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, TokenError
from sqlglot.tokens import Token, TokenType

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

# function -> what it does that a read-only transaction does not stop (every dialect's names are
# checked whatever the dialect: a name that means nothing in one database costs nothing there)
_READS_FILES = "reads files of the database server"
_WRITES_FILES = "writes files on the database server"
_OTHER_DB = "runs SQL text on another connection or database"
_SQL_TEXT = "runs SQL given as text, past this check"
_SESSION_LOCK = "takes a lock that outlives the query's transaction"
DANGEROUS_FUNCTIONS: dict[str, str] = {
    # PostgreSQL
    **dict.fromkeys(("pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_ls_logdir",
                     "pg_ls_waldir", "pg_ls_tmpdir", "pg_ls_archive_statusdir", "pg_stat_file",
                     "lo_import"), _READS_FILES),
    **dict.fromkeys(("lo_export", "pg_file_write", "pg_file_rename", "pg_file_unlink",
                     "pg_file_sync"), _WRITES_FILES),
    **dict.fromkeys(("lo_create", "lo_creat", "lo_unlink", "lo_from_bytea", "lo_put",
                     "lo_open", "lowrite", "lo_truncate", "lo_truncate64"),
                    "changes large objects"),
    **dict.fromkeys(("dblink", "dblink_exec", "dblink_connect", "dblink_connect_u",
                     "dblink_open", "dblink_fetch", "dblink_send_query", "dblink_get_result"),
                    _OTHER_DB),
    **dict.fromkeys(("query_to_xml", "query_to_xml_and_xmlschema", "query_to_xmlschema",
                     "cursor_to_xml", "cursor_to_xmlschema"), _SQL_TEXT),
    **dict.fromkeys(("pg_terminate_backend", "pg_cancel_backend"), "stops other sessions"),
    **dict.fromkeys(("pg_reload_conf", "pg_rotate_logfile", "pg_promote", "pg_switch_wal",
                     "pg_create_restore_point", "pg_start_backup", "pg_stop_backup",
                     "pg_backup_start", "pg_backup_stop", "pg_logical_emit_message",
                     "pg_create_physical_replication_slot", "pg_create_logical_replication_slot",
                     "pg_drop_replication_slot", "pg_replication_origin_create",
                     "pg_replication_origin_drop", "pg_import_system_collations",
                     "pg_notify"), "acts on the server beyond reading"),
    "set_config": "changes session settings (the timeout, read-only mode)",
    **dict.fromkeys(("pg_advisory_lock", "pg_advisory_lock_shared", "pg_try_advisory_lock",
                     "pg_try_advisory_lock_shared"), _SESSION_LOCK),
    # MySQL / MariaDB
    "load_file": _READS_FILES,
    **dict.fromkeys(("sys_exec", "sys_eval", "sys_set"), "runs programs on the database server"),
    "get_lock": _SESSION_LOCK,
    **dict.fromkeys(("nextval", "setval"), "changes a sequence"),
    # SQLite
    "load_extension": "loads native code into the database process",
    "writefile": _WRITES_FILES,
    "readfile": "reads files of the machine",
    "edit": "starts an editor",
    "fts3_tokenizer": "registers native code",
    # BigQuery
    "external_query": _OTHER_DB,
}

# statements that may not appear anywhere inside the one SELECT (data-modifying CTEs and the like)
_NOT_READS = (exp.DML, exp.DDL, exp.Drop, exp.Alter, exp.Command, exp.Set, exp.Transaction,
              exp.Commit, exp.Rollback, exp.Pragma, exp.Attach, exp.Detach, exp.Execute,
              exp.Export, exp.LoadData, exp.TruncateTable, exp.Kill, exp.Grant, exp.Use)
_READ_STATEMENTS = (exp.Select, exp.SetOperation)
_EXECUTABLE_COMMENT = re.compile(r"/\*M?!")
_PLAIN_START = re.compile(r"\s*(?:(?:SELECT|WITH)\b|\()", re.IGNORECASE)
# statement keywords, and what may bring a side effect into a SELECT (INTO, FOR UPDATE, LOCK IN
# SHARE MODE, data-modifying CTEs, the functions above): a query holding none of them as a word
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
_READ_STARTS = (TokenType.SELECT, TokenType.WITH, TokenType.L_PAREN)
_INTO_TARGETS = {"OUTFILE", "DUMPFILE"}
_WRITES = {"INSERT", "MERGE", "REPLACE", "IGNORE"}
_WRITES_RESULT = "a query may not write its result anywhere"


@dataclass(frozen=True)
class Refusal:
    """Why a query is not one read statement: ``message`` says what was found and where;
    ``line`` is the 1-based line within the query text where the problem starts."""

    message: str
    line: int | None = None

    def __str__(self) -> str:
        return f"an alert query must be one SELECT statement; {self.message}"


def _found(what: str, line: int | None, why: str = "") -> Refusal:
    where = f" at line {line} of the query" if line else ""
    return Refusal(f"found {what}{where}" + (f" ({why})" if why else ""), line)


def dialect_for(kind: str | None) -> str:
    """The sqlglot dialect of a database kind (``postgresql``, ``mariadb``...) or URL; "" (sqlglot's
    generic SQL) for a kind it does not know."""
    if not kind:
        return ""
    name = kind.strip().split("://", 1)[0].split("+", 1)[0].lower()
    if name in DIALECTS:
        return DIALECTS[name]
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
            and _EXECUTABLE_COMMENT.search(sql) is None
            and _SUSPICIOUS.isdisjoint(_WORD.findall(sql.upper())))


def _check(sql: str, dialect: str) -> Refusal | None:
    try:
        grammar = sqlglot.Dialect.get_or_raise(dialect or "")
        tokens = grammar.tokenize(sql)
    except (TokenError, ValueError) as exc:
        return Refusal(f"it could not be read as SQL ({_first_line(exc)})")
    statements = _split(tokens)
    if not statements:
        return Refusal("the query is empty")
    if _EXECUTABLE_COMMENT.search(sql):
        for token in tokens:
            if any(c.startswith(("!", "M!")) for c in token.comments):
                return _found("a /*! ... */ comment", token.line,
                              "MySQL and MariaDB run what it holds as SQL")
    if len(statements) > 1:
        words = ", ".join(_word(s) for s in statements)
        return Refusal(f"found {len(statements)} statements ({words}) where one is allowed; "
                       f"the second starts at line {statements[1][0].line} of the query",
                       statements[1][0].line)
    statement = statements[0]
    if statement[0].token_type not in _READ_STARTS:
        return _found(_word(statement), statement[0].line)
    for i, token in enumerate(statement):
        # MySQL's INTO OUTFILE does not even parse; INSERT INTO and MERGE INTO are found below
        if token.token_type == TokenType.INTO and statement[i - 1].text.upper() not in _WRITES:
            target = statement[i + 1].text.upper() if i + 1 < len(statement) else ""
            into = f"INTO {target}" if target in _INTO_TARGETS else "INTO"
            return _found(f"SELECT ... {into}", token.line, _WRITES_RESULT)
    try:
        with _quiet_sqlglot():
            parsed = [e for e in grammar.parser(error_level=ErrorLevel.RAISE).parse(tokens, sql)
                      if e is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        detail = str(first.get("description") or _first_line(exc))
        if first.get("highlight"):
            detail += f" near {str(first['highlight'])[:40]!r}"
        line = first.get("line") or statement[0].line
        return Refusal(f"it could not be read as one statement of SQL's {dialect or 'generic'} "
                       f"dialect: {detail} at line {line} of the query", line)
    except RecursionError:
        return Refusal("it is nested too deeply to be checked")
    if len(parsed) != 1:  # not expected after the split above; refuse rather than guess
        return Refusal(f"found {len(parsed)} statements where one is allowed")
    return _check_tree(parsed[0], statement)


def _check_tree(tree: exp.Expression, tokens: list[Token]) -> Refusal | None:
    top = tree.unnest() if isinstance(tree, exp.Subquery) else tree
    if not isinstance(top, _READ_STATEMENTS):
        return _found(_word(tokens), tokens[0].line)
    for node in tree.walk():
        if isinstance(node, _NOT_READS):
            name = str(node.this).upper() if isinstance(node, exp.Command) else node.key.upper()
            return _found(f"{name} inside the SELECT", _line(node, tokens),
                          "only SELECTs may be nested")
        if isinstance(node, exp.Into):
            return _found("SELECT ... INTO", _line(node, tokens), _WRITES_RESULT)
        if isinstance(node, exp.Lock):
            return _found("FOR UPDATE/FOR SHARE", _line(node, tokens),
                          "an alert query may not lock rows")
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in DANGEROUS_FUNCTIONS:
                return _found(f"a call of {name}()", _line(node, tokens),
                              f"it {DANGEROUS_FUNCTIONS[name]}")
    return None


def _split(tokens: list[Token]) -> list[list[Token]]:
    """The statements of a token stream: runs of tokens between semicolons, empty ones dropped."""
    statements: list[list[Token]] = [[]]
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            statements.append([])
        else:
            statements[-1].append(token)
    return [s for s in statements if s]


def _word(tokens: list[Token]) -> str:
    return tokens[0].text.upper() if tokens else ""


def _line(node: exp.Expression, tokens: list[Token]) -> int | None:
    """The line of ``node`` (or of its first part that knows one) within the query."""
    for part in node.walk():
        line = part.meta.get("line") if part.meta else None
        if line:
            return line
    return tokens[0].line if tokens else None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().split("\n", 1)[0][:200]


# sqlglot logs a warning each time it falls back to a Command; a refused query is reported by
# whoever called check_query, so those warnings are dropped while it runs (in its thread only)
_checking = threading.local()


class _DropWhileChecking(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_checking, "active", False)


logging.getLogger("sqlglot").addFilter(_DropWhileChecking())


class _quiet_sqlglot:
    def __enter__(self):
        _checking.active = True

    def __exit__(self, *exc_info):
        _checking.active = False
        return False
