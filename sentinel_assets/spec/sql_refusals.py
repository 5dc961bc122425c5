"""What the statement guard (``spec.sql_guard``) refuses, and how it says so.

``Refusal`` is the guard's answer, ``DANGEROUS_FUNCTIONS`` the functions it refuses and
``EXECUTABLE_COMMENT`` MySQL's executable comments. They are shared by the guard's fast path
(``sql_guard``, no parser) and its parsing check (``sql_parse``, sqlglot), and import neither.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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

# MySQL's executable comments (``/*! ... */``, ``/*M! ... */``): the server runs what they hold
EXECUTABLE_COMMENT = re.compile(r"/\*M?!")


@dataclass(frozen=True)
class Refusal:
    """Why a query is not one read statement: ``message`` says what was found and where;
    ``line`` is the 1-based line within the query text where the problem starts."""

    message: str
    line: int | None = None

    def __str__(self) -> str:
        return f"an alert query must be one SELECT statement; {self.message}"
