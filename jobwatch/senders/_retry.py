"""The retry policy, kept private: tenacity is an implementation detail of the senders.

Bounded by attempts *and* total time (the time is read from an injectable monotonic clock, so
tests need not wait); exponential backoff with full jitter; the sleep is injectable.
"""

from __future__ import annotations

from collections.abc import Callable

import tenacity

__all__ = ["policy"]


class _StopAtDeadline(tenacity.stop.stop_base):
    """Stop when the next sleep would end past the deadline."""

    def __init__(self, deadline: float, started: float, monotonic: Callable[[], float]) -> None:
        self.deadline, self.started, self.monotonic = deadline, started, monotonic

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        elapsed = self.monotonic() - self.started
        return elapsed + retry_state.upcoming_sleep >= self.deadline


def policy(
    *,
    retry_on: type[BaseException],
    attempts: int,
    deadline: float,
    monotonic: Callable[[], float],
    sleep: Callable[[float], None],
    on_retry: Callable[[int, BaseException | None, float], None],
) -> tenacity.Retrying:
    """A Retrying that retries ``retry_on`` errors and re-raises the last one when it stops."""

    def before_sleep(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        on_retry(state.attempt_number, error, state.upcoming_sleep)

    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(attempts)
        | _StopAtDeadline(deadline, monotonic(), monotonic),
        wait=tenacity.wait_random_exponential(multiplier=0.5, max=8.0),
        retry=tenacity.retry_if_exception_type(retry_on),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
