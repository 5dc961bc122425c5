"""Native BigQuery database resource (``bigquery://PROJECT[/DATASET]``), not through SQLAlchemy.

Each query is one BigQuery job created with ``jobs.insert`` under a job id we choose, so that every
error message can name the job (``bq show -j PROJECT:LOCATION.JOB_ID``) even when the job could
not be created. The job carries the alert as a label, named query parameters, a server-side job
timeout and ``maximum_bytes_billed``; when the client-side wait runs out the job is cancelled.
Results come back as the same ``QueryResult`` the SQLAlchemy path returns, so judging and notices
do not know which backend answered.

Every query is first checked to be exactly one read statement (``spec.sql_guard``): no script,
no DML/DDL, no ``EXPORT DATA``, no ``EXTERNAL_QUERY``. BigQuery has no read-only session to run
a query in, so that check and the credentials are the guard: give them read access only
(``roles/bigquery.dataViewer`` and ``roles/bigquery.jobUser``). Rows are read page by page up to
``max_rows + 1``; the rest of a larger result is never downloaded.
"""

from __future__ import annotations

import concurrent.futures
import re
import threading
import time
import uuid
from typing import Any, Mapping

import dagster as dg
import requests
from google.api_core import exceptions as api_exceptions
from google.cloud import bigquery
from google.cloud.bigquery.retry import DEFAULT_RETRY

from sentinel_assets.core.query_result import QueryResult
from sentinel_assets.databases.bigquery_params import query_parameters, to_bigquery_sql
from sentinel_assets.databases.errors import QueryError, QueryRefused, QueryTimeout
from sentinel_assets.spec.env_vars import expand
from sentinel_assets.spec.models import DatabaseSettings
from sentinel_assets.spec.sql_guard import check_query

SCHEME = "bigquery://"
_SCOPES = ("https://www.googleapis.com/auth/bigquery",)
_LABEL_INVALID = re.compile(r"[^a-z0-9_-]")
_JOB_ID_INVALID = re.compile(r"[^A-Za-z0-9_-]")

# BigQuery error reason -> the words an ERROR notice uses for it
_ERROR_KINDS = {
    "invalidQuery": "invalid query",
    "invalid": "invalid request",
    "accessDenied": "access denied",
    "quotaExceeded": "quota exceeded",
    "rateLimitExceeded": "quota exceeded (rate limit)",
    "bytesBilledLimitExceeded": "maximum_bytes_billed exceeded",
    "billingNotEnabled": "billing not enabled",
    "notFound": "not found",
    "resourcesExceeded": "resources exceeded",
    "responseTooLarge": "response too large",
    "stopped": "job cancelled",
    "timeout": "job timeout",
}
_HINTS = {
    "accessDenied": " (the credentials need roles/bigquery.jobUser on the project and read "
                    "access to the tables)",
    "bytesBilledLimitExceeded": " (raise maximum_bytes_billed for this alert or database, or "
                                "make the query scan less)",
}

_clients: dict[tuple, bigquery.Client] = {}
_clients_lock = threading.Lock()


def parse_bigquery_url(url: str) -> tuple[str, str | None]:
    """``bigquery://PROJECT[/DATASET]`` -> ``(project, dataset or None)``.

    Raises:
        QueryError: when the URL does not have that shape.
    """
    text = url.strip()
    parts = [p for p in text[len(SCHEME):].split("/") if p] if text.startswith(SCHEME) else []
    if not 1 <= len(parts) <= 2 or "?" in text:
        raise QueryError(f"invalid BigQuery url {text!r}; expected bigquery://PROJECT or "
                         "bigquery://PROJECT/DATASET")
    return parts[0], (parts[1] if len(parts) == 2 else None)


def label_value(value: str) -> str:
    """A BigQuery label value: lower-case letters, digits, ``_`` and ``-``, at most 63 chars."""
    return _LABEL_INVALID.sub("_", str(value).lower())[:63]


