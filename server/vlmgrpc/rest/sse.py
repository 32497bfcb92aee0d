"""A prediction's events as Server-Sent Events: what gRPC's WatchPrediction streams, one SSE event each.

Each stored event's SSE `id` is its sequence number, so a client that reconnects with `Last-Event-ID` resumes
after it with nothing lost (the watcher replays from the store). Heartbeats and live output deltas carry no
id (they repeat the last sequence). The stream ends after the terminal event with `event: done` /
`data: [DONE]`; a failure mid-stream (the server shutting down) is sent as `event: error` with the error body.
Streams count against the same per-tenant quota as gRPC streams."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp_sse import EventSourceResponse

from vlmgrpc.errors import ServiceError, invalid
from vlmgrpc.jobs.records import Event, EventType
from vlmgrpc.rest import convert
from vlmgrpc.rest.errors import REQUEST_ID, error_body
from vlmgrpc.servicers.interceptor import Gate

RETRY_MS = 1000  # how soon an EventSource reconnects after a dropped stream
UNNUMBERED = (EventType.HEARTBEAT, EventType.OUTPUT_DELTA)


def resume_point(request: web.Request) -> int | None:
    """Last-Event-ID (what EventSource sends on reconnect), else ?after=; None: start with a snapshot."""
    value = request.headers.get("Last-Event-ID", request.query.get("after", ""))
    if value == "":
        return None
    if not value.isdigit():
        raise invalid("INVALID_LAST_EVENT_ID", "Last-Event-ID (or after) must be a sequence number", "Last-Event-ID")
    return int(value)


async def _send(resp: EventSourceResponse, event: Event, resumed: bool) -> None:
    heavy = event.prediction is not None and event.prediction.response is not None
    data = await convert.dumps(convert.event(event), heavy)
    # A snapshot at the resume point is the state the client already has, not a new event: no id, so nothing
    # the client counts arrives twice.
    unnumbered = event.type in UNNUMBERED or (resumed and event.type is EventType.SNAPSHOT)
    await resp.send(data, id=None if unnumbered else str(event.sequence), event=event.type.value)


async def stream(request: web.Request, gate: Gate, tenant: str, events: AsyncIterator[Event],
                 resumed: bool = False) -> EventSourceResponse:
    """Answer with `events` as SSE (`resumed`: they follow a resume point the client gave). An error before the
    first event (not found, bad resume point) is an ordinary JSON error answer."""
    gate.open_stream(tenant)
    try:
        iterator = aiter(events)
        first = await anext(iterator)
        resp = EventSourceResponse(allow_all_methods=True, headers={"X-Request-Id": request[REQUEST_ID]})
        await resp.prepare(request)
        async with resp:
            try:
                await _send(resp, first, resumed)
                async for event in iterator:
                    await _send(resp, event, resumed)
                await resp.send("[DONE]", event="done")
            except ServiceError as err:
                body = error_body(err.code.name, err.reason, err.message, request[REQUEST_ID], code=int(err.code),
                                  metadata=err.metadata, violations=err.violations)
                await resp.send(await convert.dumps(body, False), event="error", retry=RETRY_MS)
            except (ConnectionResetError, TimeoutError):
                pass  # the client went away (or stalled past the send timeout): nothing more to say
            finally:
                await events.aclose()
        return resp
    finally:
        gate.close_stream(tenant)
