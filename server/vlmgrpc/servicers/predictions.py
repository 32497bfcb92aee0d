"""PredictionService: read, list (BASIC view, without responses, unless FULL is asked), watch, cancel, pause,
resume. Messages carrying a response are built off the event loop (convert.*_async)."""

from __future__ import annotations

from vlmgrpc.api.vlm.v1 import prediction_service_pb2 as pb
from vlmgrpc.api.vlm.v1 import prediction_service_pb2_grpc as pb_grpc
from vlmgrpc.errors import invalid
from vlmgrpc.jobs.service import JobService
from vlmgrpc.jobs.watch import Watcher
from vlmgrpc.servicers import convert
from vlmgrpc.servicers.context import caller
from vlmgrpc.servicers.status import handle_errors


def _id(request) -> str:
    if not request.id:
        raise invalid("MISSING_ID", "id is required", "id")
    return request.id


class PredictionServicer(pb_grpc.PredictionServiceServicer):
    def __init__(self, jobs: JobService, watcher: Watcher):
        self.jobs, self.watcher = jobs, watcher

    @handle_errors
    async def GetPrediction(self, request, context):
        pred = await self.jobs.get(caller(context), _id(request))
        return pb.GetPredictionResponse(prediction=await convert.prediction_async(pred))

    @handle_errors
    async def ListPredictions(self, request, context):
        full = convert.full_view(request.view)
        preds, token = await self.jobs.list(caller(context), status=convert.status_filter(request.status),
                                            domain=request.domain, page_size=request.page_size,
                                            page_token=request.page_token, full=full)
        return pb.ListPredictionsResponse(predictions=await convert.predictions_async(preds),
                                          next_page_token=token)

    @handle_errors
    async def WatchPrediction(self, request, context):
        after = request.after_sequence if request.HasField("after_sequence") else None
        async for event in self.watcher.watch(caller(context), _id(request), after):
            yield await convert.event_response_async(event, pb.WatchPredictionResponse)

    @handle_errors
    async def CancelPrediction(self, request, context):
        pred = await self.jobs.cancel(caller(context), _id(request))
        return pb.CancelPredictionResponse(prediction=convert.prediction(pred))

    @handle_errors
    async def PausePrediction(self, request, context):
        pred = await self.jobs.pause(caller(context), _id(request))
        return pb.PausePredictionResponse(prediction=convert.prediction(pred))

    @handle_errors
    async def ResumePrediction(self, request, context):
        pred = await self.jobs.resume(caller(context), _id(request))
        return pb.ResumePredictionResponse(prediction=convert.prediction(pred))
