"""The one retry policy every network channel uses.

A delivery is tried up to ``max_attempts`` times. Waits between tries grow exponentially from
``backoff`` seconds (``backoff``, ``2*backoff``, ``4*backoff``...) up to ``backoff_max``. A server
that answers ``Retry-After`` is obeyed when it asks for at most ``retry_after_max`` seconds; one
that asks for longer gets no further try now: the delivery is recorded as failed and the next
evaluation retries it with the same idempotency key (docs/design.md, "The alert lifecycle").

Only transient failures are retried (refused or dropped connections, 429, 5xx, SMTP 4xx replies);
a bad token, an unknown channel or a rejected recipient fails at once. The policy is applied
through each library's own machinery where it has one: ``urllib3.util.Retry`` for the webhook,
slack-sdk's retry handlers for Slack; ``smtplib`` has none, so ``RetryPolicy.call`` loops.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from slack_sdk.http_retry import RetryHandler, RetryIntervalCalculator
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util.retry import Retry

T = TypeVar("T")
# statuses worth another try: rate limited, or a server-side failure
RETRY_STATUSES = frozenset({429, *range(500, 600)})


@dataclass(frozen=True)
class RetryPolicy:
    """How many times, and how patiently, one delivery is tried."""

    max_attempts: int = 4
    backoff: float = 1.0
    backoff_max: float = 30.0
    retry_after_max: float = 60.0

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the second attempt)."""
        return float(min(self.backoff * (2 ** max(retry - 1, 0)), self.backoff_max))

    # -- smtplib: no retry machinery of its own ----------------------------------------------
    def call(self, attempt: Callable[[], T], retryable: Callable[[BaseException], bool]) -> tuple[T, int]:
        """Run ``attempt`` until it succeeds, fails for good, or the attempts are used up.

        Returns:
            The result and the number of attempts made.

        Raises:
            GaveUp: carrying the last error and the number of attempts.
        """
        for number in range(1, self.max_attempts + 1):
            try:
                return attempt(), number
            except Exception as exc:  # noqa: BLE001 - classified by `retryable`
                if number >= self.max_attempts or not retryable(exc):
                    raise GaveUp(exc, number) from exc
                time.sleep(self.delay(number))
        raise AssertionError("unreachable")  # pragma: no cover

    # -- urllib3 (webhook) --------------------------------------------------------------------
    def urllib3_retry(self) -> Retry:
        """A ``urllib3`` ``Retry`` for one POST: connection errors, 429 and 5xx, no redirects.

        Read errors (the server took the request but did not answer in time) are not retried
        here: the receiver may have acted on it; the next evaluation retries with the same
        ``Idempotency-Key`` so that the receiver can tell.
        """
        retries = self.max_attempts - 1
        retry = _PolicyRetry(
            total=retries,
            connect=retries,
            read=0,
            status=retries,
            other=0,
            redirect=False,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"POST"}),
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        retry.policy = self
        return retry

    # -- slack-sdk ----------------------------------------------------------------------------
    def slack_handlers(self, counter: "AttemptCounter") -> list[RetryHandler]:
        """slack-sdk retry handlers for rate limits, connection errors and 5xx, counting tries."""
        retries = self.max_attempts - 1
        interval = _PolicyInterval(self)
        handlers: list[RetryHandler] = [
            _CappedRateLimitHandler(retries, interval, policy=self),
            ConnectionErrorRetryHandler(retries, interval),
            ServerErrorRetryHandler(retries, interval),
        ]
        return [_Counted(handler, counter) for handler in handlers]


class GaveUp(Exception):
    """A delivery failed for good: ``error`` is the last failure, after ``attempts`` tries."""

    def __init__(self, error: BaseException, attempts: int):
        super().__init__(str(error))
        self.error = error
        self.attempts = attempts


@dataclass
class AttemptCounter:
    """Counts the tries of one request made through a client with retry handlers."""

    attempts: int = 1


class _PolicyRetry(Retry):
    """``Retry`` with the policy's backoff, a cap on ``Retry-After``, and an attempt count."""

    policy: RetryPolicy = RetryPolicy()

    def new(self, **kw: Any) -> "_PolicyRetry":
        retry = super().new(**kw)
        retry.policy = self.policy
        return retry

    @property
    def attempts(self) -> int:
        """Tries made so far, the current one included."""
        return len(self.history) + 1

    def get_backoff_time(self) -> float:
        return self.policy.delay(len(self.history)) if self.history else 0.0

    def increment(self, method=None, url=None, response=None, error=None, _pool=None,
                  _stacktrace=None):
        wait = self.get_retry_after(response) if response is not None else None
        if wait is not None and wait > self.policy.retry_after_max:
            exc = MaxRetryError(_pool, url, ResponseError(
                f"the server asked to wait {wait:g}s (Retry-After), longer than "
                f"{self.policy.retry_after_max:g}s"))
            exc.attempts = self.attempts  # type: ignore[attr-defined]
            raise exc
        try:
            return super().increment(method, url, response, error, _pool, _stacktrace)
        except MaxRetryError as exc:
            exc.attempts = self.attempts  # type: ignore[attr-defined]
            raise


class _PolicyInterval(RetryIntervalCalculator):
    def __init__(self, policy: RetryPolicy):
        self.policy = policy

    def calculate_sleep_duration(self, current_attempt: int) -> float:
        return self.policy.delay(current_attempt + 1)


class _CappedRateLimitHandler(RateLimitErrorRetryHandler):
    """slack-sdk's rate-limit handler (it sleeps for ``Retry-After``), but not for too long."""

    def __init__(self, max_retry_count: int, interval, *, policy: RetryPolicy):
        super().__init__(max_retry_count, interval)
        self.policy = policy

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        wait = retry_after_seconds(response.headers if response is not None else {})
        return wait is None or wait <= self.policy.retry_after_max


class _Counted(RetryHandler):
    """Delegates to a slack-sdk handler and counts the retries it asks for."""

    def __init__(self, inner: RetryHandler, counter: AttemptCounter):
        super().__init__(inner.max_retry_count, inner.interval_calculator)
        self.inner = inner
        self.counter = counter

    def can_retry(self, **kwargs) -> bool:
        return self.inner.can_retry(**kwargs)

    def prepare_for_next_attempt(self, **kwargs) -> None:
        self.inner.prepare_for_next_attempt(**kwargs)
        self.counter.attempts += 1


def retry_after_seconds(headers: Any) -> float | None:
    """The ``Retry-After`` seconds in a header mapping (values may be lists), if any."""
    for key, value in dict(headers or {}).items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, (list, tuple)) else value
            try:
                return float(raw)
            except (TypeError, ValueError):
                return None
    return None
