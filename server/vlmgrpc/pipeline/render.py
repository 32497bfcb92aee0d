"""A pool of processes for PDF work, so MuPDF never holds the server's GIL."""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from vlmgrpc.errors import ServiceError, invalid
from vlmgrpc.pipeline import documents

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In each worker: end when the server dies, even by SIGKILL (Linux), instead of lingering."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:  # not Linux: workers end when their pipe to the server closes
        pass


class Renderer:
    def __init__(self, workers: int):
        self._workers = workers
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn, not fork: forking a process that runs gRPC is unsafe (grpc/grpc#13873).
        return ProcessPoolExecutor(self._workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_die_with_parent)

    async def _call(self, fn, *args):
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        except BrokenProcessPool:
            # A hostile document crashed a worker: replace the pool, blame the document.
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            raise invalid("INVALID_PDF", "the PDF crashed the renderer") from None
        except (ServiceError, asyncio.CancelledError):
            raise
        except Exception as exc:  # e.g. an error that could not be sent back from the worker
            raise invalid("INVALID_PDF", f"the renderer failed on this PDF: {type(exc).__name__}: {exc}") from None

    async def inspect(self, path: str, max_pages: int, field_path: str) -> int:
        return await self._call(documents.inspect_pdf, path, max_pages, field_path)

    async def render(self, path: str, index: int, dpi: int, max_pixels: int, text: bool = True) -> tuple[bytes, str]:
        return await self._call(documents.render_page, path, index, dpi, max_pixels, text)

    async def warm_up(self) -> None:
        # Start the worker processes now, with MuPDF imported (~0.2 s each), not on the first document.
        await asyncio.gather(*(self._call(documents.ready) for _ in range(self._workers)))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
