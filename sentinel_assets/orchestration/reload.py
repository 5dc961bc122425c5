"""``sentinel_spec_reload``: spec changes reach the running code location without a restart.

The code location remembers the spec files it was loaded from (their names and a hash of their
bytes). Every ``RELOAD_INTERVAL_SECONDS`` the sensor compares them with the files on disk. When
they differ and have settled (no file written in the last ``SETTLE_SECONDS``, or nothing changed
since the previous tick), it loads the new specs and, when they compile and differ from the
running ones, asks the code server to reload its code: Dagster's ``ReloadCode`` call, which
``dagster code-server start`` answers by loading the code in a fresh process and switching to it
once it has loaded (runs in progress finish in the old one). The daemon and the webserver poll
the server's id every second and load the new definitions when it changes, so an added, edited
or removed alert file is scheduled within seconds of the tick.

A file with errors does not stop the others (the loader leaves out only what is broken): the rest
of the change is applied, the broken alerts are reported by ``sentinel_spec_errors`` and the
healthcheck, and every valid alert keeps running. The sensor does not reload, and its tick fails
saying why, when the specs directory is gone (an unmounted volume must not remove every alert) or
the new definitions do not compile; the loaded alerts keep running until the next good change.

The code server is ``$SENTINEL_CODE_SERVER_HOST:$SENTINEL_CODE_SERVER_PORT``, the variables
``workspace.stack.yaml`` reads; without them (``dg dev``, a host project) the sensor only skips.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import dagster as dg

from sentinel_assets.names import SPEC_RELOAD_SENSOR
from sentinel_assets.spec.loader import load_specs, spec_files
from sentinel_assets.spec.models import SentinelConfig

_log = logging.getLogger("sentinel_assets")

RELOAD_INTERVAL_SECONDS = 10
#: a file written less than this long ago may still be being written: wait
SETTLE_SECONDS = 5
#: how long the code server may take to load the new code
RELOAD_TIMEOUT_SECONDS = 50
HOST_VAR, PORT_VAR = "SENTINEL_CODE_SERVER_HOST", "SENTINEL_CODE_SERVER_PORT"


class SpecReloadRefused(Exception):
    """The specs changed but were not applied; the tick fails with the reason."""


@dataclass(frozen=True)
class SpecFiles:
    """What the spec files of a directory are now: a digest of names and bytes, and when the
    newest of them was written."""

    digest: str
    newest_write: float = 0.0

    @classmethod
    def of(cls, specs_dir: str | os.PathLike) -> SpecFiles:
        root = Path(specs_dir)
        if not root.is_dir():
            return cls("missing")
        digest, newest = hashlib.sha256(), 0.0
        for path in spec_files(root):
            try:
                data, written = path.read_bytes(), path.stat().st_mtime
            except OSError:  # removed since it was listed
                continue
            digest.update(f"{path.relative_to(root)}\0".encode() + hashlib.sha256(data).digest())
            newest = max(newest, written)
        return cls(digest.hexdigest(), newest)


def reload_code_server(host: str, port: int, timeout: int = RELOAD_TIMEOUT_SECONDS) -> str:
    """Ask the code server to reload its code; the new server id once it has.

    Raises ``SpecReloadRefused`` when the server id did not change: a ``dagster api grpc``
    server acknowledges ``ReloadCode`` but cannot reload.
    """
    from dagster._grpc.client import DagsterGrpcClient

    client = DagsterGrpcClient(port=port, host=host)
    before = client.get_server_id()
    client.reload_code(timeout=timeout)
    after = client.get_server_id()
    if after == before:
        raise SpecReloadRefused(
            f"the code server at {host}:{port} did not reload its code: start it with "
            "`dagster code-server start` (a `dagster api grpc` server cannot reload)")
    return after


def _code_server() -> tuple[str, int] | None:
    host, port = os.environ.get(HOST_VAR), os.environ.get(PORT_VAR)
    if not host or not port:
        return None
    return host, int(port)


def describe_change(running: SentinelConfig, new: SentinelConfig) -> str:
    """``"alerts added: a; removed: b; changed: c; 1 spec error(s)"``."""
    old = {a.name: a for a in running.alerts}
    now = {a.name: a for a in new.alerts}
    parts = []
    for label, names in (("added", sorted(now.keys() - old.keys())),
                         ("removed", sorted(old.keys() - now.keys())),
                         ("changed", sorted(n for n in now.keys() & old.keys()
                                            if now[n] != old[n]))):
        if names:
            parts.append(f"{label}: {', '.join(names[:20])}{' ...' if len(names) > 20 else ''}")
    alerts = f"alerts {'; '.join(parts)}" if parts else "no alert changed"
    problems = sum(1 for e in new.errors if not e.warning)
    if problems:
        alerts += f"; {problems} spec error(s), reported by sentinel_spec_errors"
    return alerts


def build_spec_reload_sensor(
    specs_dir: str | os.PathLike,
    loaded: SpecFiles,
    running: SentinelConfig,
    compile_check: Callable[[SentinelConfig], object],
    name: str = SPEC_RELOAD_SENSOR,
    reload: Callable[[str, int], object] = reload_code_server,
) -> dg.SensorDefinition:
    """The sensor that reloads the code location when the files under ``specs_dir`` change.

    ``loaded`` is what the files were when ``running`` was loaded from them (taken before
    loading, so that a file written meanwhile shows as a change). ``compile_check`` raises when
    new specs would not make a code location. The cursor remembers the files seen at the last
    tick (a change seen twice has settled) and a change that left the alerts as they are.
    """

    @dg.sensor(
        name=name,
        description=(f"Reloads the code location when the alert specs under {specs_dir} change "
                     f"(checked every {RELOAD_INTERVAL_SECONDS} s)."),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=RELOAD_INTERVAL_SECONDS,
    )
    def _sensor(context: dg.SensorEvaluationContext):
        now = SpecFiles.of(specs_dir)
        if now.digest == loaded.digest:
            return dg.SkipReason("the spec files are as they were loaded")
        cursor = json.loads(context.cursor) if context.cursor else {}
        if cursor.get("unchanged") == now.digest:
            return dg.SkipReason("the spec files changed, the alerts did not")
        settled = cursor.get("seen") == now.digest or time.time() - now.newest_write >= SETTLE_SECONDS
        context.update_cursor(json.dumps({"seen": now.digest}))
        if not settled:
            return dg.SkipReason(f"spec files written in the last {SETTLE_SECONDS} s; waiting "
                                 "until they are complete")
        if now.digest == "missing":
            raise SpecReloadRefused(
                f"the specs directory {specs_dir} is gone; the {len(running.alerts)} loaded "
                "alerts keep running")
        new = load_specs(specs_dir)
        if new == running:
            context.update_cursor(json.dumps({"seen": now.digest, "unchanged": now.digest}))
            return dg.SkipReason("the spec files changed, the alerts did not")
        change = describe_change(running, new)
        try:
            compile_check(new)
        except Exception as exc:
            raise SpecReloadRefused(
                f"the changed specs ({change}) do not compile, so the loaded alerts keep "
                f"running: {type(exc).__name__}: {exc}") from exc
        server = _code_server()
        if server is None:
            return dg.SkipReason(f"the specs changed ({change}) but {HOST_VAR}/{PORT_VAR} name "
                                 "no code server to reload; reload the code location in the UI")
        reload(*server)
        _log.info("sentinel specs changed, code location reloaded: %s", change)
        context.log.info(f"reloaded the code location: {change}")
        return dg.SkipReason(f"reloaded the code location: {change}")

    return _sensor
