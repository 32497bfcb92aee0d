"""The service's one door to Triton: KServe v2 over gRPC (tritonclient's aio client and stubs).

Requests to page models (OCR: one answer per element) share one long-lived ModelStreamInfer stream on one
channel: each element is one request with a unique id, its responses routed back by that id. Opening a
stream per prediction cost a quarter of the service's CPU. Generative models get one ModelStreamInfer call
per request instead: cancelling that call is how Triton cancels the request, so a cancelled prediction
stops generating within a token or two (the model checks `is_cancelled()`), not at the end of the page.
The model's errors arrive as "REASON: message" text (a stream loses Triton's status code) and are
mapped back to canonical codes here. If the stream breaks (Triton restarting), every request on it
fails with TritonUnavailable and the next request opens a new stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import grpc
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.grpc.aio import InferenceServerClient
from tritonclient.utils import InferenceServerException

from vlmgrpc.errors import Code, ServiceError, unavailable
from vlmgrpc.inference.limits import FairSlots
from vlmgrpc.inference.protocols import PROTOCOLS, Answer, Call, ProtocolError, is_final
from vlmgrpc.observability import metrics, tracing
from vlmgrpc.pipeline.elements import Element

MAX_MESSAGE = 2**31 - 1

# Reasons the model puts in front of its error messages, and what they mean to a caller.
MODEL_REASONS = {
    "DOMAIN_NOT_SERVED": Code.FAILED_PRECONDITION,
    "INVALID_IMAGE": Code.INVALID_ARGUMENT,
    "INVALID_INPUT": Code.INVALID_ARGUMENT,
    "INVALID_CONFIG": Code.INVALID_ARGUMENT,
    "MISSING_INPUT": Code.INVALID_ARGUMENT,
    "TOO_MANY_IMAGES": Code.INVALID_ARGUMENT,
    "CANCELLED": Code.CANCELLED,
    "TRUNCATED": Code.INTERNAL,
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


def _rpc_error(exc: grpc.aio.AioRpcError) -> ServiceError:
    if exc.code() in UNAVAILABLE_CODES:
        return triton_unavailable(exc.details() or exc.code().name)
    return ServiceError(Code.INTERNAL, "TRITON_ERROR", f"{exc.code().name}: {exc.details()}")


class _Stream:
    """One ModelStreamInfer call and the requests waiting on it."""

    def __init__(self, stub: service_pb2_grpc.GRPCInferenceServiceStub):
        self.outbox: asyncio.Queue[service_pb2.ModelInferRequest] = asyncio.Queue()
        # Each request's responses, in order; an exception ends them (the stream broke).
        self.waiting: dict[str, asyncio.Queue] = {}
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
                rid = response.infer_response.id
                waiter = self.waiting.get(rid)  # None: its prediction was cancelled
                if waiter is not None:
                    if response.error_message or is_final(response.infer_response):
                        del self.waiting[rid]
                    waiter.put_nowait(response)
        except grpc.aio.AioRpcError as exc:
            error = _rpc_error(exc)
        except asyncio.CancelledError:
            pass
        self.alive = False
        for waiter in self.waiting.values():
            waiter.put_nowait(error)
        self.waiting.clear()

    def submit(self, request: service_pb2.ModelInferRequest) -> asyncio.Queue:
        # Unbounded, but short: a page model sends one response per request.
        waiter: asyncio.Queue = asyncio.Queue()
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
    def __init__(self, url: str, request_timeout_s: float):
        self.url = url
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

    async def server_ready(self) -> bool:
        try:
            return bool(await self._client.is_server_ready(client_timeout=2))
        except (InferenceServerException, grpc.RpcError, TimeoutError):
            return False

    async def model_ready(self, model: str) -> bool:
        try:
            return bool(await self._client.is_model_ready(model, client_timeout=2))
        except (InferenceServerException, grpc.RpcError, TimeoutError):
            return False

    async def model_config(self, model: str) -> dict[str, Any]:
        """The model's configuration as Triton reports it (JSON form)."""
        try:
            config = await self._client.get_model_config(model, as_json=True, client_timeout=5)
        except (InferenceServerException, grpc.RpcError) as exc:
            raise unavailable("TRITON_UNAVAILABLE", f"cannot read the config of model {model!r}: {exc}") from None
        return config["config"]

    async def _shared(self, request: service_pb2.ModelInferRequest,
                      ) -> AsyncIterator[service_pb2.ModelStreamInferResponse]:
        if self._stream is None or not self._stream.alive:
            self._stream = _Stream(self._stub)
        stream = self._stream
        waiter = stream.submit(request)
        try:
            while True:
                item = await waiter.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.error_message or is_final(item.infer_response):
                    return
        finally:
            stream.forget(request.id)

    async def _own_call(self, request: service_pb2.ModelInferRequest, metadata: tuple[tuple[str, str], ...] = (),
                        ) -> AsyncIterator[service_pb2.ModelStreamInferResponse]:
        async def one():
            yield request

        call = self._stub.ModelStreamInfer(one(), metadata=metadata or None)
        try:
            async for item in call:
                yield item
                if item.error_message or is_final(item.infer_response):
                    return
        except grpc.aio.AioRpcError as exc:
            raise _rpc_error(exc) from None
        finally:
            call.cancel()  # Triton cancels the request: the model stops generating

    async def answers(self, call: Call, element: Element) -> AsyncIterator[Answer]:
        """The model's messages for one element, ending with its final answer. Each wait for the next
        message is bounded by request_timeout_s."""
        protocol = PROTOCOLS[call.protocol]
        request = protocol.request(call, element, f"{next(self._ids)}")
        with metrics.triton_call(call.model), tracing.client_span(f"triton {call.model}", {
                "rpc.system": "grpc", "rpc.service": "inference.GRPCInferenceService", "rpc.method": "ModelStreamInfer",
                "vlm.model": call.model, "vlm.element": element.index, "vlm.images": len(element.images)}) as span:
            metadata = tracing.metadata_for(span) if tracing.propagate_to_triton() else ()
            async with contextlib.aclosing(self._answers(call, protocol, request, element, metadata)) as answers:
                async for answer in answers:
                    yield answer

    async def _answers(self, call: Call, protocol, request: service_pb2.ModelInferRequest, element: Element,
                       metadata: tuple[tuple[str, str], ...]) -> AsyncIterator[Answer]:
        # A traced request carries its traceparent so Triton's spans join the trace: gRPC metadata belongs to a
        # call, so it gets a call of its own instead of a place on the shared stream.
        own = call.generative or bool(metadata)
        responses = self._own_call(request, metadata) if own else self._shared(request)
        state: dict[str, Any] = {"structured": bool(call.config.get("json_schema"))}
        try:
            while True:
                try:
                    async with asyncio.timeout(self.request_timeout_s):
                        response = await anext(responses)
                except TimeoutError:
                    raise ServiceError(Code.DEADLINE_EXCEEDED, "TRITON_TIMEOUT",
                                       f"no answer from the model in {self.request_timeout_s:.0f} s") from None
                except StopAsyncIteration:
                    raise triton_unavailable("the model's stream ended before its final answer") from None
                if response.error_message:
                    raise model_error(response.error_message)
                try:
                    answer = protocol.answer(element.index, response.infer_response, state)
                except (ProtocolError, ValueError) as exc:
                    raise ServiceError(Code.INTERNAL, "MODEL_ERROR", f"model {call.model!r}: {exc}") from None
                yield answer
                if answer.final:
                    return
        finally:
            await responses.aclose()

    async def stream(self, call: Call, elements: AsyncIterator[Element], in_flight: int,
                     slots: FairSlots | None = None, owner: str = "") -> AsyncIterator[Answer]:
        """Yield the model's answers (deltas and finals) as they come, with at most `in_flight` elements sent
        and not finally answered, each holding one of the model's `slots` (shared with every prediction)
        while it is with the model. Elements are produced (rendered) while earlier ones are with the model.
        Errors of the element source are raised as they are."""
        source = aiter(elements)
        out: asyncio.Queue[Answer | BaseException] = asyncio.Queue()
        running: set[asyncio.Task] = set()
        next_element: asyncio.Task | None = None
        getter: asyncio.Task | None = None
        exhausted = False

        async def run(element: Element) -> None:
            try:
                if slots is not None:
                    await slots.acquire(owner)
                try:
                    async for answer in self.answers(call, element):
                        out.put_nowait(answer)
                finally:
                    if slots is not None:
                        slots.release(owner)
            except Exception as exc:  # noqa: BLE001 - handed to the consumer, raised there
                out.put_nowait(exc)

        try:
            while True:
                if next_element is None and not exhausted and len(running) < in_flight:
                    next_element = asyncio.ensure_future(anext(source))
                if getter is None and (running or not out.empty()):
                    getter = asyncio.ensure_future(out.get())
                waiting = {t for t in (next_element, getter) if t is not None}
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
                        job = asyncio.ensure_future(run(element))
                        running.add(job)
                        job.add_done_callback(running.discard)
                if getter in done:
                    item, getter = getter.result(), None
                    if isinstance(item, BaseException):
                        raise item
                    yield item
        finally:
            pending = [t for t in (*running, next_element, getter) if t is not None]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            if hasattr(source, "aclose"):
                await source.aclose()  # stops rendering ahead (a paused or cancelled document)
