"""Workers: take enqueued predictions and run them through the pipeline and Triton.

Each element's result is stored as it arrives, so a prediction that is paused, re-queued on
shutdown or interrupted by a crash continues at its next element and no element is sent twice
after it was answered."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from vlmgrpc import observability
from vlmgrpc.errors import Code, ServiceError, cancelled, unavailable
from vlmgrpc.inference import prompts
from vlmgrpc.inference.gateway import TritonUnavailable
from vlmgrpc.inference.models import ModelInfo
from vlmgrpc.inference.protocols import Answer, Call
from vlmgrpc.jobs import answers
from vlmgrpc.jobs.answers import AnswerPlan, credits
from vlmgrpc.jobs.model import Kind, Prediction, Status
from vlmgrpc.jobs.queue import RunHandle
from vlmgrpc.jobs.records import ClaimLost, Delta, EventType
from vlmgrpc.jobs.service import JobService
from vlmgrpc.pipeline import sniff
from vlmgrpc.pipeline.elements import Element, ImageSource, image_elements, page_elements

log = logging.getLogger(__name__)


def _complete(pred: Prediction, plan: AnswerPlan, entries: dict[int, Any], started: float, prices) -> None:
    pred.run_seconds += time.monotonic() - started
    pred.response = plan.assemble(pred.domain, entries)
    pred.done = pred.total
    pred.credits = credits(prices, pred.domain, pred.element_type, pred.done)
    pred.transition(Status.COMPLETED)


@dataclass
class Pass:
    """One pass over a prediction's elements not done yet; answers that broke the schema are asked again in
    the next pass (up to config.max_retries)."""

    plan: AnswerPlan
    call: Call
    attempts: dict[int, int] = field(default_factory=dict)  # element -> failed answers so far
    failures: dict[int, list[str]] = field(default_factory=dict)  # this pass: element -> violations
    answered: int = 0  # messages from the model so far: one after an outage means Triton is back


class _OutageOver(Exception):
    """Triton answered again, then became unreachable again: a new outage, with a budget of its own."""


class Runner:
    def __init__(self, jobs: JobService):
        # The owners the runner talks to (jobs/service.py composes them): nothing else of the service.
        self.settings = jobs.settings
        self.queue, self.lifecycle, self.intake, self.store = jobs.queue, jobs.lifecycle, jobs.intake, jobs.store
        self.models, self.gateway, self.renderer, self.catalog = jobs.models, jobs.gateway, jobs.renderer, jobs.catalog
        self._workers: list[asyncio.Task] = []
        self._stopping = False

    def start(self) -> None:
        self._workers = [asyncio.create_task(self._worker(), name=f"worker-{i}")
                         for i in range(self.settings.workers)]

    async def stop(self, grace_s: float) -> None:
        """Let running predictions finish within the grace period; re-queue the rest."""
        self._stopping = True  # no worker claims another prediction: it stays ENQUEUED for the next start
        handles = self.queue.handles()
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
        for worker, result in zip(self._workers, await asyncio.gather(*self._workers, return_exceptions=True),
                                  strict=True):
            if isinstance(result, Exception):
                log.error("%s ended with an error", worker.get_name(), exc_info=result)

    async def _worker(self) -> None:
        while True:
            pred_id, started = await self.queue.next()
            if self._stopping:  # one started at submission is re-queued by JobService.park at the end of shutdown
                return
            try:
                claimed = await self._claim(pred_id, started)
            except Exception:  # a worker lives on: the prediction stays queued in the store for the next start
                log.exception("could not claim prediction %s", pred_id)
                continue
            if claimed is None:
                continue
            pred, handle = claimed
            # The job runs in its own task: cancelling it (cancel, shutdown) never kills the worker.
            handle.task = asyncio.create_task(observability.run_prediction(pred, self._run(pred, handle)),
                                              name=f"prediction-{pred_id}")
            try:
                await asyncio.wait({handle.task})
            finally:
                self.queue.finished(pred_id)
            if not handle.task.cancelled() and handle.task.exception() is not None:  # _run ends every error itself
                log.error("prediction %s: its task failed", pred_id, exc_info=handle.task.exception())

    async def _claim(self, pred_id: str, started: bool) -> tuple[Prediction, RunHandle] | None:
        """Take a queued prediction to run. `started`: it committed RUNNING with its submission."""
        async with self.lifecycle.lock(pred_id):
            pred = self.queue.current(pred_id) or await self.store.get(pred_id)
            expected = Status.RUNNING if started else Status.ENQUEUED
            if self._stopping or pred is None or pred.status is not expected or self.queue.is_running(pred_id):
                return None  # paused, cancelled or already running since it was queued
            handle = self.queue.start(pred_id)
            if not started:
                pred.transition(Status.RUNNING)
                # Not awaited here: the first element goes to Triton while RUNNING commits. Saves commit in
                # the order they are made, so every later event still follows it.
                handle.running_saved = self.lifecycle.save(pred)
            return pred, handle

    async def _run(self, pred: Prediction, handle: RunHandle) -> None:
        started = time.monotonic()
        finished: tuple[AnswerPlan, dict[int, Any]] | None = None
        error: ServiceError | None = None
        interrupted = False  # cancelled: by CancelPrediction, or by shutdown (handle.requeue)
        try:
            finished = await self._process(pred, handle, started)
            if handle.running_saved is not None:
                await handle.running_saved  # long committed; raises if it failed
        except ClaimLost:
            log.warning("prediction %s: another replica took it over (this one's lease ran out); stopped here",
                        pred.id)
            self.queue.lost(pred.id)
            return
        except asyncio.CancelledError:
            interrupted = True
        except ServiceError as exc:
            error = exc
        except Exception as exc:  # a bug must fail the prediction, not lose it
            log.exception("prediction %s failed unexpectedly", pred.id)
            error = ServiceError(Code.INTERNAL, "INTERNAL", f"{type(exc).__name__}: {exc}")
        # The outcome is decided: a cancel from here on (shutdown, a second CancelPrediction) must not stop its
        # save and bookkeeping half-way, or the prediction would stay RUNNING and its callback be lost.
        ending = asyncio.ensure_future(self._end(pred, handle, started, finished, error, interrupted))
        while not ending.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(ending)
        ending.result()  # an error of the ending itself is the task's: the worker logs it

    async def _end(self, pred: Prediction, handle: RunHandle, started: float,
                   finished: tuple[AnswerPlan, dict[int, Any]] | None, error: ServiceError | None,
                   interrupted: bool) -> None:
        """Save how the run ended: completed, paused, failed, or re-queued (cancelled by shutdown). A prediction
        that reached its end in memory before a cancel came (its save queued: it commits regardless) keeps it."""
        async with self.lifecycle.lock(pred.id):
            if pred.status is Status.RUNNING:
                if finished is not None and error is None and not interrupted:  # every element stored before
                    _complete(pred, *finished, started, self.settings.credit_prices)
                else:
                    pred.run_seconds += time.monotonic() - started
                    if interrupted and handle.requeue:
                        pred.transition(Status.ENQUEUED, "re-queued: the server is shutting down")
                        self.queue.hold(pred)
                    elif interrupted or error is not None:
                        failure = error or cancelled()
                        pred.error = failure.to_dict()
                        pred.transition(Status.FAILED, failure.message)
                    else:
                        pred.transition(Status.PAUSED, "paused on request")
                await self.lifecycle.save(pred)
            if pred.status.terminal:
                self._ended(pred, handle)

    def _ended(self, pred: Prediction, handle: RunHandle) -> None:
        """Waiters and the callback, once per run."""
        if not handle.ended:
            handle.ended = True
            self.lifecycle.ended(pred)

    async def _process(self, pred: Prediction, handle: RunHandle, started: float,
                       ) -> tuple[AnswerPlan, dict[int, Any]] | None:
        """Send the elements not yet done; (plan, every element's answer) once all are done, None when paused.
        While Triton is unreachable, retry with backoff for triton_unavailable_budget_s, then fail."""
        model = self.models.get(pred.model)
        if model is None:
            raise unavailable("MODEL_NOT_READY", f"model {pred.model!r} is not loaded any more")
        if pred.kind is Kind.DOCUMENT and pred.inputs[0].blob is None:
            await self._fetch_document(pred)  # first: how many pages to ask for is known only then
        plan = answers.plan(self.catalog, pred)
        run = Pass(plan, self._call(pred, model, plan))
        done = await self.store.elements(pred.id) if pred.done else {}
        expected = plan.requests(pred.total)
        while True:
            run.failures = {}
            await self._pass(pred, handle, run, done, started)
            if handle.lost:
                raise ClaimLost(pred.id, "another", "this one")
            if handle.pause_requested or len(done) >= expected or not run.failures:
                break
            for index, problems in run.failures.items():
                run.attempts[index] = run.attempts.get(index, 0) + 1
                if run.attempts[index] > plan.max_retries:
                    raise answers.schema_failure(index, problems, run.attempts[index])
            log.info("prediction %s: asking again for %d answer(s) that broke the schema", pred.id, len(run.failures))
        return (plan, done) if len(done) >= expected else None

    async def _fetch_document(self, pred: Prediction) -> None:
        """A URL document: fetched once and kept like uploaded bytes; its page count is known from then on."""
        ref, total = await self.intake.fetch_document(pred)
        async with self.lifecycle.lock(pred.id):
            pred.inputs, pred.total = [ref], total  # replaced, not mutated: events hold shallow copies
            await self.lifecycle.save(pred, EventType.PROGRESS)

    def _call(self, pred: Prediction, model: ModelInfo, plan: AnswerPlan) -> Call:
        """What the model is asked: for schema-following models, instructions built from the schema (or free
        Markdown) and the decoding constraint; page models take the caller's config as it is."""
        config = dict(pred.config)
        prompt = ""
        chat_prompt = ""
        if model.follows_schema:
            free_text = pred.domain == "document.markdown" and not plan.custom
            schema = None if free_text else plan.decoding_schema()
            pages = 1 if plan.page_by_page else pred.total
            prompt = prompts.instructions(pred.domain, schema, config.get("prompt") or "", pred.kind.value, pages)
            config = {k: v for k, v in config.items() if k not in ("json_schema", "prompt", "page_indices")}
            if schema is not None:
                config["json_schema"] = schema
            if model.chat_template is not None:
                chat_prompt = model.chat_template.render(prompt, 1 if plan.page_by_page else pred.total)
        elif not plan.page_by_page and not plan.custom:
            # A page model that answers a structured domain (the CPU extractor) fills the published schema,
            # grounding fields included when asked: it is told which, rather than keeping its own copy.
            config["json_schema"] = plan.decoding_schema()
        return Call(model=model.id, protocol=model.protocol, domain=pred.domain, config=config, prompt=prompt,
                    batched=model.batched, generative=model.generative, chat_prompt=chat_prompt,
                    text_layer=model.reads_text_layer)

    async def _pass(self, pred: Prediction, handle: RunHandle, run: Pass, done: dict[int, Any],
                    started: float) -> None:
        """Send what is left. While Triton is unreachable, retry with backoff; an outage that lasts
        triton_unavailable_budget_s fails the prediction. Each outage has the whole budget: Triton answering again
        ends it, so a long document that lived through one blip is not failed at once by the next."""
        try:
            await self._send(pred, handle, run, done, started)
            return
        except TritonUnavailable:
            pass
        while True:  # one round per outage
            try:
                await self._outlast_outage(pred, handle, run, done, started)
                return
            except _OutageOver:
                log.info("prediction %s: Triton was back, and is unreachable again", pred.id)

    async def _outlast_outage(self, pred: Prediction, handle: RunHandle, run: Pass, done: dict[int, Any],
                              started: float) -> None:
        budget = self.settings.triton_unavailable_budget_s
        retrying = AsyncRetrying(retry=retry_if_exception_type(TritonUnavailable), reraise=True,
                                 stop=stop_after_delay(budget), wait=wait_exponential(multiplier=0.5, max=5))
        try:
            async for attempt in retrying:
                with attempt:
                    answered = run.answered
                    try:
                        await self._send(pred, handle, run, done, started)
                    except TritonUnavailable:
                        if run.answered > answered:
                            raise _OutageOver from None  # not retried here: the next round starts a new budget
                        raise
        except TritonUnavailable as exc:
            raise unavailable("UNAVAILABLE", f"Triton stayed unavailable for {budget:.0f} s: {exc.message}") from None

    async def _send(self, pred: Prediction, handle: RunHandle, run: Pass, done: dict[int, Any],
                    started: float) -> None:
        source = self._until_paused(self._elements(pred, set(done), run.plan.page_by_page), handle)
        model = self.models.get(pred.model)
        slots = model.slots if model else None
        in_flight = self.settings.pages_in_flight or (model.max_in_flight if model else 2)
        # Progress saves are not awaited one by one: the store commits them in call order while the next pages
        # are with the model (a document's pages no longer wait for each other's commit). The last one, with
        # the completion, is awaited, and so is every save before this pass ends.
        saving: list[Awaitable] = []
        try:
            answers = self.gateway.stream(run.call, source, in_flight, slots, pred.id)
            await self._answers(pred, handle, run, done, started, answers, saving)
        finally:
            if saving:
                await asyncio.gather(*saving)

    async def _answers(self, pred: Prediction, handle: RunHandle, run: Pass, done: dict[int, Any], started: float,
                       stream: AsyncIterator[Answer], saving: list[Awaitable]) -> None:
        lifecycle, plan = self.lifecycle, run.plan
        expected = plan.requests(pred.total)
        offsets: dict[int, int] = {}
        async for answer in stream:
            run.answered += 1
            if not answer.final:
                self._delta(pred, run, answer, offsets)
                continue
            offsets.pop(answer.index, None)
            entry = plan.entry(answer.index, answer.result, answer.meta)
            problems = ([answer.meta["parse_error"]] if "parse_error" in answer.meta
                        else answers.violations(plan.element_schema, entry))
            pred.steps += 1
            if problems:  # not stored: the next pass asks again
                run.failures[answer.index] = problems
                continue
            done[answer.index] = entry
            pred.output_tokens += int((answer.meta.get("usage") or {}).get("completion_tokens") or 0)
            async with lifecycle.lock(pred.id):
                pred.done = len(done) if plan.page_by_page else 0
                if len(done) < expected:
                    saving.append(lifecycle.save(pred, EventType.PROGRESS, (answer.index, entry)))
                    if len(saving) > 64:  # keep the list short; a failed save still surfaces at the end
                        saving[:] = [f for f in saving if not f.done() or f.cancelled() or f.exception()]
                    continue
                await lifecycle.save_last_element(pred, (answer.index, entry), lambda p: _complete(
                    p, plan, done, started, self.settings.credit_prices))
                self._ended(pred, handle)

    def _delta(self, pred: Prediction, run: Pass, answer: Answer, offsets: dict[int, int]) -> None:
        if answer.delta:
            offset = offsets.get(answer.index, 0)
            offsets[answer.index] = offset + len(answer.delta)
            self.lifecycle.publish_delta(pred, Delta(answer.index, answer.delta, offset,
                                                run.attempts.get(answer.index, 0)))

    @staticmethod
    async def _until_paused(elements: AsyncIterator[Element], handle: RunHandle) -> AsyncIterator[Element]:
        async for element in elements:
            if handle.pause_requested or handle.lost:
                return
            yield element

    async def _elements(self, pred: Prediction, skip: set[int], page_by_page: bool) -> AsyncIterator[Element]:
        """One element per image or page; or, for a domain answered as one object, a single element (index 0)
        with every image or page."""
        if page_by_page:
            async for element in self._each(pred, skip):
                yield element
        elif 0 not in skip:
            parts = [element async for element in self._each(pred, set())]
            yield Element(0, tuple(i for p in parts for i in p.images), tuple(h for p in parts for h in p.text_hints))

    async def _each(self, pred: Prediction, skip: set[int]) -> AsyncIterator[Element]:
        intake, settings = self.intake, self.settings
        if pred.kind is Kind.IMAGE:
            sources = [ImageSource(i, intake.path(ref.blob) if ref.blob else None, ref.url,
                                   await intake.held(pred, i))
                       for i, ref in enumerate(pred.inputs) if i not in skip]
            async for element in image_elements(sources, settings):
                yield element
            return
        ref = pred.inputs[0]
        path = intake.path(ref.blob)
        if ref.media_type == sniff.PDF:
            indices = pred.config.get("page_indices") or range(pred.total)
            wanted = [i for i in indices if i not in skip]
            model = self.models.get(pred.model)
            wants = model.page_pixels if model else 0  # rendered no larger than the model reads pages
            max_pixels = min(settings.max_image_pixels, wants) if wants else settings.max_image_pixels
            text = model is None or model.reads_text_layer
            async for element in page_elements(self.renderer, path, wanted, settings.render_dpi, max_pixels,
                                               text, prefetch=2 * settings.render_workers):
                yield element
        elif 0 not in skip:
            yield Element.one(0, await intake.read(pred, 0))