class BigQueryDatabase(dg.ConfigurableResource, DatabaseSettings):
    """A BigQuery project that alert queries run against, through ``google-cloud-bigquery``.

    Credentials come from a service-account key file (``credentials_path``), else Application
    Default Credentials; ``credentials="anonymous"`` is for an emulator or proxy at
    ``api_endpoint``. Queries bind ``:name`` parameters as typed BigQuery query parameters.

    Example:
        .. code-block:: python

            db = BigQueryDatabase(
                url="bigquery://my-project/analytics",
                credentials_path=dg.EnvVar("BIGQUERY_KEY_FILE"),
                location="EU",
                maximum_bytes_billed=10 * 2**30,
            )
            result = db.query("SELECT 'OK' AS status", timeout=30)
    """

    def query(
        self,
        sql: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout: float = 60.0,
        max_rows: int = 1000,
        labels: Mapping[str, str] | None = None,
        maximum_bytes_billed: int | None = None,
    ) -> QueryResult:
        """Run ``sql`` as one BigQuery job and return at most ``max_rows`` rows.

        Raises:
            QueryRefused: ``sql`` is not exactly one read statement; no job was created.
            QueryError: the job could not be created or failed; the message names the kind of
                error (invalid query, access denied, quota exceeded, ...) and the job.
            QueryTimeout: the job ran longer than ``timeout`` and was cancelled.
        """
        refuse_unless_one_read(sql)
        started = time.perf_counter()
        deadline = time.monotonic() + timeout
        client, project, dataset = self._client()
        text, config = self._job_config(sql, params, dataset, project)
        config.labels = {label_value(k): label_value(v) for k, v in (labels or {}).items()}
        config.job_timeout_ms = max(1, int(timeout * 1000))  # BigQuery stops it even if we die
        limit = maximum_bytes_billed or self.maximum_bytes_billed
        if limit:
            config.maximum_bytes_billed = int(limit)
        job_id = _job_id((labels or {}).get("sentinel_alert"))
        where = f"job {self._job_ref(project, job_id)}"
        retry = DEFAULT_RETRY.with_timeout(timeout)
        try:
            job = client.query(text, job_config=config, job_id=job_id, job_retry=None,
                               retry=retry, timeout=timeout, project=project,
                               location=self.location)
            rows = job.result(timeout=max(0.0, deadline - time.monotonic()), retry=retry,
                              max_results=max_rows + 1, job_retry=None)
            columns = tuple(field.name for field in rows.schema or ())
            fetched = [tuple(row.values()) for row in rows]
        except (concurrent.futures.TimeoutError, requests.exceptions.Timeout):
            raise self._timed_out(client, project, job_id, timeout) from None
        except api_exceptions.RetryError as exc:
            if isinstance(exc.cause, (requests.exceptions.Timeout, TimeoutError)):
                raise self._timed_out(client, project, job_id, timeout) from None
            raise _query_error(exc.cause or exc, where) from None
        except Exception as exc:  # noqa: BLE001 - every client error becomes a QueryError
            raise _query_error(exc, where) from None
        if not columns:
            raise QueryError(f"BigQuery {where} returned no result set; an alert query must be "
                             "a SELECT")
        return QueryResult(
            columns=columns,
            rows=tuple(fetched[:max_rows]),
            duration_ms=(time.perf_counter() - started) * 1000,
            truncated=len(fetched) > max_rows or (rows.total_rows or 0) > max_rows,
            extra={
                "bigquery_job": self._job_ref(project, job.job_id, job.location),
                "bytes_processed": job.total_bytes_processed,
                "bytes_billed": job.total_bytes_billed,
                "cache_hit": job.cache_hit,
            },
        )

    def dry_run(self, sql: str, params: Mapping[str, Any] | None = None, *,
                timeout: float = 60.0) -> int:
        """Validate ``sql`` with a BigQuery dry run and return the bytes it would process.

        Raises:
            QueryError: the query is invalid or may not run (the message says which).
        """
        refuse_unless_one_read(sql)
        client, project, dataset = self._client()
        text, config = self._job_config(sql, params, dataset, project)
        config.dry_run = True
        config.use_query_cache = False  # the estimate of a cold run, which is what is billed
        job_id = _job_id("dry_run")
        try:
            job = client.query(text, job_config=config, job_id=job_id, job_retry=None,
                               retry=DEFAULT_RETRY.with_timeout(timeout), timeout=timeout,
                               project=project, location=self.location)
        except Exception as exc:  # noqa: BLE001 - every client error becomes a QueryError
            raise _query_error(exc, f"dry run (project {project})") from None
        return int(job.total_bytes_processed or 0)

    def ping(self) -> float:
        """Run a trivial query (no bytes billed); returns the latency in milliseconds."""
        return self.query("SELECT 1 AS ok", timeout=10, labels={"sentinel": "ping"}).duration_ms

    # -- internals ------------------------------------------------------------------------------
    def _job_config(self, sql: str, params: Mapping[str, Any] | None, dataset: str | None,
                    project: str) -> tuple[str, bigquery.QueryJobConfig]:
        """The SQL with ``@name`` parameters, and a job config carrying their typed values."""
        text, names = to_bigquery_sql(sql)
        config = bigquery.QueryJobConfig(use_legacy_sql=False)
        config.query_parameters = query_parameters(names, dict(params or {}))
        if dataset:
            config.default_dataset = dataset if "." in dataset else f"{project}.{dataset}"
        return text, config

    def _job_ref(self, project: str, job_id: str, location: str | None = None) -> str:
        location = location or self.location
        return f"{project}:{location}.{job_id}" if location else f"{project}:{job_id}"

    def _timed_out(self, client: bigquery.Client, project: str, job_id: str,
                   timeout: float) -> QueryTimeout:
        where = self._job_ref(project, job_id)
        try:
            client.cancel_job(job_id, project=project, location=self.location, retry=None,
                              timeout=10)
            cancelled = "was cancelled"
        except Exception as exc:  # noqa: BLE001 - the server-side job timeout still stops it
            cancelled = f"could not be cancelled ({_describe(exc)[1]})"
        return QueryTimeout(f"BigQuery job timeout: job {where} ran longer than {timeout:g}s "
                            f"and {cancelled}")

    def _client(self) -> tuple[bigquery.Client, str, str | None]:
        """A client per configuration per process (it keeps an HTTP session)."""
        try:
            project, dataset = parse_bigquery_url(expand(self.url))
            endpoint = expand(self.api_endpoint) if self.api_endpoint else None
            key_file = expand(self.credentials_path) if self.credentials_path else None
        except ValueError as exc:
            raise QueryError(str(exc)) from None
        if self.credentials not in (None, "anonymous"):
            raise QueryError(f"unknown credentials {self.credentials!r}; the only value is "
                             "'anonymous' (omit it to use credentials_path or Application "
                             "Default Credentials)")
        if self.credentials == "anonymous" and not endpoint:
            raise QueryError("credentials: anonymous is only allowed together with api_endpoint")
        key = (project, key_file, self.credentials, self.location, endpoint)
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                credentials = _credentials(key_file, self.credentials == "anonymous")
                try:
                    client = bigquery.Client(
                        project=project,
                        credentials=credentials,
                        location=self.location,
                        client_options={"api_endpoint": endpoint} if endpoint else None,
                    )
                except Exception as exc:  # noqa: BLE001 - a bad option is a QueryError too
                    raise QueryError(f"could not create a BigQuery client for project "
                                     f"{project!r}: {type(exc).__name__}: {exc}") from None
                _clients[key] = client
        return client, project, dataset


