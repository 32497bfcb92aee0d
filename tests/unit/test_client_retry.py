"""The Python client's retries: only UNAVAILABLE, with backoff, within the call's deadline, with the same
request (so a retried submission keeps its request id)."""

from __future__ import annotations

import time

import grpc
import pytest

from tests.unit.test_client_errors import FakeRpcError
from vlmgrpc_client import errors, submissions
from vlmgrpc_client.retry import Deadline, RetryPolicy
from vlmgrpc_client.transport import AsyncTransport, Settings, SyncTransport

FAST = RetryPolicy(max_attempts=4, initial_backoff_s=0.01, max_backoff_s=0.02, jitter_s=0.0)


class Flaky:
    """A stub method that fails `failures` times with `code`, then answers; it records what it was sent."""

    def __init__(self, failures: int, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE):
        self.failures, self.code = failures, code
        self.requests, self.timeouts, self.metadata = [], [], []

    def __call__(self, request, timeout=None, metadata=None):
        self.requests.append(request)
        self.timeouts.append(timeout)
        self.metadata.append(metadata)
        if len(self.requests) <= self.failures:
            raise FakeRpcError(self.code, "try again")
        return "answer"


class AsyncFlaky(Flaky):
    async def __call__(self, request, timeout=None, metadata=None):
        return super().__call__(request, timeout, metadata)


def transport(policy: RetryPolicy = FAST, timeout: float | None = 5.0, token: str = "") -> SyncTransport:
    return SyncTransport(Settings("127.0.0.1:1", token=token, timeout=timeout, retry=policy))


def test_unavailable_is_retried_with_the_same_request_and_the_token():
    request = submissions.image_request([b"img"], None, stream=False, batch=None, domain="document.ocr",
                                        model=None, config=None, metadata=None, callback_url=None, request_id=None)
    assert request.id  # a submission always carries a request id: the retry finds the same prediction
    method = Flaky(failures=2)
    assert transport(token="tok").unary(method, request) == "answer"
    assert len(method.requests) == 3 and all(r is request for r in method.requests)
    assert method.metadata[0] == (("authorization", "Bearer tok"),)


def test_other_codes_are_not_retried():
    method = Flaky(failures=1, code=grpc.StatusCode.INVALID_ARGUMENT)
    with pytest.raises(errors.InvalidArgumentError):
        transport().unary(method, "req")
    assert len(method.requests) == 1


def test_attempts_are_bounded_and_the_last_error_is_raised_typed():
    method = Flaky(failures=10)
    with pytest.raises(errors.UnavailableError):
        transport().unary(method, "req")
    assert len(method.requests) == FAST.max_attempts


def test_the_deadline_covers_all_attempts():
    slow = RetryPolicy(max_attempts=50, initial_backoff_s=0.1, max_backoff_s=0.1, jitter_s=0.0)
    method = Flaky(failures=100)
    start = time.monotonic()
    with pytest.raises(errors.UnavailableError):
        transport(slow, timeout=0.35).unary(method, "req")
    assert time.monotonic() - start < 0.6
    assert 2 <= len(method.requests) <= 4  # not 50: no attempt starts that could not end in time
    assert method.timeouts == sorted(method.timeouts, reverse=True) and method.timeouts[0] <= 0.35


def test_a_request_factory_makes_a_fresh_request_per_attempt():
    made = []

    def factory():
        made.append(iter([1, 2]))
        return made[-1]

    method = Flaky(failures=1)
    transport().unary(method, factory)
    assert method.requests == made and len(made) == 2  # an upload's iterator is never replayed half-read


async def test_the_async_transport_retries_the_same_way():
    method = AsyncFlaky(failures=2)
    t = AsyncTransport(Settings("127.0.0.1:1", timeout=5, retry=FAST))
    assert await t.unary(method, "req") == "answer"
    assert len(method.requests) == 3


def test_backoff_grows_to_its_cap():
    policy = RetryPolicy(initial_backoff_s=0.2, max_backoff_s=1.0, multiplier=2.0)
    assert [policy.backoff_s(n) for n in (1, 2, 3, 4, 5)] == [0.2, 0.4, 0.8, 1.0, 1.0]


def test_deadline():
    now = [100.0]
    deadline = Deadline(2.0, clock=lambda: now[0])
    assert deadline.remaining() == 2.0 and not deadline.expired()
    now[0] = 103.0
    assert deadline.remaining() == 0.0 and deadline.expired()
    assert Deadline(None).remaining() is None
