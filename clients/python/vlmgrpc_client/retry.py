"""Retries of calls that failed UNAVAILABLE (server restarting, connection refused or reset), with exponential
backoff and jitter (tenacity). Safe to repeat: reads and steering calls are idempotent by nature, and every
submission carries a request id (generated when the caller gives none), so a retried generate finds the
prediction the first attempt created instead of making a second one. A call's timeout is its deadline across
all attempts: each attempt gets what is left of it."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
import tenacity

from vlmgrpc_client.errors import VLMError


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    initial_backoff_s: float = 0.2
    max_backoff_s: float = 5.0
    multiplier: float = 2.0
    jitter_s: float = 0.1
    retryable: frozenset[grpc.StatusCode] = field(default=frozenset({grpc.StatusCode.UNAVAILABLE}))

    def should_retry(self, exc: BaseException) -> bool:
        code = exc.code if isinstance(exc, VLMError) else exc.code() if isinstance(exc, grpc.RpcError) else None
        return code in self.retryable

    def backoff_s(self, failures: int) -> float:
        """The pause before attempt `failures + 1` (no jitter: for streams that resume, and for tests)."""
        return min(self.max_backoff_s, self.initial_backoff_s * self.multiplier ** max(0, failures - 1))

    def _kwargs(self, deadline: Deadline) -> dict:
        return dict(
            stop=tenacity.stop_after_attempt(self.max_attempts) | _stop_at(deadline),
            wait=lambda state: self.backoff_s(state.attempt_number) + random.uniform(0, self.jitter_s),
            retry=tenacity.retry_if_exception(self.should_retry), reraise=True)

    def retrying(self, deadline: Deadline) -> tenacity.Retrying:
        return tenacity.Retrying(**self._kwargs(deadline))

    def async_retrying(self, deadline: Deadline) -> tenacity.AsyncRetrying:
        return tenacity.AsyncRetrying(**self._kwargs(deadline))


NO_RETRY = RetryPolicy(max_attempts=1)


class Deadline:
    """A point in time (monotonic) a call and its retries must end by; None: no deadline."""

    def __init__(self, timeout_s: float | None, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.at = None if timeout_s is None else clock() + timeout_s

    def remaining(self) -> float | None:
        return None if self.at is None else max(0.0, self.at - self.clock())

    def expired(self) -> bool:
        return self.at is not None and self.clock() >= self.at


def _stop_at(deadline: Deadline):
    """Stop when the next pause would end past the deadline: that attempt could not finish in time."""

    def stop(state: tenacity.RetryCallState) -> bool:
        left = deadline.remaining()
        return left is not None and left <= (state.upcoming_sleep or 0.0)

    return stop