def refuse_unless_one_read(sql: str) -> None:
    """Raise ``QueryRefused`` unless ``sql`` is one read statement of BigQuery SQL."""
    refusal = check_query(sql, "bigquery")
    if refusal is not None:
        raise QueryRefused(str(refusal))


def close_clients() -> None:
    """Close every cached client's HTTP session (tests, forks)."""
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


def _credentials(key_file: str | None, anonymous: bool):
    if anonymous:
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()
    if key_file:
        from google.oauth2 import service_account

        try:
            return service_account.Credentials.from_service_account_file(key_file,
                                                                         scopes=_SCOPES)
        except (OSError, ValueError, KeyError) as exc:
            raise QueryError(f"could not read the BigQuery service-account key file "
                             f"credentials_path={key_file!r}: {type(exc).__name__}: "
                             f"{exc}") from None
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        credentials, _ = google.auth.default(scopes=_SCOPES)
    except DefaultCredentialsError:
        raise QueryError("no BigQuery credentials: set credentials_path to a service-account key "
                         "file, or provide Application Default Credentials "
                         "(GOOGLE_APPLICATION_CREDENTIALS or `gcloud auth application-default "
                         "login`)") from None
    return credentials


def _job_id(alert: str | None) -> str:
    name = _JOB_ID_INVALID.sub("_", alert or "query")[:100]
    return f"sentinel_{name}_{uuid.uuid4().hex[:16]}"


def _describe(exc: BaseException) -> tuple[str | None, str]:
    """``(reason, message)`` of a client error, without the client's multi-line footer."""
    errors = getattr(exc, "errors", None) or []
    first = errors[0] if errors and isinstance(errors[0], Mapping) else {}
    reason = first.get("reason")
    message = first.get("message") or getattr(exc, "message", None) or str(exc)
    return reason, str(message).strip().split("\n\n")[0]


def _query_error(exc: BaseException, where: str) -> QueryError:
    if isinstance(exc, QueryError):
        return exc
    reason, message = _describe(exc)
    if reason is None and not isinstance(exc, api_exceptions.GoogleAPICallError):
        return QueryError(f"BigQuery {where} failed: {type(exc).__name__}: {message}")
    code = getattr(exc, "code", None)
    kind = _ERROR_KINDS.get(reason or "") or (f"error {reason}" if reason else f"HTTP {code}")
    error = QueryTimeout if reason == "timeout" else QueryError
    return error(f"BigQuery {kind} in {where}: {message}{_HINTS.get(reason or '', '')}")
