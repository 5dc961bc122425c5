"""The parser half of the statement guard (``spec.sql_guard``): sqlglot's tokenizer and parser.

``sql_guard.check_query`` accepts plain SELECTs without parsing (``_plainly_one_select``); a query
it cannot accept that way comes here, to ``_check``, which tokenizes and parses it in the
database's dialect and walks the tree for what a read statement may not hold. It is its own
module so that importing ``sql_guard`` (every process that loads specs or runs a query) does not
import sqlglot, which costs about a tenth of a second, unless a query needs it.
"""

from __future__ import annotations

import logging
import threading

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from sentinel_assets.spec.sql_refusals import DANGEROUS_FUNCTIONS, EXECUTABLE_COMMENT, Refusal

# statements that may not appear anywhere inside the one SELECT (data-modifying CTEs and the like)
_NOT_READS = (exp.DML, exp.DDL, exp.Drop, exp.Alter, exp.Command, exp.Set, exp.Transaction,
              exp.Commit, exp.Rollback, exp.Pragma, exp.Attach, exp.Detach, exp.Execute,
              exp.Export, exp.LoadData, exp.TruncateTable, exp.Kill, exp.Grant, exp.Use)
_READ_STATEMENTS = (exp.Select, exp.SetOperation)
_READ_STARTS = (TokenType.SELECT, TokenType.WITH, TokenType.L_PAREN)
_INTO_TARGETS = {"OUTFILE", "DUMPFILE"}
_WRITES = {"INSERT", "MERGE", "REPLACE", "IGNORE"}
_WRITES_RESULT = "a query may not write its result anywhere"


def _found(what: str, line: int | None, why: str = "") -> Refusal:
    where = f" at line {line} of the query" if line else ""
    return Refusal(f"found {what}{where}" + (f" ({why})" if why else ""), line)


def _check(sql: str, dialect: str) -> Refusal | None:
    try:
        grammar = sqlglot.Dialect.get_or_raise(dialect or "")
        tokens = grammar.tokenize(sql)
    except (TokenError, ValueError) as exc:
        return Refusal(f"it could not be read as SQL ({_first_line(exc)})")
    statements = _split(tokens)
    if not statements:
        return Refusal("the query is empty")
    if EXECUTABLE_COMMENT.search(sql):
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
