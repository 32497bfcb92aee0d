"""ImageService and DocumentService: submit, then answer at once (batch), when terminal, or as a stream."""

from __future__ import annotations

import asyncio

from vlmgrpc.api.vlm.v1 import document_service_pb2 as doc_pb
from vlmgrpc.api.vlm.v1 import document_service_pb2_grpc as doc_grpc
from vlmgrpc.api.vlm.v1 import image_service_pb2 as img_pb
from vlmgrpc.api.vlm.v1 import image_service_pb2_grpc as img_grpc
from vlmgrpc.jobs.model import Kind
from vlmgrpc.jobs.service import JobService
from vlmgrpc.jobs.watch import Watcher
from vlmgrpc.servicers import convert
from vlmgrpc.servicers.context import caller
from vlmgrpc.servicers.status import handle_errors

DEADLINE_SLACK_S = 0.05


class _Generate:
    kind: Kind
    default_batch: bool

    def __init__(self, jobs: JobService, watcher: Watcher):
        self.jobs, self.watcher = jobs, watcher

    async def _generate(self, request, context):
        owner = caller(context)
        sub = convert.submission(request, owner, self.kind, default_batch=self.default_batch, streaming=False)
        pred, _ = await self.jobs.submit(sub)
        if not sub.batch and not pred.status.terminal:
            # Bounded by the caller's deadline as well: the prediction itself keeps running.
            remaining = context.time_remaining()
            timeout = self.jobs.settings.sync_wait_s if remaining is None else min(remaining,
                                                                                   self.jobs.settings.sync_wait_s)
            try:
                pred = await self.watcher.wait(pred, timeout)
            except asyncio.CancelledError:
                # The caller cancelled its call: nobody waits for this answer, so the model stops making it.
                # A deadline that passed is not a cancel: that prediction keeps running and can be fetched.
                left = context.time_remaining()
                if left is None or left > DEADLINE_SLACK_S:
                    self.jobs.spawn(self.jobs.cancel_quietly(owner, pred.id))
                raise
        return await convert.prediction_async(pred)

    async def _generate_stream(self, request, context, response_type):
        owner = caller(context)
        sub = convert.submission(request, owner, self.kind, default_batch=True, streaming=True)
        pred, _ = await self.jobs.submit(sub)
        # Replay from the start: a stream shows every transition of its prediction, pending included.
        async for event in self.watcher.watch(owner, pred.id, 0):
            yield await convert.event_response_async(event, response_type)


class ImageServicer(_Generate, img_grpc.ImageServiceServicer):
    kind, default_batch = Kind.IMAGE, False

    @handle_errors
    async def Generate(self, request, context):
        return img_pb.ImageServiceGenerateResponse(prediction=await self._generate(request, context))

    @handle_errors
    async def GenerateStream(self, request, context):
        async for response in self._generate_stream(request, context, img_pb.ImageServiceGenerateStreamResponse):
            yield response


class DocumentServicer(_Generate, doc_grpc.DocumentServiceServicer):
    kind, default_batch = Kind.DOCUMENT, True

    @handle_errors
    async def Generate(self, request, context):
        return doc_pb.DocumentServiceGenerateResponse(prediction=await self._generate(request, context))

    @handle_errors
    async def GenerateStream(self, request, context):
        async for response in self._generate_stream(request, context, doc_pb.DocumentServiceGenerateStreamResponse):
            yield response
