"""The service's one door to Triton: KServe v2 over gRPC (tritonclient's aio client and stubs).

All predictions share one long-lived ModelStreamInfer stream on one channel: each element is one
request with a unique id, and the decoupled `vlm` model answers each with exactly one response,
routed back by that id. Opening a stream per prediction cost a quarter of the service's CPU.
The model's errors arrive as "REASON: message" text (a stream loses Triton's status code) and are
mapped back to canonical codes here. If the stream breaks (Triton restarting), every request on it
fails with TritonUnavailable and the next request opens a new stream.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import struct
from collections.abc import AsyncIterator
from typing import Any

import grpc
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.grpc.aio import InferenceServerClient
from tritonclient.utils import InferenceServerException

from vlmgrpc.errors import Code, ServiceError, unavailable
from vlmgrpc.pipeline.elements import Element

MAX_MESSAGE = 2**31 - 1

# Reasons the model puts in front of its error messages, and what they mean to a caller.
MODEL_REASONS = {
    "DOMAIN_NOT_SERVED": Code.FAILED_PRECONDITION,
    "INVALID_IMAGE": Code.INVALID_ARGUMENT,
    "INVALID_INPUT": Code.INVALID_ARGUMENT,
    "INVALID_CONFIG": Code.INVALID_ARGUMENT,
    "MISSING_INPUT": Code.INVALID_ARGUMENT,
    "CANCELLED": Code.CANCELLED,
    "ENGINE_ERROR": Code.INTERNAL,
}
UNAVAILABLE_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN}
UNAVAILABLE_TEXT = ("unknown model", "is not ready", "Server exiting", "is not healthy", "Stub process")


class TritonUnavailable(ServiceError):
    """Triton cannot be reached or is restarting; the caller may retry."""


def triton_unavailable(message: str) -> TritonUnavailable:
    return TritonUnavailable(Code.UNAVAILABLE, "TRITON_UNAVAILABLE", message)


def model_error(text: str) -> ServiceError:
    reason, sep, message = text.partition(": ")
    if sep and reason in MODEL_REASONS:
        return ServiceError(MODEL_REASONS[reason], reason, message)
    if any(marker in text for marker in UNAVAILABLE_TEXT):
        return triton_unavailable(text)
    return ServiceError(Code.INTERNAL, "MODEL_ERROR", text)


def _bytes_tensor(name: str, value: bytes) -> tuple[service_pb2.ModelInferRequest.InferInputTensor, bytes]:
    # A BYTES tensor of one element: 4-byte little-endian length, then the bytes (KServe v2 raw form).
    tensor = service_pb2.ModelInferRequest.InferInputTensor(name=name, datatype="BYTES", shape=[1])
    return tensor, struct.pack("<I", len(value)) + value


class _Stream:
    """One ModelStreamInfer call and the requests waiting on it."""

    def __init__(self, stub: service_pb2_grpc.GRPCInferenceServiceStub):
        self.outbox: asyncio.Queue[service_pb2.ModelInferRequest] = asyncio.Queue()
        self.waiting: dict[str, asyncio.Future] = {}
        self.call = stub.ModelStreamInfer(self._requests())
        self.reader = asyncio.create_task(self._read(), name="triton-stream")
        self.alive = True

    async def _requests(self) -> AsyncIterator[service_pb2.ModelInferRequest]:
        while True:
            yield await self.outbox.get()

    async def _read(self) -> None:
        error: ServiceError = triton_unavailable("the Triton stream ended")
        try:
            async for response in self.call:
                waiter = self.waiting.pop(response.infer_response.id, None)
                if waiter is not None and not waiter.done():  # None: its prediction was cancelled
                    waiter.set_result(response)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in UNAVAILABLE_CODES:
                error = triton_unavailable(exc.details() or exc.code().name)
            else:
                error = ServiceError(Code.INTERNAL, "TRITON_ERROR", f"{exc.code().name}: {exc.details()}")
        except asyncio.CancelledError:
            pass
        self.alive = False
        for waiter in self.waiting.values():
            if not waiter.done():
                waiter.set_exception(error)
        self.waiting.clear()

    def submit(self, request: service_pb2.ModelInferRequest) -> asyncio.Future:
        waiter = asyncio.get_running_loop().create_future()
        self.waiting[request.id] = waiter
        self.outbox.put_nowait(request)  # bounded by callers: workers × pages_in_flight
        return waiter

    def forget(self, request_id: str) -> None:
        self.waiting.pop(request_id, None)

    async def close(self) -> None:
        self.call.cancel()
        self.reader.cancel()
        await asyncio.gather(self.reader, return_exceptions=True)


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
        self._stub = service_pb2_grpc.GRPCInferenceServiceStub(self._client._channel)
        self._stream: _Stream | None = None
        self._ids = itertools.count()

    async def close(self) -> None:
        if self._stream:
            await self._stream.close()
        await self._client.close()

    async def ready(self) -> bool:
        try:
            return bool(await self._client.is_server_ready(client_timeout=2)
                        and await self._client.is_model_ready(self.model, client_timeout=2))
        except (InferenceServerException, grpc.RpcError, TimeoutError):
            return False

    async def served_domains(self) -> list[str]:
        """The domains the loaded model serves, from its config's `domains` parameter."""
        try:
            config = await self._client.get_model_config(self.model, as_json=True, client_timeout=5)
        except (InferenceServerException, grpc.RpcError) as exc:
            raise unavailable("TRITON_UNAVAILABLE", f"cannot read the model config: {exc}") from None
        value = config["config"].get("parameters", {}).get("domains", {}).get("string_value", "")
        return [d.strip() for d in value.split(",") if d.strip()]

    def _request(self, element: Element, domain: bytes, config: bytes) -> service_pb2.ModelInferRequest:
        tensors = [_bytes_tensor("IMAGES", element.image), _bytes_tensor("DOMAIN", domain),
                   _bytes_tensor("CONFIG", config), _bytes_tensor("TEXT_HINT", element.text_hint.encode())]
        return service_pb2.ModelInferRequest(
            model_name=self.model, id=f"{next(self._ids)}", inputs=[t for t, _ in tensors],
            raw_input_contents=[raw for _, raw in tensors])

    async def infer(self, request: service_pb2.ModelInferRequest) -> Any:
        """Send one element's request on the shared stream; return the model's result for it."""
        if self._stream is None or not self._stream.alive:
            self._stream = _Stream(self._stub)
        stream = self._stream
        waiter = stream.submit(request)
        try:
            async with asyncio.timeout(self.request_timeout_s):
                response = await waiter
        except TimeoutError:
            raise ServiceError(Code.DEADLINE_EXCEEDED, "TRITON_TIMEOUT",
                               f"no answer from the model in {self.request_timeout_s:.0f} s") from None
        finally:
            stream.forget(request.id)
        if response.error_message:
            raise model_error(response.error_message)
        raw = response.infer_response.raw_output_contents[0]
        (length,) = struct.unpack_from("<I", raw)
        return json.loads(raw[4:4 + length])["result"]

    async def stream(self, domain: str, config: dict[str, Any], elements: AsyncIterator[Element],
                     in_flight: int) -> AsyncIterator[tuple[int, Any]]:
        """Yield (element index, model result) as the model answers, in completion order, with at
        most `in_flight` elements sent and unanswered. Elements are produced (rendered) while
        earlier ones are with the model. Errors of the element source are raised as they are."""
        domain_b, config_b = domain.encode(), json.dumps(config, separators=(",", ":")).encode()
        source = aiter(elements)
        next_element: asyncio.Task | None = None
        sent: dict[asyncio.Task, int] = {}
        exhausted = False
        try:
            while True:
                if next_element is None and not exhausted and len(sent) < in_flight:
                    next_element = asyncio.ensure_future(anext(source))
                waiting = set(sent) | ({next_element} if next_element else set())
                if not waiting:
                    return
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if next_element in done:
                    task, next_element = next_element, None
                    try:
                        element = task.result()
                    except StopAsyncIteration:
                        exhausted = True
                    else:
                        request = self._request(element, domain_b, config_b)
                        sent[asyncio.ensure_future(self.infer(request))] = element.index
                for task in done & set(sent):
                    index = sent.pop(task)
                    yield index, task.result()
        finally:
            for task in [*sent, *([next_element] if next_element else [])]:
                task.cancel()
            await asyncio.gather(*sent, *([next_element] if next_element else []), return_exceptions=True)
            if hasattr(source, "aclose"):
                await source.aclose()  # stops rendering ahead (a paused or cancelled document)
