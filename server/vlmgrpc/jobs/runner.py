"""Workers: take enqueued predictions and run them through the pipeline and Triton.

Each element's result is stored as it arrives, so a prediction that is paused, re-queued on
shutdown or interrupted by a crash continues at its next element and no element is sent twice
after it was answered."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from vlmgrpc.errors import Code, ServiceError, cancelled, unavailable
from vlmgrpc.inference.gateway import TritonUnavailable
from vlmgrpc.jobs.model import Kind, Prediction, Status
from vlmgrpc.jobs.service import JobService, RunHandle
from vlmgrpc.jobs.store import EventType
from vlmgrpc.pipeline import fetch, sniff
from vlmgrpc.pipeline.elements import Element, ImageSource, image_elements, page_elements

log = logging.getLogger(__name__)


def assemble(domain: str, results: dict[int, Any]) -> dict[str, Any]:
    """The prediction's response: one entry per element, in element order."""
    pages = [{"page_index": i, **results[i]} for i in sorted(results)]
    response: dict[str, Any] = {"pages": pages}
    if domain == "document.ocr":
        response = {"text": "\n\n".join(p.get("text", "") for p in pages), "pages": pages}
    return response


def _complete(pred: Prediction, results: dict[int, Any], started: float) -> None:
    pred.run_seconds += time.monotonic() - started
    pred.response = assemble(pred.domain, results)
    pred.transition(Status.COMPLETED)


