"""A trivial engine: answers with the page's size and no model work. It measures the gateway and
Triton round trip in the benchmarks (bench/gateway.py), where it is loaded under its own model name."""

from __future__ import annotations

from typing import Any

from PIL import Image


class EchoEngine:
    DOMAINS = ("bench.echo",)

    def __init__(self, params: dict[str, str]) -> None:
        self.params = params

    def run(self, image: Image.Image, domain: str, config: dict[str, Any], text_hint: str) -> dict[str, Any]:
        return {"width": image.width, "height": image.height, "text_hint_chars": len(text_hint)}
