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
What applies the policy to urllib3 and slack-sdk is in ``channels.retry_adapters``, imported when
a notice is sent, so that declaring a channel's resource does not import those libraries.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

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
