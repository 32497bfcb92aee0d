"""A decoupled python-backend model that answers page by page: one JSON RESPONSE per input image.

The engine (`engine` parameter) serves a fixed set of domains and is called once per decoded page. The
`ocr` model runs it with the OCR engine; the benchmarks load it with the trivial `echo` engine.
Contract: triton_models/README.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

import triton_python_backend_utils as pb_utils
from PIL import Image

from vlm_engines import requests as req
from vlm_engines.requests import FINAL, RequestError

DEFAULT_MAX_IMAGE_PIXELS = 50_000_000


# What an engine answers: the `result`, or (result, facts) where facts (the page's size as read, timings)
# ride beside the result and win over the size of the image as sent (a page turned upright swaps them).
Answer = dict[str, Any] | tuple[dict[str, Any], dict[str, Any]]


class PageEngine(Protocol):
    DOMAINS: tuple[str, ...]

    def __init__(self, params: dict[str, str]) -> None: ...

    def run(self, image: Image.Image, domain: str, config: dict[str, Any], text_hint: str) -> Answer:
        """Answer one RGB page; raise RequestError for bad per-request input."""
        ...


class DocumentEngine(PageEngine, Protocol):
    """An engine that also answers some domains (DOCUMENT_DOMAINS) once for all pages of a request."""

    DOCUMENT_DOMAINS: tuple[str, ...]

    def run_document(self, images: list[Image.Image], domain: str, config: dict[str, Any],
                     hints: list[str], cancelled: Callable[[], bool]) -> Answer: ...


def _split(answer: Answer) -> tuple[dict[str, Any], dict[str, Any]]:
    return answer if isinstance(answer, tuple) else (answer, {})


def _engine_class(name: str) -> type[PageEngine]:
    # Imported on demand: each engine's heavy libraries load only in the model that uses it.
    if name == "ocr":
        from vlm_engines.ocr import OcrEngine

        return OcrEngine
    if name == "document":
        from vlm_engines.document import DocumentEngine

        return DocumentEngine
    if name == "echo":
        from vlm_engines.echo import EchoEngine

        return EchoEngine
    if name == "detector":
        from vlm_engines.detection import DetectorEngine

        return DetectorEngine
    raise ValueError(f"unknown engine {name!r}; known engines: document, ocr, echo, detector")


class PageModel:
    def initialize(self, args: dict[str, str]) -> None:
        params = req.parameters(args)
        name = params.get("engine", "ocr")
        engine_cls = _engine_class(name)
        domains = tuple(d.strip() for d in params.get("domains", "").split(",") if d.strip())
        # The service learns what is served from this parameter, so it must match the engine exactly.
        if set(domains) != set(engine_cls.DOMAINS):
            raise ValueError(
                f"parameter domains={','.join(domains)!r} disagrees with engine {name!r}, "
                f"which serves {','.join(engine_cls.DOMAINS)!r}"
            )
        Image.MAX_IMAGE_PIXELS = int(params.get("max_image_pixels") or DEFAULT_MAX_IMAGE_PIXELS)
        self.model_name = args.get("model_name", name)
        self.engine_name = name
        self.domains = domains
        started = time.monotonic()
        self.engine = engine_cls(params)
        pb_utils.Logger.log_info(f"{self.model_name}: engine {name!r} loaded in "
                                 f"{time.monotonic() - started:.2f}s, domains {','.join(domains)}")

    def execute(self, requests: list) -> None:
        # Requests are served one after another: a single CPU instance gains nothing from overlapping them.
        for request in requests:
            sender = request.get_response_sender()
            try:
                self._serve(request, sender)
            except RequestError as e:
                req.send_error(sender, str(e), e.code)
            except Exception as e:  # noqa: BLE001 - anything escaping execute() would become a bare INTERNAL
                pb_utils.Logger.log_error(f"{self.model_name}: engine error: {e!r}")
                req.send_error(sender, f"ENGINE_ERROR: {type(e).__name__}: {e}", "INTERNAL")

    def _serve(self, request, sender) -> None:
        domain = req.one_string(request, "DOMAIN", required=True)
        if domain not in self.domains:
            raise RequestError(
                "DOMAIN_NOT_SERVED",
                f"domain {domain!r} is not served by engine {self.engine_name!r}; it serves {', '.join(self.domains)}",
                "UNSUPPORTED",
            )
        # Reject unreadable headers and oversized images before spending engine time on earlier pages.
        opened = req.images(request)
        config = req.parse_config(req.one_string(request, "CONFIG"), req.one_string(request, "PROMPT"))
        hints = req.text_hints(request, len(opened))
        if domain in getattr(self.engine, "DOCUMENT_DOMAINS", ()):
            self._serve_document(request, sender, domain, config, opened, hints)
            return
        for i, img in enumerate(opened):
            if request.is_cancelled():
                pb_utils.Logger.log_info(f"{self.model_name}: request cancelled after {i} of {len(opened)} images")
                raise RequestError("CANCELLED", f"request cancelled after {i} of {len(opened)} images", "CANCELLED")
            page = req.load_rgb(img, i)
            result, facts = _split(self.engine.run(page, domain, config, hints[i]))
            body = {"width": page.width, "height": page.height, **facts, "index": i, "result": result}
            # FINAL rides on the last data response: aio clients never see a flags-only final.
            sender.send(req.response(body), flags=FINAL if i == len(opened) - 1 else 0)

    def _serve_document(self, request, sender, domain, config, opened, hints) -> None:
        """One answer for every page together (a structured domain)."""
        pages = []
        for i, img in enumerate(opened):
            if request.is_cancelled():
                raise RequestError("CANCELLED", f"request cancelled after reading {i} of {len(opened)} images",
                                   "CANCELLED")
            pages.append(req.load_rgb(img, i))
        result, facts = _split(self.engine.run_document(pages, domain, config, hints, request.is_cancelled))
        sender.send(req.response({**facts, "index": 0, "result": result}), flags=FINAL)

    def finalize(self) -> None:
        self.engine = None
