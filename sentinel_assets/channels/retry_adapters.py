"""The retry policy (``channels.retry``) in the terms of urllib3 and slack-sdk.

``urllib3_retry`` makes a ``Retry`` for the webhook, ``slack_handlers`` slack-sdk's retry handlers;
both follow a ``RetryPolicy``. Kept apart from the policy so that importing a channel (to declare
its resource) does not import urllib3 or slack-sdk: the channels import this module when they send.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.http_retry import RetryHandler, RetryIntervalCalculator
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util.retry import Retry

from sentinel_assets.channels.retry import (
    RETRY_STATUSES,
    AttemptCounter,
    RetryPolicy,
    retry_after_seconds,
)


# -- urllib3 (webhook) ------------------------------------------------------------------------
def urllib3_retry(policy: RetryPolicy) -> Retry:
    """A ``urllib3`` ``Retry`` for one POST: connection errors, 429 and 5xx, no redirects.

    Read errors (the server took the request but did not answer in time) are not retried
    here: the receiver may have acted on it; the next evaluation retries with the same
    ``Idempotency-Key`` so that the receiver can tell.
    """
    retries = policy.max_attempts - 1
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
    retry.policy = policy
    return retry


# -- slack-sdk --------------------------------------------------------------------------------
def slack_handlers(policy: RetryPolicy, counter: AttemptCounter) -> list[RetryHandler]:
    """slack-sdk retry handlers for rate limits, connection errors and 5xx, counting tries."""
    retries = policy.max_attempts - 1
    interval = _PolicyInterval(policy)
    handlers: list[RetryHandler] = [
        _CappedRateLimitHandler(retries, interval, policy=policy),
        ConnectionErrorRetryHandler(retries, interval),
        ServerErrorRetryHandler(retries, interval),
    ]
    return [_Counted(handler, counter) for handler in handlers]


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