class Runner:
    def __init__(self, jobs: JobService):
        self.jobs = jobs
        self.settings = jobs.settings
        self._workers: list[asyncio.Task] = []
        self._stopping = False

    def start(self) -> None:
        self._workers = [asyncio.create_task(self._worker(), name=f"worker-{i}")
                         for i in range(self.settings.workers)]

    async def stop(self, grace_s: float) -> None:
        """Let running predictions finish within the grace period; re-queue the rest."""
        self._stopping = True  # no worker claims another prediction: it stays ENQUEUED for the next start
        handles = list(self.jobs.running.values())
        tasks = [h.task for h in handles if h.task]
        if tasks:
            await asyncio.wait(tasks, timeout=grace_s)
        for handle in handles:
            if handle.task and not handle.task.done():
                handle.requeue = True
                handle.task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)

    async def _worker(self) -> None:
        while True:
            pred_id, started = await self.jobs.dispatch.get()
            if self._stopping:  # a prediction started at submission stays RUNNING: recovered at the next start
                return
            claimed = await self._claim(pred_id, started)
            if claimed is None:
                continue
            pred, handle = claimed
            # The job runs in its own task: cancelling it (cancel, shutdown) never kills the worker.
            handle.task = asyncio.create_task(self._run(pred, handle), name=f"prediction-{pred_id}")
            try:
                await asyncio.wait({handle.task})
            finally:
                self.jobs.running.pop(pred_id, None)
                handle.done.set()

    async def _claim(self, pred_id: str, started: bool) -> tuple[Prediction, RunHandle] | None:
        """Take a queued prediction to run. `started`: it committed RUNNING with its submission."""
        async with self.jobs.lock(pred_id):
            pred = await self.jobs.load(pred_id)
            expected = Status.RUNNING if started else Status.ENQUEUED
            if self._stopping or pred is None or pred.status is not expected or pred_id in self.jobs.running:
                return None  # paused, cancelled or already running since it was queued
            self.jobs.queued.pop(pred_id, None)
            handle = RunHandle()
            self.jobs.running[pred_id] = handle
            if not started:
                pred.transition(Status.RUNNING)
                # Not awaited here: the first element goes to Triton while RUNNING commits. Saves commit in
                # the order they are made, so every later event still follows it.
                handle.running_saved = self.jobs.save(pred)
            return pred, handle

    async def _run(self, pred: Prediction, handle: RunHandle) -> None:
        jobs, pred_id = self.jobs, pred.id
        started = time.monotonic()
        try:
            finished = await self._process(pred, handle, started)
            if handle.running_saved is not None:
                await handle.running_saved  # long committed; raises if it failed
            async with jobs.lock(pred_id):
                if pred.status is Status.COMPLETED:  # with its last element's result
                    return
                if finished is not None:  # every element was stored before this run
                    _complete(pred, finished, started)
                    await jobs.save(pred)
                    jobs.on_terminal(pred)
                else:
                    pred.run_seconds += time.monotonic() - started
                    pred.transition(Status.PAUSED, "paused on request")
                    await jobs.save(pred)
        except asyncio.CancelledError:
            async with jobs.lock(pred_id):
                pred.run_seconds += time.monotonic() - started
                if handle.requeue:
                    pred.transition(Status.ENQUEUED, "re-queued: the server is shutting down")
                    await jobs.save(pred)
                    jobs.queued[pred.id] = pred
                else:
                    await jobs.fail(pred, cancelled())
        except ServiceError as exc:
            async with jobs.lock(pred_id):
                pred.run_seconds += time.monotonic() - started
                await jobs.fail(pred, exc)
        except Exception as exc:  # a bug must fail the prediction, not lose it
            log.exception("prediction %s failed unexpectedly", pred_id)
            async with jobs.lock(pred_id):
                await jobs.fail(pred, ServiceError(Code.INTERNAL, "INTERNAL", f"{type(exc).__name__}: {exc}"))

    async def _process(self, pred: Prediction, handle: RunHandle, started: float) -> dict[int, Any] | None:
        """Send the elements not yet done; every element's result once all are done, None when paused.
        While Triton is unreachable, retry with backoff for triton_unavailable_budget_s, then fail."""
        done = await self.jobs.store.elements(pred.id) if pred.done else {}
        try:
            await self._send(pred, handle, done, started)
        except TritonUnavailable:
            retrying = AsyncRetrying(retry=retry_if_exception_type(TritonUnavailable), reraise=True,
                                     stop=stop_after_delay(self.settings.triton_unavailable_budget_s),
                                     wait=wait_exponential(multiplier=0.5, max=5))
            try:
                async for attempt in retrying:
                    with attempt:
                        await self._send(pred, handle, done, started)
            except TritonUnavailable as exc:
                raise unavailable("UNAVAILABLE", f"Triton stayed unavailable for "
                                  f"{self.settings.triton_unavailable_budget_s:.0f} s: {exc.message}") from None
        return done if len(done) >= pred.total else None

    async def _send(self, pred: Prediction, handle: RunHandle, done: dict[int, Any], started: float) -> None:
        jobs = self.jobs
        source = self._until_paused(self._elements(pred, set(done)), handle)
        async for index, result in jobs.gateway.stream(pred.domain, pred.config, source, self.settings.pages_in_flight):
            done[index] = result
            async with jobs.lock(pred.id):
                pred.done = len(done)
                if len(done) < pred.total:
                    await jobs.save(pred, EventType.PROGRESS, (index, result))
                    continue
                await jobs.save_last_element(pred, (index, result), lambda p: _complete(p, done, started))
                jobs.on_terminal(pred)

    @staticmethod
    async def _until_paused(elements: AsyncIterator[Element], handle: RunHandle) -> AsyncIterator[Element]:
        async for element in elements:
            if handle.pause_requested:
                return
            yield element

    async def _elements(self, pred: Prediction, skip: set[int]) -> AsyncIterator[Element]:
        blobs, settings = self.jobs.blobs, self.settings
        if pred.kind is Kind.IMAGE:
            sources = [ImageSource(i, blobs.path(ref.blob) if ref.blob else None, ref.url,
                                   await self.jobs.held_input(pred, i))
                       for i, ref in enumerate(pred.inputs) if i not in skip]
            async for element in image_elements(sources, settings):
                yield element
            return
        ref = pred.inputs[0]
        if ref.blob is None:  # a URL document: fetch it once and keep it like uploaded bytes
            data = await fetch.fetch(ref.url or "", max_bytes=settings.max_document_bytes,
                                     timeout_s=settings.url_fetch_timeout_s,
                                     allow_private=settings.allow_private_urls, field_path="document.url")
            rel = await blobs.write(f"inputs/{pred.id}/0", data)
            media = sniff.media_type(data)
            total = await self.jobs.check_blob(pred.kind, pred.config, rel, media, "document.url")
            async with self.jobs.lock(pred.id):
                ref = ref.model_copy(update={"blob": rel, "media_type": media})
                pred.inputs, pred.total = [ref], total  # replaced, not mutated: events hold shallow copies
                await self.jobs.save(pred, EventType.PROGRESS)
        path = blobs.path(ref.blob)
        if ref.media_type == sniff.PDF:
            indices = pred.config.get("page_indices") or range(pred.total)
            wanted = [i for i in indices if i not in skip]
            async for element in page_elements(self.jobs.renderer, path, wanted, settings,
                                               prefetch=settings.pages_in_flight):
                yield element
        elif 0 not in skip:
            yield Element(0, await self.jobs.held_input(pred, 0) or await blobs.read(ref.blob))
