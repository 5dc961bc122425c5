"""``sentinel metrics serve``: ``/metrics`` for Prometheus and ``/health`` as JSON; Pushgateway.

``/metrics`` is the sentinel collector (``sentinel_assets.observe.metrics``) on its own registry, in the
Prometheus text format (OpenMetrics when the scraper asks for it). ``/health`` runs the
healthcheck and answers 200 when sentinel is healthy or degraded, 503 when it is unhealthy, with
the report as JSON. With ``SENTINEL_PUSHGATEWAY_URL`` set, every alert run also pushes its own
gauges to a Pushgateway (``push_evaluation``), best effort: a push never fails a run.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import datetime, timezone
from socketserver import ThreadingMixIn
from typing import Any, Callable, Iterable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from sentinel_assets.core.redaction import redact

PUSH_ENV = "SENTINEL_PUSHGATEWAY_URL"
PUSH_JOB = "sentinel"
DEFAULT_PORT = 9464
_log = logging.getLogger("sentinel_assets.observe.exporter")


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    """Access lines go to the sentinel logger at DEBUG instead of stderr."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        _log.debug("%s %s", self.address_string(), format % args)


def make_app(registry: Any, health: Callable[[], Any]) -> Callable:
    """The WSGI app: ``/metrics`` from ``registry``, ``/health`` from ``health()`` (a report)."""
    metrics_app = make_wsgi_app(registry)

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            return metrics_app(environ, start_response)
        if path == "/health":
            report = health()
            body = json.dumps(report.as_dict()).encode()
            code = "503 Service Unavailable" if report.status == "unhealthy" else "200 OK"
            start_response(code, [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
            return [body]
        body = b"sentinel exporter: see /metrics and /health\n"
        start_response("404 Not Found", [("Content-Type", "text/plain"),
                                         ("Content-Length", str(len(body)))])
        return [body]

    return app


def make_exporter(app: Callable, host: str, port: int) -> WSGIServer:
    """A threaded WSGI server for ``app`` (port 0 picks a free port)."""
    return make_server(host, port, app, server_class=_ThreadingServer,
                       handler_class=_QuietHandler)


def serve_in_thread(server: WSGIServer) -> threading.Thread:
    """Serve ``server`` from a daemon thread (tests, embedding)."""
    thread = threading.Thread(target=server.serve_forever, name="sentinel-exporter", daemon=True)
    thread.start()
    return thread


# -- Pushgateway ----------------------------------------------------------------------------------
def push_evaluation(ev: Any, run_id: str | None, url: str | None = None,
                    timeout: float = 5.0) -> bool:
    """Push one run's figures for its alert to the Pushgateway at ``url``.

    Pushed under ``job="sentinel", alert=<name>`` (each push replaces that alert's previous
    one): ``sentinel_alert_status``, ``sentinel_last_evaluation_timestamp_seconds`` and
    ``sentinel_alert_duration_seconds``. Counters are left to ``/metrics``, which reads them
    from the instance. Returns True when pushed; any failure is logged, never raised.

    Args:
        ev: the ``Evaluation`` the run made.
        run_id: the Dagster run, logged with a failed push.
        url: the Pushgateway; default ``$SENTINEL_PUSHGATEWAY_URL`` (unset: nothing is pushed).
        timeout: seconds to wait for the Pushgateway.
    """
    url = url or os.environ.get(PUSH_ENV)
    if not url:
        return False
    try:
        from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

        from sentinel_assets.observe.metrics import STATUS_VALUES

        alert = ev.alert.name
        registry = CollectorRegistry()
        Gauge("sentinel_alert_status", "Alert state: 0 OK, 1 PENDING, 2 FIRING, 3 ERROR.",
              ["alert"], registry=registry).labels(alert).set(STATUS_VALUES.get(ev.state.status, 3))
        Gauge("sentinel_last_evaluation_timestamp_seconds", "Unix time of the last evaluation.",
              ["alert"], registry=registry).labels(alert).set(ev.evaluated_at.timestamp())
        seconds = (datetime.now(timezone.utc) - ev.evaluated_at).total_seconds()
        Gauge("sentinel_alert_duration_seconds", "Duration of the alert's latest evaluation.",
              ["alert"], registry=registry).labels(alert).set(seconds)
        push_to_gateway(url, job=PUSH_JOB, registry=registry, grouping_key={"alert": alert},
                        timeout=timeout)
        return True
    except Exception as exc:  # noqa: BLE001 - metrics must never fail an evaluation
        _log.warning("push to the Pushgateway failed (run %s): %s", run_id, redact(str(exc)),
                     extra={"run_id": run_id})
        return False
