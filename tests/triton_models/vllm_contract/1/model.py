"""vLLM-backend tensor contract over the transformers engine (see ../config.pbtxt). The prompt arrives
finished (the service rendered the checkpoint's chat template and its image placeholders), so the engine
takes it as it is; images arrive base64-encoded; structured output comes as sampling_parameters'
`guided_decoding.json`; the answer streams back as `text_output` deltas, the last with the FINAL flag."""

import base64
import json

import numpy as np
import triton_python_backend_utils as pb_utils
from vlm_engines.transformers.engine import Engine, EngineOptions, Job
from vlm_engines.transformers.requests import Request, RequestError

FINAL = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL


def _tensor(request, name):
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return None if tensor is None else tensor.as_numpy().reshape(-1)


def _out(text: str, finish: str | None = None):
    tensors = [pb_utils.Tensor("text_output", np.array([text.encode()], dtype=np.object_))]
    if finish is not None:
        tensors.append(pb_utils.Tensor("finish_reason", np.array([finish.encode()], dtype=np.object_)))
    return pb_utils.InferenceResponse(output_tensors=tensors)


class TritonPythonModel:
    def initialize(self, args):
        params = {k: v["string_value"] for k, v in json.loads(args["model_config"]).get("parameters", {}).items()}
        self.engine = Engine(EngineOptions.from_params(params), lambda level, msg: pb_utils.Logger.log_info(msg))

    def execute(self, requests):
        for request in requests:
            sender = request.get_response_sender()
            try:
                job = self._job(request, sender)
            except (RequestError, ValueError, KeyError) as e:
                sender.send(pb_utils.InferenceResponse(error=pb_utils.TritonError(str(e))), flags=FINAL)
                continue
            self.engine.run([job])

    def _job(self, request, sender) -> Job:
        prompt = _tensor(request, "text_input")[0].decode()
        images = [base64.b64decode(b) for b in (_tensor(request, "image") if _tensor(request, "image") is not None
                                                 else [])]
        stream = _tensor(request, "stream")
        if stream is None or not bool(stream[0]):
            raise ValueError("this contract model streams only: send stream=true")
        raw = _tensor(request, "sampling_parameters")
        sampling = json.loads(raw[0]) if raw is not None else {}
        guided = sampling.get("guided_decoding") or {}
        req = Request(images=images, domain="", prompt=prompt, json_schema=guided.get("json"),
                      max_tokens=sampling.get("max_tokens"), temperature=float(sampling.get("temperature", 0.0)),
                      templated=True)
        state = {"sent": ""}

        def send(message: dict, final: bool) -> None:
            if not final:
                state["sent"] += message.get("delta", "")
                sender.send(_out(message.get("delta", "")))
                return
            rest = message.get("text", "")[len(state["sent"]):]
            sender.send(_out(rest, message.get("finish_reason", "stop")), flags=FINAL)

        def fail(error: RequestError) -> None:
            sender.send(pb_utils.InferenceResponse(error=pb_utils.TritonError(str(error))), flags=FINAL)

        return Job(request=req, send=send, fail=fail, is_cancelled=request.is_cancelled)

    def finalize(self):
        self.engine = None
