"""The exporter of ``sentinel metrics serve``: ``/metrics`` for Prometheus and ``/health`` as JSON.

``/metrics`` is the sentinel collector (``sentinel_assets.observe.metrics``) on its own registry, in the
Prometheus text format (OpenMetrics when the scraper asks for it). ``/health`` runs the
healthcheck and answers 200 when sentinel is healthy or degraded, 503 when it is unhealthy, with
the report as JSON.
"""

from __future__ import annotations

import json
import logging
import threading
from socketserver import ThreadingMixIn
from typing import Any, Callable, Iterable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

DEFAULT_PORT = 9464
# loopback unless told otherwise (`--host`, $SENTINEL_METRICS_HOST): compose passes 0.0.0.0
DEFAULT_HOST = "127.0.0.1"
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
