"""Engines behind the `vlm` Triton model.

An engine serves a fixed set of VLM Run domains. model.py picks one by the `engine` model parameter and
calls `run()` once per decoded page. Engines import their heavy libraries in `__init__`, so importing
this registry stays cheap whatever engines are listed.
"""

from typing import Any, Protocol

from PIL import Image

from .echo import EchoEngine
from .ocr import OcrEngine


class Engine(Protocol):
    DOMAINS: tuple[str, ...]

    def __init__(self, params: dict[str, str]) -> None: ...

    def run(self, image: Image.Image, domain: str, config: dict[str, Any], text_hint: str) -> dict[str, Any]:
        """Return the `result` object for one RGB page; raise ValueError for bad per-request input."""
        ...


ENGINES: dict[str, type[Engine]] = {"ocr": OcrEngine, "echo": EchoEngine}
