"""callback_url delivery: the terminal prediction as VLM Run JSON, signed like the platform's
webhooks (X-VLMRun-Signature: sha256=<hex HMAC-SHA256 of the raw body>), retried with backoff.

Deliveries go through an outbox: the store queues a row in the transaction of the terminal save, a bounded set
of deliverers (callback_concurrency) sends them, counting each attempt in the row, and the row goes once
delivered or given up. Rows left by a restart are resumed at start-up with the attempts they have left; a
shutdown waits for deliveries in progress up to what is left of the grace period."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from vlmgrpc.errors import ServiceError
from vlmgrpc.jobs.model import Prediction

if TYPE_CHECKING:
    from vlmgrpc.jobs.store_api import JobStore
    from vlmgrpc.settings import Settings
from vlmgrpc.pipeline.fetch import Pinned, pin

log = logging.getLogger(__name__)


class RetryableDelivery(Exception):
    pass


def prediction_json(pred: Prediction) -> dict[str, Any]:
    """The prediction in the VLM Run PredictionResponse shape."""
    return {
        "id": pred.id,
        "created_at": pred.created_at.isoformat(),
        "completed_at": pred.completed_at.isoformat() if pred.completed_at else None,
        "status": pred.status.value,
        "domain": pred.domain,
        "response": pred.response,
        "usage": {"elements_processed": pred.done, "element_type": pred.element_type,
                  "credits_used": pred.credits, "steps": pred.steps, "duration_seconds": pred.duration_seconds},
        "message": pred.message,
        "error": pred.error,
    }


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def deliver(pred: Prediction, *, secret: str, attempts: int, timeout_s: float,
                  allow_private: bool = True, before_attempt: Callable[[], Awaitable[Any]] | None = None) -> bool:
    """POST the prediction, up to `attempts` times; `before_attempt` is awaited before each (the outbox
    counts it). True when the receiver took it."""
    body = await asyncio.to_thread(lambda: json.dumps(prediction_json(pred), separators=(",", ":")).encode())
    target = Pinned(pred.callback_url)
    if not allow_private:  # sent to the address checked, not to whatever a second lookup gives
        try:
            target = await pin(pred.callback_url, "callback_url", "CALLBACK_URL_NOT_ALLOWED")
        except ServiceError as exc:
            log.warning("callback for %s not sent: %s", pred.id, exc)
            return False
    headers = {"Content-Type": "application/json", "X-VLMRun-Signature": sign(secret, body),
               "User-Agent": "vlm-grpc"}
    try:
        async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False) as client:
            async for attempt in AsyncRetrying(stop=stop_after_attempt(attempts), reraise=True,
                                               wait=wait_exponential(multiplier=0.5, max=30),
                                               retry=retry_if_exception_type(RetryableDelivery)):
                with attempt:
                    if before_attempt is not None:
                        await before_attempt()
                    try:
                        resp = await client.post(target.url, content=body, headers=headers | target.headers,
                                                 extensions=target.extensions)
                    except httpx.HTTPError as exc:
                        raise RetryableDelivery(str(exc)) from exc
                    if resp.status_code >= 500 or resp.status_code == 429:
                        raise RetryableDelivery(f"HTTP {resp.status_code}")
                    if resp.status_code >= 300:  # redirects are not followed: not delivered
                        log.warning("callback for %s refused: HTTP %s", pred.id, resp.status_code)
                        return False
        return True
    except RetryableDelivery as exc:
        log.warning("callback for %s failed after %d attempts: %s", pred.id, attempts, exc)
        return False


class CallbackOutbox:
    """Delivers the callbacks the store queued, callback_concurrency at a time."""

    def __init__(self, settings: Settings, store: JobStore):
        self.settings, self.store = settings, store
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()  # waiting or being delivered: each prediction's callback once
        self._workers: list[asyncio.Task] = []

    async def start(self) -> None:
        """Start the deliverers, and resume what a previous run left in the outbox."""
        self._workers = [asyncio.create_task(self._work(), name=f"callbacks-{i}")
                         for i in range(self.settings.callback_concurrency)]
        pending = await self.store.pending_callbacks()
        if pending:
            log.info("resuming %d callback deliveries", len(pending))
        for prediction_id in pending:
            self.submit(prediction_id)

    def submit(self, prediction_id: str) -> None:
        """Deliver a terminal prediction's callback (its outbox row committed with the terminal save)."""
        if prediction_id not in self._queued:
            self._queued.add(prediction_id)
            self._queue.put_nowait(prediction_id)

    def pending(self) -> int:
        return len(self._queued)

    async def stop(self, grace_s: float) -> None:
        """Wait up to `grace_s` for every queued delivery to end; the rest stay in the outbox for the next start."""
        if self._workers and self._queued and grace_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), grace_s)
        if self._queued:
            log.info("%d callback deliveries left for the next start", len(self._queued))
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []

    async def _work(self) -> None:
        while True:
            prediction_id = await self._queue.get()
            try:
                await self._deliver(prediction_id)
            except Exception:  # the store failed: the row stays, resumed at the next start
                log.exception("callback for %s not delivered", prediction_id)
            finally:
                self._queued.discard(prediction_id)
                self._queue.task_done()

    async def _deliver(self, prediction_id: str) -> None:
        s, store = self.settings, self.store
        pred = await store.get(prediction_id)
        made = await store.callback_attempts(prediction_id) if pred is not None else None
        if pred is None or made is None:  # nothing to deliver any more
            await store.callback_done(prediction_id)
            return
        left = s.callback_attempts - made
        if left > 0:
            await deliver(pred, secret=s.callback_secret, attempts=left, timeout_s=s.callback_timeout_s,
                          allow_private=s.allow_private_urls,
                          before_attempt=lambda: store.count_callback_attempt(prediction_id))
        else:
            log.warning("callback for %s given up: %d attempts made before a restart", prediction_id, made)
        await store.callback_done(prediction_id)
