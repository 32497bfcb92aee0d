"""The two tensor contracts the gateway speaks, one class each: how an element becomes a Triton request and
how the model's streamed responses become Answers.

- `vlmgrpc`: this project's models (triton_models/README.md): IMAGES, DOMAIN, PROMPT, CONFIG, TEXT_HINT in;
  JSON RESPONSE messages out (text deltas, then the final result).
- `vllm`: Triton's vLLM backend: `text_input` (the prompt, built here with the checkpoint's chat template),
  `image` (base64), `sampling_parameters` (JSON, structured output as `guided_decoding.json`), `stream`,
  `exclude_input_in_output`; `text_output` deltas out. The answer is parsed from the generated text.
"""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass, field
from typing import Any

from tritonclient.grpc import service_pb2

from vlmgrpc.pipeline.elements import Element

Tensor = service_pb2.ModelInferRequest.InferInputTensor


@dataclass(frozen=True)
class Call:
    """What a prediction asks of its model; the same for each of its elements."""

    model: str  # Triton model name
    protocol: str  # "vlmgrpc" or "vllm"
    domain: str
    config: dict[str, Any]  # what the engine needs: json_schema, max_tokens, temperature, grounding, ...
    prompt: str = ""  # the instructions, built from the schema and the caller's prompt
    batched: bool = False  # the model has max_batch_size > 0: every tensor carries a leading batch dim of 1
    generative: bool = False  # streams text and can be cancelled mid-request: one gRPC call per request
    chat_prompt: str = ""  # vllm: the prompt rendered with the checkpoint's chat template
    text_layer: bool = True  # the model declares TEXT_HINT: send each page's text layer


@dataclass
class Answer:
    """One message of the model for one element: new text (`delta`), or the final `result`."""

    index: int
    delta: str = ""
    final: bool = False
    result: Any = None
    meta: dict[str, Any] = field(default_factory=dict)  # width/height of a page, usage, finish_reason


class ProtocolError(Exception):
    """The model's message does not follow the contract."""


def _bytes_tensor(name: str, values: list[bytes], batched: bool) -> tuple[Tensor, bytes]:
    # BYTES elements: 4-byte little-endian length, then the bytes (KServe v2 raw form).
    shape = [1, len(values)] if batched else [len(values)]
    raw = b"".join(struct.pack("<I", len(v)) + v for v in values)
    return Tensor(name=name, datatype="BYTES", shape=shape), raw


def _bool_tensor(name: str, value: bool, batched: bool) -> tuple[Tensor, bytes]:
    return Tensor(name=name, datatype="BOOL", shape=[1, 1] if batched else [1]), b"\x01" if value else b"\x00"


def _first_bytes(response: service_pb2.ModelInferResponse, name: str) -> bytes:
    for i, output in enumerate(response.outputs):
        if output.name == name:
            raw = response.raw_output_contents[i]
            (length,) = struct.unpack_from("<I", raw)
            return raw[4:4 + length]
    raise ProtocolError(f"the model's response has no {name} output")


def is_final(response: service_pb2.ModelInferResponse) -> bool:
    param = response.parameters.get("triton_final_response")
    return bool(param and param.bool_param)


class VlmgrpcProtocol:
    def request(self, call: Call, element: Element, request_id: str) -> service_pb2.ModelInferRequest:
        config = json.dumps(call.config, separators=(",", ":")).encode()
        tensors = [_bytes_tensor("IMAGES", list(element.images), call.batched),
                   _bytes_tensor("DOMAIN", [call.domain.encode()], call.batched),
                   _bytes_tensor("CONFIG", [config], call.batched)]
        if call.text_layer:
            hints = list(element.text_hints) or [""] * len(element.images)
            tensors.append(_bytes_tensor("TEXT_HINT", [h.encode() for h in hints], call.batched))
        if call.prompt:
            tensors.append(_bytes_tensor("PROMPT", [call.prompt.encode()], call.batched))
        return service_pb2.ModelInferRequest(model_name=call.model, id=request_id, inputs=[t for t, _ in tensors],
                                             raw_input_contents=[raw for _, raw in tensors])

    def answer(self, index: int, response: service_pb2.ModelInferResponse, state: dict) -> Answer:
        body = json.loads(_first_bytes(response, "RESPONSE"))
        final = is_final(response)
        if "delta" in body and "result" not in body:
            return Answer(index, delta=body["delta"], final=final)
        if "result" not in body:
            raise ProtocolError("a RESPONSE message has neither `delta` nor `result`")
        meta = {k: v for k, v in body.items() if k not in ("result", "index", "text")}
        return Answer(index, final=final, result=body["result"], meta=meta)


class VllmProtocol:
    def request(self, call: Call, element: Element, request_id: str) -> service_pb2.ModelInferRequest:
        sampling: dict[str, Any] = {"max_tokens": call.config.get("max_tokens", 2048),
                                    "temperature": call.config.get("temperature", 0.0)}
        if call.config.get("json_schema"):
            sampling["guided_decoding"] = {"json": call.config["json_schema"]}
        images = [base64.b64encode(image) for image in element.images]
        tensors = [_bytes_tensor("text_input", [call.chat_prompt.encode()], False),
                   _bytes_tensor("image", images, False),
                   _bytes_tensor("sampling_parameters", [json.dumps(sampling).encode()], False),
                   _bool_tensor("stream", True, False),
                   _bool_tensor("exclude_input_in_output", True, False),
                   _bool_tensor("return_finish_reason", True, False)]
        return service_pb2.ModelInferRequest(model_name=call.model, id=request_id, inputs=[t for t, _ in tensors],
                                             raw_input_contents=[raw for _, raw in tensors])

    def answer(self, index: int, response: service_pb2.ModelInferResponse, state: dict) -> Answer:
        # Streaming vLLM backends (24.12+) send the new text of each step in text_output.
        delta = _first_bytes(response, "text_output").decode("utf-8", "replace")
        state["text"] = state.get("text", "") + delta
        if not is_final(response):
            return Answer(index, delta=delta)
        text = state["text"]
        finish = ""
        if any(o.name == "finish_reason" for o in response.outputs):
            finish = _first_bytes(response, "finish_reason").decode()
        meta = {"finish_reason": finish}
        if state.get("structured"):
            try:
                return Answer(index, delta=delta, final=True, result=json.loads(text), meta=meta)
            except json.JSONDecodeError as exc:  # validated (and retried) like any other wrong answer
                return Answer(index, delta=delta, final=True, result=text,
                              meta={**meta, "parse_error": f"not JSON: {exc}"})
        return Answer(index, delta=delta, final=True, result={"content": text}, meta=meta)


PROTOCOLS = {"vlmgrpc": VlmgrpcProtocol(), "vllm": VllmProtocol()}
