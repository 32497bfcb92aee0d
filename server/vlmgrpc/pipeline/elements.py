"""Elements are what the model sees: one image, or one rendered page with its text layer."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path

from vlmgrpc.pipeline import fetch
from vlmgrpc.pipeline.images import check_image
from vlmgrpc.pipeline.render import Renderer
from vlmgrpc.settings import Settings


@dataclass(frozen=True)
class Element:
    """One request to the model: usually one image or page; every page of a document when the domain
    is answered as one object (a structured domain)."""

    index: int
    images: tuple[bytes, ...]
    text_hints: tuple[str, ...] = ()

    @classmethod
    def one(cls, index: int, image: bytes, text_hint: str = "") -> Element:
        return cls(index, (image,), (text_hint,))


@dataclass(frozen=True)
class ImageSource:
    index: int
    path: Path | None = None  # accepted bytes, already checked at submission
    url: str | None = None  # fetched and checked now
    data: bytes | None = None  # the accepted bytes, when still in memory


async def image_elements(sources: Iterable[ImageSource], settings: Settings) -> AsyncIterator[Element]:
    for src in sources:
        field_path = f"images[{src.index}].url"
        if src.data is not None:
            data = src.data
        elif src.path is not None:
            data = await asyncio.to_thread(src.path.read_bytes)
        else:
            data = await fetch.fetch(src.url or "", max_bytes=settings.max_image_bytes,
                                     timeout_s=settings.url_fetch_timeout_s,
                                     allow_private=settings.allow_private_urls, field_path=field_path)
            await asyncio.to_thread(check_image, data, settings.max_image_pixels, field_path)
        yield Element.one(src.index, data)


async def page_elements(renderer: Renderer, path: Path, indices: Iterable[int], dpi: int, max_pixels: int,
                        text: bool, prefetch: int) -> AsyncIterator[Element]:
    """Render pages ahead of the consumer (at most `prefetch` waiting), so rendering page n+1
    overlaps the model's work on page n. A page is rendered at `dpi`, smaller when that exceeds `max_pixels`,
    with its text layer when `text`."""
    pending: deque[tuple[int, asyncio.Future]] = deque()
    try:
        for index in indices:
            pending.append((index, asyncio.ensure_future(
                renderer.render(str(path), index, dpi, max_pixels, text))))
            if len(pending) > prefetch:
                first, fut = pending.popleft()
                image, text = await fut
                yield Element.one(first, image, text)
        while pending:
            first, fut = pending.popleft()
            image, text = await fut
            yield Element.one(first, image, text)
    finally:
        for _, fut in pending:
            fut.cancel()
