"""The Dagster instance of ``$DAGSTER_HOME``, its storage created once before anything runs.

A fresh SQLite instance creates its run, event-log and schedule databases (and stamps their
schema versions) the first time a process opens it. Several processes doing that at once (six
`sentinel run` started together on a new ``DAGSTER_HOME``) race Dagster's schema creation and can
leave two migration heads behind, after which every run fails. So the first opening happens
under an exclusive lock on a file in ``$DAGSTER_HOME``: one process creates the storage, the
others wait and then open a finished instance.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import dagster as dg

LOCK_FILE = ".sentinel_instance.lock"


def initialized_instance() -> dg.DagsterInstance:
    """``DagsterInstance.get()`` with its storages created, one process at a time."""
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    with open(home / LOCK_FILE, "a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            instance = dg.DagsterInstance.get()
            # every storage opened (and so created) now, not by the first run that needs it
            instance.get_runs_count()
            instance.all_instigator_state()
            instance.event_log_storage.get_asset_keys()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return instance
