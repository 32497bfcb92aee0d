"""Batched generation for any local Hugging Face image-text-to-text checkpoint.

`Engine.run(jobs)` serves the requests Triton handed to one execute() call with ONE `generate()`: prompts
padded on the left, per-row temperature, token budget, JSON grammar (xgrammar), cancellation and streaming,
all done per row by `_Rows`, which is both the logits processor and the stopping criterion of that call.
"""

from __future__ import annotations

import json
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import xgrammar as xgr
from PIL import Image
from transformers import (
    AutoImageProcessor,
    AutoModelForImageTextToText,
    AutoProcessor,
    AutoTokenizer,
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
)
from transformers.utils import logging as hf_logging

from . import schema as schemas
from .requests import Request, RequestError, decode_image

FLUSH_S = 0.05  # at most one delta message per request per 50 ms
CANCEL_EVERY = 4  # tokens between two is_cancelled() checks of a row (each is an IPC round trip)
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# Closing mode, outside a JSON string: stop token, then `]`/`}`, then `,` (only when a required key or
# minItems forces it), then the shortest values (`"`, `0`, `null`), then anything the grammar allows.
_CLOSERS, _COMMA, _SHORT = set(b"]}"), set(b",]}"), (b'"', b'""', b"0", b"n", b"nu", b"nul", b"null")

Log = Callable[[str, str], None]  # (level, message); level is info|warn|error


@dataclass
class EngineOptions:
    """The model's config.pbtxt parameters (all strings there)."""

    model_path: str = ""
    device: str = "auto"  # cpu | cuda | auto
    dtype: str = "auto"  # auto | float32 | bfloat16 | float16
    max_images: int = 16
    max_new_tokens: int = 2048
    json_max_string_length: int = 1024  # 0: strings unbounded (xgrammar then allows escapes in them)
    json_max_items: int = 128
    json_max_abs_number: float = 1e15
    grammar_cache_size: int = 64
    max_image_pixels: int = 50_000_000
    domains: tuple[str, ...] = ("*",)
    instance_kind: str = "CPU"  # from Triton: CPU | GPU | MODEL
    device_id: int = 0

    @classmethod
    def from_params(cls, params: dict[str, str], **extra: Any) -> EngineOptions:
        opts = cls(**extra)
        for f in fields(cls):
            raw = params.get(f.name, "").strip()
            if not raw or f.name in extra:
                continue
            try:
                value = tuple(d.strip() for d in raw.split(",") if d.strip()) if f.name == "domains" else (
                    type(getattr(opts, f.name))(float(raw) if f.type in ("int", "float") else raw))
            except ValueError:
                raise ValueError(f"parameter {f.name}={raw!r} is not a valid {f.type}") from None
            setattr(opts, f.name, value)
        # "$VLM_MODEL_PATH" style values come from the environment: one config.pbtxt serves any mounted checkpoint.
        opts.model_path = os.path.expandvars(opts.model_path)
        if not opts.model_path or opts.model_path.startswith("$"):
            raise ValueError(f"parameter model_path is {opts.model_path or 'empty'}: set it (or the environment "
                             "variable it names) to a local checkpoint directory")
        if opts.device not in ("cpu", "cuda", "auto"):
            raise ValueError(f"parameter device={opts.device!r}: use cpu, cuda or auto")
        if opts.dtype not in ("auto", *DTYPES):
            raise ValueError(f"parameter dtype={opts.dtype!r}: use auto, {', '.join(DTYPES)}")
        if opts.max_images < 1 or opts.max_new_tokens < 1:
            raise ValueError("parameters max_images and max_new_tokens must be >= 1")
        return opts


@dataclass
class Job:
    """One request and how to answer it (the Triton side supplies the callables)."""

    request: Request
    send: Callable[[dict, bool], None]  # (message, final)
    fail: Callable[[RequestError], None]  # sends the error as the final response
    is_cancelled: Callable[[], bool]


