"""The `latency` model of the benchmarks (see ../config.pbtxt): every request answers after latency_s, and
requests overlap without limit, as on a GPU model that batches dozens at once. Each answer says how many
requests the model held when it started (`held`), so a benchmark can read the most the service sent at once."""

import asyncio
import io
import json

import numpy as np
import triton_python_backend_utils as pb_utils
from PIL import Image


class TritonPythonModel:
    def initialize(self, args):
        params = json.loads(args["model_config"])["parameters"]
        self.latency_s = float(params["latency_s"]["string_value"])
        self.held = 0

    async def execute(self, requests):
        await asyncio.gather(*(self._one(r) for r in requests))
        return None

    async def _one(self, request):
        sender = request.get_response_sender()
        self.held += 1
        held = self.held
        try:
            images = pb_utils.get_input_tensor_by_name(request, "IMAGES").as_numpy().reshape(-1)
            sizes = [Image.open(io.BytesIO(data)).size for data in images]  # headers only, as a model must
            await asyncio.sleep(self.latency_s)
        finally:
            self.held -= 1
        for i, (width, height) in enumerate(sizes):
            body = {"index": i, "width": width, "height": height, "result": {"held": held}}
            tensor = pb_utils.Tensor("RESPONSE", np.array([json.dumps(body).encode()], dtype=np.object_))
            flags = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL if i == len(sizes) - 1 else 0
            sender.send(pb_utils.InferenceResponse(output_tensors=[tensor]), flags=flags)
