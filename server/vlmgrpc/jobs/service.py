"""The job service: submission, reads and control of predictions, composed of the job layer's owners: intake
(inputs checked and kept), lifecycle (changes saved and published), the work queue (what this process holds)
and the replicas (who holds what, with a shared store). Execution is in runner.py, watching in watch.py.
Knows nothing of gRPC."""

from __future__ import annotations

import asyncio
import logging
import uuid

from vlmgrpc import observability
from vlmgrpc.catalog import Catalog
from vlmgrpc.errors import Code, ServiceError, cancelled, exhausted, failed_precondition, not_found, unavailable
from vlmgrpc.inference.gateway import TritonGateway
from vlmgrpc.inference.models import ModelRegistry
from vlmgrpc.jobs import paging, validation
from vlmgrpc.jobs.blobs import Blobs
from vlmgrpc.jobs.callbacks import CallbackOutbox
from vlmgrpc.jobs.events import EventBus
from vlmgrpc.jobs.files import FileStore
from vlmgrpc.jobs.intake import Intake
from vlmgrpc.jobs.lifecycle import Lifecycle
from vlmgrpc.jobs.model import Prediction, Status, check_transition
from vlmgrpc.jobs.queue import WorkQueue
from vlmgrpc.jobs.records import Cursor
from vlmgrpc.jobs.replicas import replicas_for
from vlmgrpc.jobs.store_api import JobStore
from vlmgrpc.pipeline.render import Renderer
from vlmgrpc.settings import Settings

log = logging.getLogger(__name__)