@dataclass
class _Row:
    job: Job
    images: list[Image.Image]
    prompt: str
    max_tokens: int
    temperature: float
    grammar: xgr.CompiledGrammar | None = None
    reserve: int = 0  # tokens kept for closing the JSON document
    matcher: xgr.GrammarMatcher | None = None
    ids: list[int] = field(default_factory=list)
    prompt_tokens: int = 0
    sent: str = ""
    done: bool = False
    finish: str = "stop"
    forced: bool = False  # closing mode was used: the budget, not the model, ended the answer
    cancelled: bool = False
    error: RequestError | None = None
    in_string: bool = False
    escape: bool = False
    after_ed: bool = False  # the last byte was 0xED: the next must not start a UTF-16 surrogate
    last_flush: float = 0.0
    unchecked: int = 0


class Engine:
    def __init__(self, opts: EngineOptions, log: Log | None = None) -> None:
        self.opts = opts
        self.log = log or (lambda level, msg: print(f"[{level}] {msg}"))
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        Image.MAX_IMAGE_PIXELS = opts.max_image_pixels
        path = Path(opts.model_path)
        if not path.is_dir():
            raise ValueError(f"model_path {str(path)!r} is not a directory (only local checkpoints are loaded)")
        self.device = self._device()
        dtype = DTYPES.get(opts.dtype) or (torch.float32 if self.device.type == "cpu" else "auto")
        started = time.monotonic()
        self.model = AutoModelForImageTextToText.from_pretrained(path, local_files_only=True, dtype=dtype)
        self.model.to(self.device).eval()
        self.dtype = next(self.model.parameters()).dtype
        self._load_processor(path)
        self.tokenizer.padding_side = "left"  # batched generate: every prompt ends at the last column
        gen = self.model.generation_config
        eos = gen.eos_token_id if isinstance(gen.eos_token_id, list) else [gen.eos_token_id]
        self.stop_ids = sorted({i for i in [*eos, self.tokenizer.eos_token_id] if isinstance(i, int)})
        if not self.stop_ids:
            raise ValueError("the checkpoint defines no eos token (generation_config.json or tokenizer)")
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.stop_ids[0]
        # Sampling is set per request: drop the checkpoint's defaults (top_k, repetition_penalty, ...).
        self.model.generation_config = GenerationConfig(eos_token_id=self.stop_ids, pad_token_id=self.pad_id)
        self._token_tables()
        self._grammars: OrderedDict[str, tuple[xgr.CompiledGrammar, int]] = OrderedDict()
        self._warm_up()
        self.log("info", f"transformers: loaded {type(self.model).__name__} from {path} on {self.device} "
                         f"({self.dtype}, {'processor' if self.processor else 'image processor + tokenizer'}) "
                         f"in {time.monotonic() - started:.1f}s")

    # ----- loading -----------------------------------------------------------------------------------------

    def _device(self) -> torch.device:
        gpu_instance = self.opts.instance_kind == "GPU"
        want = self.opts.device
        if want == "cpu" and not gpu_instance:
            return torch.device("cpu")
        if want == "cuda" or gpu_instance or torch.cuda.is_available():
            if not torch.cuda.is_available():
                raise ValueError("device=cuda (or a KIND_GPU instance) but torch sees no CUDA device")
            return torch.device(f"cuda:{self.opts.device_id if gpu_instance else 0}")
        return torch.device("cpu")

    def _load_processor(self, path: Path) -> None:
        self.processor = None
        try:
            proc = AutoProcessor.from_pretrained(path, local_files_only=True)
            if hasattr(proc, "image_processor") and hasattr(proc, "tokenizer"):
                self.processor, self.tokenizer = proc, proc.tokenizer
                return
        except Exception as e:  # noqa: BLE001 - e.g. Qwen2-VL/SmolVLM processors need torchvision for video
            self.log("info", f"transformers: AutoProcessor unusable ({type(e).__name__}: {str(e).strip()[:200]}); "
                             "using AutoImageProcessor + AutoTokenizer")
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.image_processor = AutoImageProcessor.from_pretrained(path, local_files_only=True)
        if not self.tokenizer.chat_template:
            for name in ("chat_template.jinja", "chat_template.json"):
                if (path / name).is_file():
                    raw = (path / name).read_text()
                    self.tokenizer.chat_template = json.loads(raw)["chat_template"] if name.endswith("json") else raw
                    break
        config = self.model.config
        if config.model_type in ("smolvlm", "idefics3"):
            # SmolVLM2's processor differs from Idefics3's only by video support: use Idefics3's.
            from transformers import Idefics3Processor

            saved = path / "processor_config.json"
            seq_len = json.loads(saved.read_text()).get("image_seq_len") if saved.is_file() else None
            self.processor = Idefics3Processor(self.image_processor, self.tokenizer, image_seq_len=seq_len or 169,
                                               chat_template=self.tokenizer.chat_template)
            return
        image_id = getattr(config, "image_token_id", None) or getattr(config, "image_token_index", None)
        if image_id is None:
            raise ValueError("no processor and no image_token_id in config.json: cannot place image tokens")
        self.image_token = self.tokenizer.convert_ids_to_tokens(image_id)
        self.image_seq_length = getattr(config, "image_seq_length", None)

    def _token_tables(self) -> None:
        """Per-token masks for the grammar rows, built once from the vocabulary's bytes."""
        head = self.model.get_output_embeddings()
        vocab = head.weight.shape[0] if head is not None else self.model.config.get_text_config().vocab_size
        self.vocab = vocab
        self.tokenizer_info = xgr.TokenizerInfo.from_huggingface(self.tokenizer, vocab_size=vocab,
                                                                 stop_token_ids=self.stop_ids)
        self.compiler = xgr.GrammarCompiler(self.tokenizer_info)
        self.token_bytes = list(self.tokenizer_info.decoded_vocab)[:vocab]
        self.token_bytes += [b""] * (vocab - len(self.token_bytes))
        special = set(self.tokenizer.all_special_ids) | {
            i for i, t in self.tokenizer.added_tokens_decoder.items() if t.special}
        special |= set(range(len(self.tokenizer), vocab))  # lm_head padding rows
        special -= set(self.stop_ids)
        ban_free = torch.zeros(vocab, dtype=torch.bool)
        ban_free[sorted(i for i in special if i < vocab)] = True
        # xgrammar 0.2.8 lets bounded strings hold raw control bytes (invalid JSON), accepts UTF-8-encoded
        # surrogates (ED A0..BF ..: Python decodes them as 3 U+FFFD, breaking maxLength) and may treat added
        # tokens (<image>, ...) as text: JSON rows never get any of these.
        ban_json = ban_free.clone()
        surrogate_tail = torch.zeros(vocab, dtype=torch.bool)
        prio_out = torch.full((vocab,), 4, dtype=torch.int8)
        prio_in = torch.ones(vocab, dtype=torch.int8)
        for i, b in enumerate(self.token_bytes):
            if i in self.stop_ids:
                prio_out[i] = 0
                continue
            surrogate_tail[i] = bool(b) and 0xA0 <= b[0] <= 0xBF
            if not b or any(c < 0x20 for c in b) or any(
                    x == 0xED and 0xA0 <= y <= 0xBF for x, y in zip(b, b[1:], strict=False)):
                ban_json[i] = True
            elif set(b) <= _CLOSERS:
                prio_out[i] = 1
            elif set(b) <= _COMMA:
                prio_out[i] = 2
            elif b in _SHORT:
                prio_out[i] = 3
            if b.startswith(b'"'):
                prio_in[i] = 0  # inside a string only a quote closes it
        self.ban_free, self.ban_json = ban_free.to(self.device), ban_json.to(self.device)
        self.prio_out, self.prio_in = prio_out.to(self.device), prio_in.to(self.device)
        self.surrogate_tail = surrogate_tail.to(self.device)

    def _warm_up(self) -> None:
        """One tiny request through the whole path: a broken checkpoint fails the load, not the first user."""
        row = _Row(job=None, images=[Image.new("RGB", (64, 64), "white")], prompt=self._chat(1, "Describe it."),
                   max_tokens=1, temperature=0.0)
        inputs = self._encode([row])
        with torch.inference_mode():
            self.model.generate(**inputs, max_new_tokens=1, do_sample=False)

    # ----- per request -------------------------------------------------------------------------------------

    def grammar(self, json_schema: dict) -> tuple[xgr.CompiledGrammar, int]:
        """Compiled grammar and closing reserve (tokens) for a schema; LRU-cached by the schema's text."""
        key = json.dumps(json_schema, sort_keys=True, separators=(",", ":"))
        if key in self._grammars:
            self._grammars.move_to_end(key)
            return self._grammars[key]
        o = self.opts
        safe = schemas.bounded(json_schema, o.json_max_string_length, o.json_max_items, o.json_max_abs_number)
        try:
            compiled = self.compiler.compile_json_schema(json.dumps(safe), any_whitespace=False,
                                                         separators=(",", ":"), strict_mode=True)
        except Exception as e:  # noqa: BLE001 - xgrammar raises RuntimeError/ValueError for unsupported schemas
            raise RequestError("INVALID_CONFIG", f"json_schema cannot be compiled: {str(e).strip()[:300]}") from None
        entry = (compiled, schemas.close_reserve(safe) + 1)  # + the stop token
        self._grammars[key] = entry
        while len(self._grammars) > o.grammar_cache_size:
            self._grammars.popitem(last=False)
        return entry

    def _chat(self, n_images: int, prompt: str) -> str:
        content = [{"type": "image"} for _ in range(n_images)] + [{"type": "text", "text": prompt}]
        messages = [{"role": "user", "content": content}]
        owner = self.processor or self.tokenizer
        return owner.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def _prepare(self, job: Job) -> _Row:
        req = job.request
        if job.is_cancelled():
            raise RequestError("CANCELLED", "request cancelled before generation", "CANCELLED")
        images = [decode_image(data, i) for i, data in enumerate(req.images)]
        prompt = req.prompt if req.templated else self._chat(len(images), req.prompt)
        row = _Row(job=job, images=images, prompt=prompt,
                   max_tokens=min(req.max_tokens or self.opts.max_new_tokens, self.opts.max_new_tokens),
                   temperature=req.temperature)
        if req.json_schema is not None:
            row.grammar, row.reserve = self.grammar(req.json_schema)
        return row

    def _encode(self, rows: list[_Row]):
        texts = [r.prompt for r in rows]
        if self.processor is not None:
            inputs = self.processor(text=texts, images=[r.images for r in rows], padding=True, return_tensors="pt")
        else:
            inputs = self._encode_by_hand(rows, texts)
        inputs = inputs.to(self.device)
        for key, value in inputs.items():
            if torch.is_tensor(value) and value.is_floating_point():
                inputs[key] = value.to(self.dtype)
        return inputs

    def _encode_by_hand(self, rows: list[_Row], texts: list[str]):
        """No usable processor: image processor + tokenizer, each image placeholder expanded to its tokens."""
        feats = self.image_processor(images=[im for r in rows for im in r.images], return_tensors="pt")
        if "image_grid_thw" in feats:  # Qwen2/2.5-VL: one token per merge_size^2 patches
            merge = getattr(self.image_processor, "merge_size", 2) ** 2
            counts = [int(g.prod()) // merge for g in feats["image_grid_thw"]]
        elif self.image_seq_length:
            counts = [int(self.image_seq_length)] * sum(len(r.images) for r in rows)
        else:
            raise RequestError("ENGINE_ERROR", "cannot tell how many image tokens this model needs", "INTERNAL")
        expanded, k = [], 0
        for text, row in zip(texts, rows, strict=True):
            parts = text.split(self.image_token)
            if len(parts) - 1 != len(row.images):
                raise RequestError("ENGINE_ERROR", f"the chat template wrote {len(parts) - 1} image placeholders "
                                   f"({self.image_token}) for {len(row.images)} images", "INTERNAL")
            out = parts[0]
            for part in parts[1:]:
                out += self.image_token * counts[k] + part
                k += 1
            expanded.append(out)
        inputs = self.tokenizer(expanded, padding=True, return_tensors="pt")
        inputs.update(feats)
        return inputs

    # ----- a batch -----------------------------------------------------------------------------------------

    def run(self, jobs: list[Job]) -> None:
        """Answer every job: deltas, then a final message or an error (each job exactly one final)."""
        rows = []
        for job in jobs:
            try:
                rows.append(self._prepare(job))
            except RequestError as e:
                job.fail(e)
        if not rows:
            return
        try:
            inputs = self._encode(rows)
        except Exception as e:  # noqa: BLE001 - one request may break the batch: the others must go on
            if len(rows) > 1:
                for row in rows:
                    self.run([row.job])  # one by one, so the failure lands on the request that caused it
                return
            if not isinstance(e, RequestError):
                e = RequestError("ENGINE_ERROR", f"preparing the model inputs failed: {type(e).__name__}: {e}",
                                 "INTERNAL")
            return rows[0].job.fail(e)
        self._generate(rows, inputs)

    def _generate(self, rows: list[_Row], inputs) -> None:
        mask = inputs["attention_mask"]
        for i, row in enumerate(rows):
            row.prompt_tokens = int(mask[i].sum())
            row.matcher = xgr.GrammarMatcher(row.grammar) if row.grammar is not None else None
        control = _Rows(self, rows)
        config = GenerationConfig(
            max_new_tokens=max(r.max_tokens for r in rows), do_sample=any(r.temperature > 0 for r in rows),
            temperature=1.0, top_k=0, top_p=1.0, repetition_penalty=1.0, num_beams=1,  # per row in _Rows
            eos_token_id=self.stop_ids, pad_token_id=self.pad_id)
        started = time.monotonic()
        try:
            with torch.inference_mode():
                self.model.generate(**inputs, generation_config=config, logits_processor=LogitsProcessorList(
                    [control.mask]), stopping_criteria=StoppingCriteriaList([control.stop]))
        except Exception as e:  # noqa: BLE001 - e.g. out of memory: the rows not answered yet fail
            self.log("error", f"transformers: generate failed for {len(rows)} rows: {e!r}")
            for row in rows:
                if not row.done:
                    row.done, row.error = True, RequestError("ENGINE_ERROR", f"{type(e).__name__}: {e}", "INTERNAL")
                    self._finish(row, len(rows))
            return
        for row in rows:  # normally all finished inside generate; budget exhausted on the last step
            if not row.done:
                row.done, row.finish = True, "length"
                self._finish(row, len(rows))
        elapsed = time.monotonic() - started
        total = sum(len(r.ids) for r in rows)
        self.log("info", f"transformers: generate batch={len(rows)} tokens={total} in {elapsed:.2f}s "
                         f"({total / max(elapsed, 1e-6):.0f} tok/s; {control.cancel_checks} cancel checks, "
                         f"{control.cancel_check_s * 1e3:.1f} ms)")

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def _flush(self, row: _Row, now: float, final: bool = False) -> None:
        row.last_flush = now
        text = self._decode(row.ids)
        if not final:
            text = text.rstrip("\ufffd")  # a multi-byte character still incomplete
        if text.startswith(row.sent) and len(text) > len(row.sent):
            row.job.send({"index": 0, "delta": text[len(row.sent):]}, False)
            row.sent = text

    def _finish(self, row: _Row, batch_size: int) -> None:
        job, n = row.job, len(row.ids)
        if row.cancelled:
            self.log("info", f"transformers: request cancelled after {n} of max {row.max_tokens} tokens")
            return job.fail(RequestError("CANCELLED", f"request cancelled after {n} tokens", "CANCELLED"))
        if row.error is not None:
            return job.fail(row.error)
        self._flush(row, time.monotonic(), final=True)
        text = row.sent
        if row.matcher is not None:
            if not row.matcher.is_completed():
                return job.fail(RequestError("TRUNCATED", f"the JSON answer was not complete after "
                                             f"max_tokens={row.max_tokens} tokens", "INTERNAL"))
            try:
                result = json.loads(text)
            except json.JSONDecodeError as e:
                return job.fail(RequestError("ENGINE_ERROR", f"constrained output is not JSON ({e})", "INTERNAL"))
        else:
            result = {"content": text}
        size = {"width": row.images[0].width, "height": row.images[0].height} if row.images else {}
        job.send({"index": 0, "result": result, "text": text, **size,
                  "finish_reason": "length" if row.finish == "length" or row.forced else "stop",
                  "usage": {"prompt_tokens": row.prompt_tokens, "completion_tokens": n},
                  "batch_size": batch_size}, True)


class _Rows:
    """Per-row state of one generate(): `mask` is its logits processor, `stop` its stopping criterion."""

    def __init__(self, engine: Engine, rows: list[_Row]) -> None:
        self.engine, self.rows = engine, rows
        self.bitmask = xgr.allocate_token_bitmask(len(rows), engine.vocab)
        self.backend = "cpu" if engine.device.type == "cpu" else "torch_native"  # no OpenAI triton needed
        self.sampling = any(r.temperature > 0 for r in rows)
        self.mask, self.stop = _Mask(self), _Stop(self)
        self.cancel_checks, self.cancel_check_s = 0, 0.0

    def apply(self, scores: torch.Tensor) -> torch.Tensor:
        e = self.engine
        json_rows = [i for i, r in enumerate(self.rows) if not r.done and r.matcher is not None]
        for i in json_rows:
            self.rows[i].matcher.fill_next_token_bitmask(self.bitmask, i)
        if json_rows:
            xgr.apply_token_bitmask_inplace(scores, self.bitmask.to(scores.device), vocab_size=e.vocab,
                                            indices=json_rows, backend=self.backend)
        for i, row in enumerate(self.rows):
            if row.done:
                continue
            s = scores[i, : e.vocab]
            s.masked_fill_(e.ban_json if row.matcher is not None else e.ban_free, float("-inf"))
            if row.after_ed and row.matcher is not None:
                s.masked_fill_(e.surrogate_tail, float("-inf"))
            if row.matcher is not None and row.max_tokens - len(row.ids) <= row.reserve:
                row.forced = True  # closing mode: only the best class of allowed tokens stays
                prio = (e.prio_in if row.in_string else e.prio_out).masked_fill(torch.isinf(s), 127)
                s.masked_fill_(prio != prio.min(), float("-inf"))
            if row.temperature > 0:
                s.div_(row.temperature)
            elif self.sampling:  # a greedy row in a sampling batch: only its argmax can be drawn
                best = s.argmax()
                keep = s[best].clone()
                s.fill_(float("-inf"))
                s[best] = keep
        return scores

    def step(self, input_ids: torch.Tensor) -> torch.Tensor:
        e, now = self.engine, time.monotonic()
        tokens = input_ids[:, -1].tolist()
        for i, row in enumerate(self.rows):
            if row.done:
                continue
            token = tokens[i]
            row.ids.append(token)
            if row.matcher is not None:
                if not row.matcher.accept_token(token):
                    row.error = RequestError("ENGINE_ERROR", f"grammar rejected token {token}", "INTERNAL")
                data = e.token_bytes[token] if token < len(e.token_bytes) else b""
                self._track_string(row, data)
                row.after_ed = data[-1:] == b"\xed"
            if row.error is not None or token in e.stop_ids:
                row.done = True
            elif len(row.ids) >= row.max_tokens:
                row.done, row.finish = True, "length"
            row.unchecked += 1
            if not row.done and row.unchecked >= CANCEL_EVERY:
                row.unchecked = 0
                checked = time.perf_counter()
                row.cancelled = row.done = bool(row.job.is_cancelled())
                self.cancel_checks += 1
                self.cancel_check_s += time.perf_counter() - checked
            if row.done:
                e._finish(row, len(self.rows))
            elif now - row.last_flush >= FLUSH_S:
                e._flush(row, now)
        return torch.tensor([r.done for r in self.rows], dtype=torch.bool, device=input_ids.device)

    @staticmethod
    def _track_string(row: _Row, data: bytes) -> None:
        """Whether the JSON text so far ends inside a string (for closing mode)."""
        for c in data:
            if row.escape:
                row.escape = False
            elif row.in_string and c == 0x5C:  # backslash
                row.escape = True
            elif c == 0x22:  # quote
                row.in_string = not row.in_string


class _Mask(LogitsProcessor):
    def __init__(self, rows: _Rows) -> None:
        self.rows = rows

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        return self.rows.apply(scores)


class _Stop(StoppingCriteria):
    def __init__(self, rows: _Rows) -> None:
        self.rows = rows

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        return self.rows.step(input_ids)
