"""Triton python backend model `transformers` (decoupled, dynamic batching): the Triton side of
vlm_engines.transformers. It reads the tensors, hands every valid request of this execute() call to one
batched generate(), and turns the engine's messages into responses (the FINAL flag on the last one)."""

import json

import numpy as np
import triton_python_backend_utils as pb_utils
from vlm_engines.transformers import Engine, EngineOptions, Job, RequestError, parse_request

FINAL = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL


def _log(level: str, message: str) -> None:
    # pb_utils.Logger exists only once the stub is up, not at import time.
    {"info": pb_utils.Logger.log_info, "warn": pb_utils.Logger.log_warn}.get(level, pb_utils.Logger.log_error)(message)


class _Stream:
    """One request's response sender; after the final response it sends nothing more."""

    def __init__(self, request) -> None:
        self.sender = request.get_response_sender()
        self.closed = False

    def _send(self, response, final: bool) -> None:
        if self.closed:
            return
        self.closed = final
        try:
            self.sender.send(response, flags=FINAL if final else 0)
        except Exception as e:  # noqa: BLE001 - the client is gone; nothing left to tell it
            self.closed = True
            _log("warn", f"transformers: could not send a response: {e!r}")

    def send(self, message: dict, final: bool) -> None:
        payload = json.dumps(message, ensure_ascii=False).encode("utf-8")
        tensor = pb_utils.Tensor("RESPONSE", np.array([[payload]], dtype=np.object_))  # [batch 1, 1]
        self._send(pb_utils.InferenceResponse(output_tensors=[tensor]), final)

    def fail(self, error: RequestError) -> None:
        code = getattr(pb_utils.TritonError, error.code, pb_utils.TritonError.INTERNAL)
        self._send(pb_utils.InferenceResponse(error=pb_utils.TritonError(str(error), code)), True)

    def is_cancelled(self) -> bool:
        return self.closed or self.sender.is_cancelled()


def _elements(request, name: str) -> list | None:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return None if tensor is None else list(tensor.as_numpy().reshape(-1))


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        config = json.loads(args["model_config"])
        params = {k: v.get("string_value", "") for k, v in config.get("parameters", {}).items()}
        self.opts = EngineOptions.from_params(params, instance_kind=args.get("model_instance_kind", "CPU"),
                                              device_id=int(args.get("model_instance_device_id") or 0))
        self.engine = Engine(self.opts, log=_log)

    def execute(self, requests: list) -> None:
        jobs, streams = [], []
        for request in requests:
            stream = _Stream(request)
            streams.append(stream)
            try:
                req = parse_request(_elements(request, "IMAGES"), _elements(request, "DOMAIN"),
                                    _elements(request, "PROMPT"), _elements(request, "CONFIG"),
                                    max_images=self.opts.max_images, domains=self.opts.domains)
            except RequestError as e:
                stream.fail(e)
                continue
            jobs.append(Job(req, stream.send, stream.fail, stream.is_cancelled))
        try:
            if jobs:
                self.engine.run(jobs)
        except Exception as e:  # noqa: BLE001 - an engine bug must not leave a request without its final
            _log("error", f"transformers: engine error: {e!r}")
            for stream in streams:
                stream.fail(RequestError("ENGINE_ERROR", f"{type(e).__name__}: {e}", "INTERNAL"))
        for stream in streams:  # every request gets exactly one final response
            stream.fail(RequestError("ENGINE_ERROR", "the engine returned no answer", "INTERNAL"))
        return None

    def finalize(self) -> None:
        self.engine = None
