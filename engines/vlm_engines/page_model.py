"""A decoupled python-backend model that answers page by page: one JSON RESPONSE per input image.

The engine (`engine` parameter) serves a fixed set of domains and is called once per decoded page. The
`ocr` model runs it with the OCR engine; the benchmarks load it with the trivial `echo` engine.
Contract: triton_models/README.md.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import triton_python_backend_utils as pb_utils
from PIL import Image

from vlm_engines import requests as req
from vlm_engines.requests import FINAL, RequestError

DEFAULT_MAX_IMAGE_PIXELS = 50_000_000


class PageEngine(Protocol):
    DOMAINS: tuple[str, ...]

    def __init__(self, params: dict[str, str]) -> None: ...

    def run(self, image: Image.Image, domain: str, config: dict[str, Any], text_hint: str) -> dict[str, Any]:
        """Return the `result` object for one RGB page; raise ValueError for bad per-request input."""
        ...


def _engine_class(name: str) -> type[PageEngine]:
    # Imported on demand: each engine's heavy libraries load only in the model that uses it.
    if name == "ocr":
        from vlm_engines.ocr import OcrEngine

        return OcrEngine
    if name == "echo":
        from vlm_engines.echo import EchoEngine

        return EchoEngine
    if name == "detector":
        from vlm_engines.detection import DetectorEngine

        return DetectorEngine
    raise ValueError(f"unknown engine {name!r}; known engines: ocr, echo, detector")


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
        for i, img in enumerate(opened):
            if request.is_cancelled():
                pb_utils.Logger.log_info(f"{self.model_name}: request cancelled after {i} of {len(opened)} images")
                raise RequestError("CANCELLED", f"request cancelled after {i} of {len(opened)} images", "CANCELLED")
            page = req.load_rgb(img, i)
            result = self.engine.run(page, domain, config, hints[i])
            body = {"index": i, "width": page.width, "height": page.height, "result": result}
            # FINAL rides on the last data response: aio clients never see a flags-only final.
            sender.send(req.response(body), flags=FINAL if i == len(opened) - 1 else 0)

    def finalize(self) -> None:
        self.engine = None
