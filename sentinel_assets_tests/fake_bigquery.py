"""A local stand-in for the BigQuery REST API, for the real ``google-cloud-bigquery`` client.

It implements the calls the adapter makes through ``Client.query`` (the ``jobs.insert`` path):
``jobs.insert`` (including dry runs with ``totalBytesProcessed``), ``jobs.get``,
``jobs.getQueryResults`` with ``maxResults``/``pageToken`` paging, ``jobs.cancel``, and an OAuth
token endpoint for service-account credentials. ``jobs.query`` answers 501 so that a change of
path in the client shows up as a test failure instead of passing silently.

Tests script answers by a substring of the SQL (``respond``, ``fail``, ``hang``) and read back
every request the client sent (``requests``), e.g. to check that parameters arrived typed.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_STATUS_OF_REASON = {"invalidQuery": 400, "accessDenied": 403, "quotaExceeded": 403,
                     "bytesBilledLimitExceeded": 400, "notFound": 404, "stopped": 400}


@dataclass
class Recorded:
    """One request the client sent."""

    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any] | None
    headers: dict[str, str]

    @property
    def kind(self) -> str:
        """The REST method: jobs.insert, jobs.get, jobs.getQueryResults, jobs.cancel..."""
        return _route(self.method, self.path)[0]


@dataclass
class _Script:
    match: str
    columns: list[tuple[str, str]] = field(default_factory=list)
    rows: list[tuple] = field(default_factory=list)
    bytes_processed: int = 0
    error: tuple[int, str, str] | None = None  # (http status, reason, message)
    error_at: str = "job"  # "insert": the HTTP call fails; "job": the job finishes with an error
    hang: bool = False


@dataclass
class _Job:
    project: str
    job_id: str
    location: str
    resource_config: dict[str, Any]
    script: _Script
    state: str = "RUNNING"
    error: dict[str, str] | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)


class FakeBigQuery:
    """A BigQuery REST server on 127.0.0.1.

    Args:
        page_size: the most rows one ``getQueryResults`` response carries, whatever the client
            asks for (small values force the client to page with ``pageToken``).
    """

    def __init__(self, page_size: int = 1000):
        self.page_size = page_size
        self.requests: list[Recorded] = []
        self.jobs: dict[str, _Job] = {}
        self._scripts: list[_Script] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeBigQuery":
        self._thread.start()
        return self

    def __enter__(self) -> "FakeBigQuery":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> None:
        for job in self.jobs.values():
            job.cancelled.set()
        self._server.shutdown()
        self._server.server_close()

    # -- scripting ----------------------------------------------------------------------------
    def respond(self, match: str, columns: list[tuple[str, str]], rows: list[tuple], *,
                bytes_processed: int = 10_485_760) -> None:
        """Queries containing ``match`` return ``rows`` with ``columns`` [(name, TYPE), ...]."""
        self._scripts.insert(0, _Script(match, columns, rows, bytes_processed))

    def fail(self, match: str, reason: str, message: str, *, at: str = "job") -> None:
        """Queries containing ``match`` fail with ``reason`` (invalidQuery, accessDenied...).

        ``at="insert"`` fails the ``jobs.insert`` call itself with the HTTP status of the reason;
        ``at="job"`` creates the job and lets it finish with ``status.errorResult``.
        """
        status = _STATUS_OF_REASON.get(reason, 400)
        self._scripts.insert(0, _Script(match, error=(status, reason, message), error_at=at))

    def hang(self, match: str) -> None:
        """Queries containing ``match`` stay RUNNING until they are cancelled."""
        self._scripts.insert(0, _Script(match, hang=True))

    def calls(self, kind: str) -> list[Recorded]:
        """The recorded requests of one REST method, e.g. ``"jobs.insert"``."""
        return [r for r in self.requests if r.kind == kind]

    def _script_for(self, sql: str) -> _Script:
        for script in self._scripts:
            if script.match in sql:
                return script
        return _Script("", error=(400, "invalidQuery", f"fake BigQuery has no answer for {sql!r}"))

    # -- REST methods -------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], body: dict | None):
        kind, groups = _route(method, path)
        if kind == "jobs.insert":
            return self._insert(groups["project"], body or {})
        if kind == "jobs.get":
            job = self.jobs.get(groups["job"])
            if job is None:
                return _error(404, "notFound", f"Not found: Job {groups['job']}")
            self._advance(job)
            return 200, self._resource(job)
        if kind == "jobs.getQueryResults":
            return self._query_results(groups["job"], query)
        if kind == "jobs.cancel":
            job = self.jobs.get(groups["job"])
            if job is None:
                return _error(404, "notFound", "Not found: Job")
            job.cancelled.set()
            if job.state != "DONE":
                job.state = "DONE"
                job.error = {"reason": "stopped",
                             "message": "Job execution was cancelled: User requested cancellation"}
            return 200, {"kind": "bigquery#jobCancelResponse", "job": self._resource(job)}
        if kind == "token":
            return 200, {"access_token": "fake-access-token", "expires_in": 3600,
                         "token_type": "Bearer"}
        if kind == "jobs.query":
            return _error(501, "notImplemented", "the fake serves jobs.insert only; the adapter "
                          "must not use jobs.query")
        return _error(404, "notFound", f"fake BigQuery has no route {method} {path}")

    def _insert(self, project: str, body: dict) -> tuple[int, dict]:
        config = body.get("configuration", {})
        sql = config.get("query", {}).get("query", "")
        script = self._script_for(sql)
        reference = body.get("jobReference", {})
        location = reference.get("location") or "US"
        if script.error and (script.error_at == "insert" or config.get("dryRun")):
            return _error(*script.error)
        if config.get("dryRun"):
            stats = str(script.bytes_processed)
            return 200, {"kind": "bigquery#job", "jobReference": {"projectId": project,
                                                                 "location": location},
                         "configuration": config, "status": {"state": "DONE"},
                         "statistics": {"totalBytesProcessed": stats,
                                        "query": {"totalBytesProcessed": stats,
                                                  "statementType": "SELECT"}}}
        job_id = reference.get("jobId") or uuid.uuid4().hex
        job = _Job(project, job_id, location, config, script)
        limit = config.get("query", {}).get("maximumBytesBilled")
        if script.error:
            job.error = {"reason": script.error[1], "message": script.error[2]}
        elif limit and script.bytes_processed > int(limit):
            job.error = {"reason": "bytesBilledLimitExceeded",
                         "message": f"Query exceeded limit for bytes billed: {limit}. "
                                    f"{script.bytes_processed} or higher required."}
        with self._lock:
            self.jobs[job_id] = job
        return 200, self._resource(job)  # RUNNING: the client polls jobs.get as it would

    def _query_results(self, job_id: str, query: dict[str, str]) -> tuple[int, dict]:
        job = self.jobs.get(job_id)
        if job is None:
            return _error(404, "notFound", f"Not found: Job {job_id}")
        self._advance(job)
        reference = {"projectId": job.project, "jobId": job.job_id, "location": job.location}
        if job.state != "DONE":
            job.cancelled.wait(0.05)  # the real API long-polls; this keeps the client from spinning
            return 200, {"kind": "bigquery#getQueryResultsResponse", "jobReference": reference,
                         "jobComplete": False}
        if job.error:
            return _error(_STATUS_OF_REASON.get(job.error["reason"], 400), job.error["reason"],
                          job.error["message"])
        script = job.script
        start = int(query.get("pageToken") or query.get("startIndex") or 0)
        wanted = int(query.get("maxResults", self.page_size))
        end = min(len(script.rows), start + min(wanted, self.page_size))
        response = {
            "kind": "bigquery#getQueryResultsResponse",
            "jobReference": reference,
            "jobComplete": True,
            "schema": {"fields": [{"name": n, "type": t, "mode": "NULLABLE"}
                                  for n, t in script.columns]},
            "totalRows": str(len(script.rows)),
            "totalBytesProcessed": str(script.bytes_processed),
            "cacheHit": False,
            "rows": [_encode_row(row, script.columns) for row in script.rows[start:end]],
        }
        if end < len(script.rows) and end > start:
            response["pageToken"] = str(end)
        return 200, response

    def _advance(self, job: _Job) -> None:
        """A job finishes the first time the client polls it, unless it hangs."""
        if job.state == "RUNNING" and not job.script.hang:
            job.state = "DONE"

    def _resource(self, job: _Job) -> dict[str, Any]:
        now = str(int(time.time() * 1000))
        status: dict[str, Any] = {"state": job.state}
        if job.state == "DONE" and job.error:
            status["errorResult"] = dict(job.error, location="query")
            status["errors"] = [dict(job.error, location="query")]
        processed = str(job.script.bytes_processed)
        return {
            "kind": "bigquery#job",
            "id": f"{job.project}:{job.location}.{job.job_id}",
            "jobReference": {"projectId": job.project, "jobId": job.job_id,
                             "location": job.location},
            "configuration": job.resource_config,
            "status": status,
            "statistics": {"creationTime": now, "startTime": now, "totalBytesProcessed": processed,
                           "query": {"totalBytesProcessed": processed,
                                     "totalBytesBilled": processed, "cacheHit": False,
                                     "statementType": "SELECT"}},
            "user_email": "sentinel@example.com",
        }


_ROUTES = [
    ("POST", re.compile(r"^/bigquery/v2/projects/(?P<project>[^/]+)/jobs$"), "jobs.insert"),
    ("GET", re.compile(r"^/bigquery/v2/projects/(?P<project>[^/]+)/jobs/(?P<job>[^/]+)$"),
     "jobs.get"),
    ("POST", re.compile(r"^/bigquery/v2/projects/(?P<project>[^/]+)/jobs/(?P<job>[^/]+)/cancel$"),
     "jobs.cancel"),
    ("GET", re.compile(r"^/bigquery/v2/projects/(?P<project>[^/]+)/queries/(?P<job>[^/]+)$"),
     "jobs.getQueryResults"),
    ("POST", re.compile(r"^/bigquery/v2/projects/(?P<project>[^/]+)/queries$"), "jobs.query"),
    ("POST", re.compile(r"^/token$"), "token"),
]


def _route(method: str, path: str) -> tuple[str, dict[str, str]]:
    for verb, pattern, kind in _ROUTES:
        match = pattern.match(path)
        if verb == method and match:
            return kind, match.groupdict()
    return "unknown", {}


def _error(status: int, reason: str, message: str) -> tuple[int, dict]:
    return status, {"error": {"code": status, "message": message,
                              "errors": [{"reason": reason, "message": message,
                                          "domain": "global"}]}}


def _encode_row(row: tuple, columns: list[tuple[str, str]]) -> dict[str, Any]:
    return {"f": [{"v": _encode(value, bq_type)}
                  for value, (_, bq_type) in zip(row, columns, strict=True)]}


def _encode(value: Any, bq_type: str) -> Any:
    """A Python value as the REST API sends it (timestamps as int64 microseconds)."""
    if value is None:
        return None
    if bq_type == "TIMESTAMP":
        delta = value - _EPOCH
        return str((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)
    if bq_type == "DATE":
        return value.isoformat()
    if bq_type == "BOOL":
        return "true" if value else "false"
    return str(value)


def _handler_for(fake: FakeBigQuery):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep test output clean
            pass

        def _serve(self):
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = None
            if raw and "json" in (self.headers.get("Content-Type") or ""):
                body = json.loads(raw)
            elif raw:
                body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            query = {k: v[-1] for k, v in parse_qs(split.query).items()}
            fake.requests.append(Recorded(self.command, split.path, query, body,
                                          {k.lower(): v for k, v in self.headers.items()}))
            status, payload = fake.handle(self.command, split.path, query, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

    return Handler
