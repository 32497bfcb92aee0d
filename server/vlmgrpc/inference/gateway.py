"""The service's one door to Triton: KServe v2 over gRPC with tritonclient.grpc.aio.

One client (one HTTP/2 channel) is shared by every job. Elements stream over ModelStreamInfer,
one request per element, with a bounded number in flight; the decoupled `vlm` model answers
each with one JSON RESPONSE. The model's errors arrive as "REASON: message" text (a stream
loses Triton's status code), which is mapped back to canonical codes here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import numpy as np
from tritonclient.grpc import InferInput
from tritonclient.grpc.aio import InferenceServerClient
from tritonclient.utils import InferenceServerException

from vlmgrpc.errors import Code, ServiceError, unavailable
from vlmgrpc.pipeline.elements import Element

MAX_MESSAGE = 2**31 - 1

# Reasons the model puts in front of its error messages, and what they mean to a caller.
MODEL_REASONS = {
    "DOMAIN_NOT_SERVED": Code.FAILED_PRECONDITION,
    "INVALID_IMAGE": Code.INVALID_ARGUMENT,
    "INVALID_CONFIG": Code.INVALID_ARGUMENT,
    "MISSING_INPUT": Code.INVALID_ARGUMENT,
    "CANCELLED": Code.CANCELLED,
    "ENGINE_ERROR": Code.INTERNAL,
}
UNAVAILABLE_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN}


class TritonUnavailable(ServiceError):
    """Triton cannot be reached or is restarting; the caller may retry."""


def model_error(text: str) -> ServiceError:
    reason, sep, message = text.partition(": ")
    if sep and reason in MODEL_REASONS:
        return ServiceError(MODEL_REASONS[reason], reason, message)
    if any(m in text for m in ("unknown model", "is not ready", "Server exiting", "is not healthy", "Stub process")):
        return TritonUnavailable(Code.UNAVAILABLE, "TRITON_UNAVAILABLE", text)
    return ServiceError(Code.INTERNAL, "MODEL_ERROR", text)


def _bytes_input(name: str, values: list[bytes]) -> InferInput:
    tensor = InferInput(name, [len(values)], "BYTES")
    tensor.set_data_from_numpy(np.array(values, dtype=np.object_))
    return tensor


class TritonGateway:
    def __init__(self, url: str, model: str, request_timeout_s: float):
        self.url = url
        self.model = model
        self.request_timeout_s = request_timeout_s
        self._client = InferenceServerClient(url, channel_args=[
            ("grpc.max_send_message_length", MAX_MESSAGE),
            ("grpc.max_receive_message_length", MAX_MESSAGE),
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.keepalive_permit_without_calls", 1),
            # Reconnect fast after an embedded Triton restart.
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 2000),
        ])

    async def close(self) -> None:
        await self._client.close()

    async def ready(self) -> bool:
        try:
            return bool(await self._client.is_server_ready(client_timeout=2)
                        and await self._client.is_model_ready(self.model, client_timeout=2))
        except (TimeoutError, InferenceServerException, grpc.RpcError):
            return False

    async def served_domains(self) -> list[str]:
        """The domains the loaded model serves, from its config's `domains` parameter."""
        try:
            config = await self._client.get_model_config(self.model, as_json=True, client_timeout=5)
        except (InferenceServerException, grpc.RpcError) as exc:
            raise unavailable("TRITON_UNAVAILABLE", f"cannot read the model config: {exc}") from None
        value = config["config"].get("parameters", {}).get("domains", {}).get("string_value", "")
        return [d.strip() for d in value.split(",") if d.strip()]

    def _request(self, element: Element, domain: str, config_json: str) -> dict[str, Any]:
        inputs = [
            _bytes_input("IMAGES", [element.image]),
            _bytes_input("DOMAIN", [domain.encode()]),
            _bytes_input("CONFIG", [config_json.encode()]),
            _bytes_input("TEXT_HINT", [element.text_hint.encode()]),
        ]
        return {"model_name": self.model, "inputs": inputs, "request_id": str(element.index)}

    async def stream(self, domain: str, config: dict[str, Any], elements: AsyncIterator[Element],
                     in_flight: int) -> AsyncIterator[tuple[int, Any]]:
        """Yield (element index, model result) as the model answers, in completion order.

        Errors of the element source (a page that fails to render, a URL that fails) are raised
        here as they are, not as a broken Triton stream."""
        config_json = json.dumps(config, separators=(",", ":"))
        slots = asyncio.Semaphore(in_flight)
        sent = received = 0
        producer_done = asyncio.Event()
        producer_error: BaseException | None = None

        async def requests() -> AsyncIterator[dict[str, Any]]:
            nonlocal sent, producer_error
            try:
                async for element in elements:
                    await slots.acquire()
                    sent += 1
                    yield self._request(element, domain, config_json)
            except Exception as exc:  # handed to the consumer below; grpc would only log it
                producer_error = exc
            finally:
                producer_done.set()

        responses = self._client.stream_infer(requests())
        try:
            while True:
                if producer_error is not None:
                    raise producer_error
                if producer_done.is_set() and received == sent:
                    return
                next_response = asyncio.ensure_future(responses.__anext__())
                waiter = asyncio.ensure_future(producer_done.wait())
                try:
                    done, _ = await asyncio.wait({next_response, waiter}, return_when=asyncio.FIRST_COMPLETED,
                                                 timeout=self.request_timeout_s)
                finally:
                    waiter.cancel()
                if not done and sent > received:
                    # Requests are out and nothing came back for request_timeout_s: a stuck model.
                    next_response.cancel()
                    raise ServiceError(Code.DEADLINE_EXCEEDED, "TRITON_TIMEOUT",
                                       f"no answer from the model in {self.request_timeout_s:.0f} s")
                if not next_response.done() and (producer_error is not None or received == sent):
                    next_response.cancel()
                    continue
                if not next_response.done():
                    await asyncio.wait({next_response}, timeout=self.request_timeout_s)
                    if not next_response.done():
                        next_response.cancel()
                        raise ServiceError(Code.DEADLINE_EXCEEDED, "TRITON_TIMEOUT",
                                           f"no answer from the model in {self.request_timeout_s:.0f} s")
                result, error = await next_response
                if error is not None:
                    raise model_error(error.message())
                received += 1
                slots.release()
                payload = json.loads(result.as_numpy("RESPONSE")[0])
                yield int(result.get_response().id), payload["result"]
        except StopAsyncIteration:
            raise TritonUnavailable(Code.UNAVAILABLE, "TRITON_UNAVAILABLE",
                                    "the Triton stream ended before every element was answered") from None
        except grpc.aio.AioRpcError as exc:
            if exc.code() in UNAVAILABLE_CODES:
                raise TritonUnavailable(Code.UNAVAILABLE, "TRITON_UNAVAILABLE",
                                        exc.details() or exc.code().name) from None
            raise ServiceError(Code.INTERNAL, "TRITON_ERROR", f"{exc.code().name}: {exc.details()}") from None
        finally:
            responses.cancel()
