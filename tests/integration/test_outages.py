"""Triton outages seen from a long prediction: each outage has the whole triton_unavailable_budget_s.

The service reaches a real (external) Triton through a TCP relay that the test cuts and mends: a network
outage of exactly the length the test chooses, Triton itself untouched."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from tests.conftest import TEST_SETTINGS, ServerProcess, pdf
from tests.integration.helpers import status_name, terminal, wait_for, watch_all
from vlmgrpc.api.vlm.v1 import document_service_pb2 as doc_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc.inference.embedded import EmbeddedTriton
from vlmgrpc.settings import REPO_ROOT
from vlmgrpc_client import Client

pytestmark = pytest.mark.integration
BUDGET_S = 6.0
OUTAGE_S = 1.5  # back within the retries' first 3.5 s (waits of 0.5, 1, 2 s)
PAGES = 150
CHUNK_DELAY_S = 0.05  # each chunk from Triton is held this long: with one page in flight, at most 20 pages a second


class Relay:
    """127.0.0.1:<port> -> Triton. `cut()` drops every connection and refuses new ones until `mend()`."""

    def __init__(self, upstream: str):
        self.upstream_host, port = upstream.rsplit(":", 1)
        self.upstream_port = int(port)
        self.down = False
        self._transports: set[asyncio.BaseTransport] = set()
        self._server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> Relay:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.url = f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def close(self) -> None:
        self.cut()
        if self._server:
            self._server.close()

    def cut(self) -> None:
        self.down = True
        for transport in list(self._transports):
            transport.abort()
        self._transports.clear()

    def mend(self) -> None:
        self.down = False

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        self._transports |= {writer.transport, up_writer.transport}
        await asyncio.gather(self._pipe(reader, up_writer, 0), self._pipe(up_reader, writer, CHUNK_DELAY_S),
                             return_exceptions=True)
        for w in (writer, up_writer):
            self._transports.discard(w.transport)
            w.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: float) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                if delay_s:
                    await asyncio.sleep(delay_s)
                writer.write(data)
                await writer.drain()
        writer.transport.abort()


async def _done(client: Client, pred_id: str) -> int:
    return (await wait_for(client, pred_id, lambda p: True)).progress.done


async def _outage(client: Client, relay: Relay, pred_id: str) -> None:
    """Cut for OUTAGE_S; return once Triton answered the prediction again."""
    before = await _done(client, pred_id)
    assert before < PAGES, "the document finished before the outage: nothing was tested"
    relay.cut()
    await asyncio.sleep(OUTAGE_S)
    relay.mend()
    await wait_for(client, pred_id, lambda p: p.progress.done > before or p.status == pb.PREDICTION_STATUS_FAILED,
                   timeout_s=30)


async def test_a_second_outage_gets_a_budget_of_its_own(tmp_path):
    triton = EmbeddedTriton(REPO_ROOT / "triton_models", tmp_path / "triton", models={"ocr": {}})
    await triton.start()
    relay = await Relay(triton.grpc_url).start()
    srv = ServerProcess(tmp_path / "svc", **TEST_SETTINGS, triton_url=relay.url, models="ocr", workers=1,
                        pages_in_flight=1, triton_unavailable_budget_s=BUDGET_S)
    await asyncio.to_thread(srv.start)  # in a thread: the relay runs on this loop
    loop = asyncio.get_running_loop()
    try:
        async with Client(srv.target) as client:
            pred = (await client.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
                domain="document.ocr", document=pb.DocumentInput(data=pdf(PAGES))))).prediction
            await wait_for(client, pred.id, lambda p: p.progress.done >= 1)
            first = loop.time()
            await _outage(client, relay, pred.id)
            # The next outage starts past the budget counted from the first one: counted from there, it
            # would fail at once.
            await asyncio.sleep(max(0.0, first + BUDGET_S + 0.5 - loop.time()))
            await _outage(client, relay, pred.id)
            final = await terminal(client, pred.id)
            assert status_name(final.status) == "completed", final.error.message
            events = await watch_all(client, pred.id, after=0)
            done = [e.prediction.progress.done for e in events if e.type == pb.PREDICTION_EVENT_TYPE_PROGRESS]
            assert done == list(range(1, PAGES + 1))  # each page answered once across the outages
    finally:
        await asyncio.to_thread(srv.stop)
        await relay.close()
        await triton.stop()
