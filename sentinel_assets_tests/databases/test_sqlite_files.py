"""SQLite alert databases are opened without creating anything: a missing file is "database file
not found", never a new empty database that then has "no such table"; a read-only resource
opens the file read-only."""

from __future__ import annotations

import sqlite3

import pytest

from sentinel_assets.databases import QueryError
from sentinel_assets.databases.sql import SqlDatabase, get_engine


@pytest.mark.parametrize("read_only", [True, False])
@pytest.mark.parametrize("where", ["alerts.db", "nowhere/alerts.db"])
def test_a_missing_file_is_reported_and_not_created(tmp_path, read_only, where):
    missing = tmp_path / where
    db = SqlDatabase(url=f"sqlite:///{missing}", read_only=read_only)

    with pytest.raises(QueryError) as caught:
        db.query("SELECT status FROM checks", timeout=5)

    assert str(caught.value) == f"database file not found: {missing}"
    with pytest.raises(QueryError, match="database file not found"):
        db.ping()
    assert list(tmp_path.iterdir()) == []


def test_a_relative_path_is_reported_as_an_absolute_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    with pytest.raises(QueryError) as caught:
        SqlDatabase(url="sqlite:///data/alerts.db").query("SELECT 1 AS ok", timeout=5)

    assert str(caught.value) == f"database file not found: {tmp_path / 'data' / 'alerts.db'}"
    assert list(tmp_path.iterdir()) == []


def test_the_file_is_found_once_it_exists(tmp_path):
    path = tmp_path / "late.db"
    db = SqlDatabase(url=f"sqlite:///{path}")
    with pytest.raises(QueryError, match="database file not found"):
        db.query("SELECT 1 AS ok", timeout=5)

    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE checks (status TEXT)")
        conn.execute("INSERT INTO checks VALUES ('OK')")

    assert db.query("SELECT status FROM checks", timeout=5).rows == (("OK",),)


def test_a_read_only_resource_opens_the_file_read_only(tmp_path):
    path = tmp_path / "alerts.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE checks (status TEXT)")
    url = f"sqlite:///{path}"
    SqlDatabase(url=url).query("SELECT 1 AS ok", timeout=5)

    with get_engine(url).connect() as conn:  # the resource's engine, without its guard
        with pytest.raises(Exception, match="readonly database"):
            conn.exec_driver_sql("INSERT INTO checks VALUES ('x')")
        conn.rollback()
    with get_engine(url, read_only=False).begin() as conn:  # read_only: false opens it mode=rw
        conn.exec_driver_sql("INSERT INTO checks VALUES ('x')")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM checks").fetchone() == (1,)


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_databases_still_work(url):
    assert SqlDatabase(url=url).query("SELECT 'OK' AS status", timeout=5).rows == (("OK",),)


def test_odd_characters_in_the_path_are_kept(tmp_path):
    folder = tmp_path / "a dir é #1"
    folder.mkdir()
    path = folder / "alerts.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE checks (status TEXT)")
        conn.execute("INSERT INTO checks VALUES ('OK')")

    assert SqlDatabase(url=f"sqlite:///{path}").query(
        "SELECT status FROM checks", timeout=5).rows == (("OK",),)
    assert sorted(p.name for p in folder.iterdir()) == ["alerts.db"]
