"""callback_url delivery: the terminal prediction as VLM Run JSON, signed like the platform's
webhooks (X-VLMRun-Signature: sha256=<hex HMAC-SHA256 of the raw body>), retried with backoff."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from vlmgrpc.errors import ServiceError
from vlmgrpc.jobs.model import Prediction
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
                  allow_private: bool = True) -> bool:
    body = json.dumps(prediction_json(pred), separators=(",", ":")).encode()
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