class JobService:
    def __init__(self, settings: Settings, store: JobStore, blobs: Blobs, files: FileStore, bus: EventBus,
                 catalog: Catalog, renderer: Renderer, gateway: TritonGateway, models: ModelRegistry):
        self.settings = settings
        self.store = store
        self.bus = bus
        self.catalog = catalog
        self.renderer = renderer
        self.gateway = gateway
        self.models = models
        self.queue = WorkQueue(settings.queue_size)
        self.intake = Intake(settings, store, blobs, files, renderer)
        self.callbacks = CallbackOutbox(settings, store)  # started and stopped by the app
        self.lifecycle = Lifecycle(store, bus, self.callbacks, claim_lost=self.queue.lost)
        self.replicas = replicas_for(store, bus)  # who holds what, when replicas share the store
        self.closing = False
        self._background: set[asyncio.Task] = set()

    def spawn(self, coro) -> asyncio.Task:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background_done)
        return task

    def _background_done(self, task: asyncio.Task) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:  # never unseen
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    # --- submission

    async def submit(self, sub: validation.Submission) -> tuple[Prediction, bool]:
        """Accept a prediction (or find the one this request id already made): (prediction, created)."""
        if self.closing:
            raise unavailable("SHUTTING_DOWN", "the server is shutting down; retry on another instance")
        validation.validate(sub, known=self.catalog.is_known(sub.domain) or sub.domain in self.models.served_domains(),
                            max_images=self.settings.max_images_per_request,
                            allow_private_urls=self.settings.allow_private_urls)
        model = self.models.resolve(sub.domain, sub.model, custom_schema=bool(sub.config.get("json_schema")))
        fingerprint = await sub.fingerprint_async() if sub.request_id else ""  # only a request id is ever compared
        if sub.request_id:
            existing = await self._by_request_id(sub, fingerprint)
            if existing:
                return existing, False
        if not self.queue.reserve():
            raise exhausted("QUEUE_FULL", f"{self.queue.size} predictions are waiting; retry later",
                            queue_size=str(self.queue.size))
        start = committed = False
        pred_id = uuid.uuid4().hex
        try:
            inputs, total, inline = await self.intake.accept(pred_id, sub)
            self.intake.check_request_size(sub, model, total)
            pred = Prediction(id=pred_id, owner=sub.owner, kind=sub.kind, domain=sub.domain, model=model.id,
                              batch=sub.batch, request_id=sub.request_id, fingerprint=fingerprint,
                              callback_url=sub.callback_url, config=sub.config, metadata=sub.metadata,
                              inputs=inputs, request_created_at=sub.request_created_at, total=total,
                              traceparent=observability.current_traceparent())
            # Decided last: the worker waits only for this commit. Not while closing: workers take nothing more.
            start = not self.closing and self.queue.start_now()
            then = (Status.ENQUEUED, Status.RUNNING) if start else (Status.ENQUEUED,)
            pred, created = await self.store.create(pred, then=then, inputs=inline)  # one commit
            if not created:  # the same request id raced us
                await self.intake.discard(pred_id)
                self._check_same(pred, fingerprint)
                return pred, False
            self.queue.commit(pred, started=start)
            committed = True
            return pred, True
        finally:
            if not committed:
                self.queue.release(started=start)

    async def _by_request_id(self, sub: validation.Submission, fingerprint: str) -> Prediction | None:
        found = await self.store.list(sub.owner, status=None, domain="", after=None, limit=1,
                                      request_id=sub.request_id)
        if found:
            self._check_same(found[0], fingerprint)
            return found[0]
        return None

    @staticmethod
    def _check_same(pred: Prediction, fingerprint: str) -> None:
        if pred.fingerprint != fingerprint:
            raise ServiceError(Code.ALREADY_EXISTS, "REQUEST_ID_REUSED",
                               f"request id {pred.request_id!r} was already used for a different request",
                               {"prediction_id": pred.id})

    async def load(self, prediction_id: str) -> Prediction | None:
        """The current state for a change (caller holds the lock)."""
        return self.queue.current(prediction_id) or await self.store.get(prediction_id)

    async def _owned(self, owner: str, prediction_id: str) -> Prediction:
        pred = await self.load(prediction_id)
        if pred is None or pred.owner != owner:
            raise not_found("prediction", prediction_id)
        return pred

    # --- reads

    async def get(self, owner: str, prediction_id: str) -> Prediction:
        pred = await self.store.get(prediction_id)
        if pred is None or pred.owner != owner:  # another tenant's prediction does not exist for you
            raise not_found("prediction", prediction_id)
        return pred

    async def list(self, owner: str, *, status: Status | None, domain: str, page_size: int,
                   page_token: str, full: bool = True) -> tuple[list[Prediction], str]:
        size = paging.page_size(page_size)
        filters = f"{status.value if status else ''}|{domain}"
        after = paging.decode(page_token, filters)
        preds = await self.store.list(owner, status=status, domain=domain, after=after, limit=size + 1, full=full)
        token = ""
        if len(preds) > size:
            preds = preds[:size]
            token = paging.encode(Cursor(preds[-1].created_at.isoformat(), preds[-1].id), filters)
        return preds, token

    # --- control

    async def cancel(self, owner: str, prediction_id: str) -> Prediction:
        return await self._control("cancel", owner, prediction_id)

    async def pause(self, owner: str, prediction_id: str) -> Prediction:
        return await self._control("pause", owner, prediction_id)

    async def resume(self, owner: str, prediction_id: str) -> Prediction:
        return await self._control("resume", owner, prediction_id)

    async def cancel_quietly(self, owner: str, prediction_id: str) -> None:
        """Cancel unless it already ended (a synchronous caller that went away)."""
        try:
            await self.cancel(owner, prediction_id)
        except ServiceError:
            pass  # terminal meanwhile, or gone: nothing to stop

    async def _control(self, op: str, owner: str, prediction_id: str) -> Prediction:
        """A change is made by the replica that holds the prediction (this one, on the embedded store)."""
        done = await self.replicas.at_holder(op, owner, prediction_id)
        return done if done is not None else await self.get(owner, prediction_id)

    async def control_here(self, op: str, owner: str, prediction_id: str) -> Prediction:
        """Make the change here: this replica holds the prediction (or it was free and is now claimed by it)."""
        change = {"cancel": self._cancel_here, "pause": self._pause_here, "resume": self._resume_here}[op]
        return await change(owner, prediction_id)

    async def _cancel_here(self, owner: str, prediction_id: str) -> Prediction:
        async with self.lifecycle.lock(prediction_id):
            pred = await self._owned(owner, prediction_id)
            if pred.status.terminal:
                raise failed_precondition("ALREADY_TERMINAL", f"prediction {prediction_id!r} is already "
                                          f"{pred.status.value}", status=pred.status.value)
            handle = self.queue.handle(prediction_id)
            if handle is None:
                await self.fail(pred, cancelled())
                return pred
            if handle.task:
                handle.task.cancel()
        await handle.done.wait()
        return await self.get(owner, prediction_id)

    async def _pause_here(self, owner: str, prediction_id: str) -> Prediction:
        async with self.lifecycle.lock(prediction_id):
            pred = await self._owned(owner, prediction_id)
            if pred.status is Status.PAUSED:
                return pred
            check_transition(pred.status, Status.PAUSED, pred.id)
            handle = self.queue.handle(prediction_id)
            if handle is None:
                pred.transition(Status.PAUSED, "paused on request")
                await self.lifecycle.save(pred)
                self.queue.remove(prediction_id)  # resume queues it again
                return pred
            handle.pause_requested = True  # the runner stops before its next element
        await handle.done.wait()
        return await self.get(owner, prediction_id)

    async def _resume_here(self, owner: str, prediction_id: str) -> Prediction:
        async with self.lifecycle.lock(prediction_id):
            pred = await self._owned(owner, prediction_id)
            if pred.status is not Status.PAUSED:
                raise failed_precondition("NOT_PAUSED", f"prediction {prediction_id!r} is {pred.status.value}, "
                                          "not paused", status=pred.status.value)
            if not self.queue.reserve():
                raise exhausted("QUEUE_FULL", "the queue is full; retry later")
            pred.transition(Status.ENQUEUED, "resumed")
            await self.lifecycle.save(pred)
            self.queue.commit(pred)
            return pred

    async def fail(self, pred: Prediction, error: ServiceError) -> None:
        """Move a prediction to FAILED (caller holds its lock)."""
        pred.error = error.to_dict()
        pred.transition(Status.FAILED, error.message)
        await self.lifecycle.save(pred)
        self.queue.remove(pred.id)  # cancelled while it waited: its slot is free
        self.lifecycle.ended(pred)

    def holds(self, prediction_id: str) -> bool:
        """Whether this process's queue or a worker has the prediction."""
        return self.queue.holds(prediction_id)

    def room(self) -> int:
        return self.queue.room()

    def spare(self) -> int:
        return self.queue.spare()

    def given_away(self, prediction_id: str) -> None:
        """Another replica took this queued prediction (it had idle workers): no worker here may start it."""
        self.queue.lost(prediction_id)

    async def resume_callbacks(self) -> None:
        for prediction_id in await self.store.pending_callbacks():
            self.callbacks.submit(prediction_id)

    async def adopt(self, prediction_id: str, why: str) -> None:
        """Queue here a prediction this replica now holds (taken over, or its own before a restart); one that
        was running continues at its next element."""
        async with self.lifecycle.lock(prediction_id):
            if self.holds(prediction_id):
                return
            pred = await self.store.get(prediction_id)
            if pred is None or pred.status not in (Status.PENDING, Status.ENQUEUED, Status.RUNNING):
                await self.replicas.release(prediction_id)  # paused or ended meanwhile: nothing to run
                return
            if pred.status is not Status.ENQUEUED:
                pred.transition(Status.ENQUEUED, why)
                await self.lifecycle.save(pred)
        await self.queue.put(pred)

    async def recover(self) -> None:
        """After a restart: whatever was accepted and not finished is queued again. With a shared store, only
        what this replica held (a stable replica_id); the rest is taken over as leases run out (jobs/replicas.py)."""
        mine = await self.replicas.start(self)
        if self.replicas.shared:
            if mine:
                log.info("re-queueing %d predictions this replica held", len(mine))
            for prediction_id in mine:
                self.spawn(self.adopt(prediction_id, "re-queued after a restart"))
            return
        for pred in await self.store.with_status(Status.PENDING, Status.RUNNING):
            pred.transition(Status.ENQUEUED, "re-queued after a restart")
            await self.lifecycle.save(pred)
        queued = await self.store.with_status(Status.ENQUEUED)
        if queued:
            log.info("re-queueing %d predictions", len(queued))

        async def requeue() -> None:
            for pred in queued:
                await self.queue.put(pred)

        self.spawn(requeue())

    async def park(self) -> None:
        """The end of a shutdown (no worker, no handler left): what is still pending or RUNNING (started at its
        submission, never claimed) goes back to ENQUEUED, so a stopped server leaves every prediction terminal,
        ENQUEUED or PAUSED. With a shared store, what this replica held is then released for the others."""
        if self.replicas.shared:
            preds = [p for p in self.queue.queued() if p.status in (Status.PENDING, Status.RUNNING)]
        else:
            preds = await self.store.with_status(Status.PENDING, Status.RUNNING)
        for pred in preds:
            async with self.lifecycle.lock(pred.id):
                pred = self.queue.current(pred.id) or pred
                if pred.status in (Status.PENDING, Status.RUNNING) and not self.queue.is_running(pred.id):
                    pred.transition(Status.ENQUEUED, "re-queued: the server is shutting down")
                    await self.lifecycle.save(pred)
        await self.replicas.stop()
