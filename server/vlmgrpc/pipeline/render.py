"""A pool of processes for PDF work, so MuPDF never holds the server's GIL.

When a worker dies (a hostile PDF crashing MuPDF, the OOM killer), every call in flight on the pool fails with
BrokenProcessPool, and which document did it is unknown. Each of those calls is tried once more alone, in a
process of its own: the document that crashes that one too is INVALID_PDF; the others are answered as if
nothing happened. Faults of the server (out of memory, a missing input file) are INTERNAL, never the caller's."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import multiprocessing
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from vlmgrpc.errors import ServiceError, internal, invalid
from vlmgrpc.pipeline import documents

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In each worker: end when the server dies, even by SIGKILL (Linux), instead of lingering."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:  # not Linux: workers end when their pipe to the server closes
        pass


def _spawn_pool(workers: int) -> ProcessPoolExecutor:
    # spawn, not fork: forking a process that runs gRPC is unsafe (grpc/grpc#13873).
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_die_with_parent)


def _server_fault(exc: BaseException) -> ServiceError:
    return documents.server_fault(exc) or internal("RENDER_FAILED", f"the renderer failed: {type(exc).__name__}: {exc}")


class Renderer:
    def __init__(self, workers: int):
        self._workers = workers
        self._pool = _spawn_pool(workers)
        # Lone retries after a crash, each in a process of its own: no more of them at once than workers.
        self._isolated = asyncio.Semaphore(workers)

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """Replace the pool once per crash: every caller of the broken pool comes here, and only the first
        may replace it (a second replacement would shut down the new pool under the calls it already runs)."""
        if self._pool is broken:
            log.warning("a render worker died: starting a new pool")
            self._pool = _spawn_pool(self._workers)
        broken.shutdown(wait=False, cancel_futures=True)

    async def _call(self, fn, *args):
        pool = self._pool
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)
        except BrokenProcessPool:
            self._replace(pool)
        except (ServiceError, asyncio.CancelledError):
            raise
        except Exception as exc:  # MemoryError, OSError, a result that could not cross back
            raise _server_fault(exc) from None
        return await self._alone(fn, *args)

    async def _alone(self, fn, *args):
        """The call again, in a process of its own: a crash there is this document's doing."""
        async with self._isolated:
            pool = _spawn_pool(1)
            try:
                return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)
            except BrokenProcessPool:
                raise invalid("INVALID_PDF", "the PDF crashed the renderer") from None
            except (ServiceError, asyncio.CancelledError):
                raise
            except Exception as exc:
                raise _server_fault(exc) from None
            finally:
                pool.shutdown(wait=False, cancel_futures=True)

    async def inspect(self, path: str, max_pages: int, field_path: str) -> int:
        return await self._call(documents.inspect_pdf, path, max_pages, field_path)

    async def render(self, path: str, index: int, dpi: int, max_pixels: int, text: bool = True) -> tuple[bytes, str]:
        return await self._call(documents.render_page, path, index, dpi, max_pixels, text)

    async def warm_up(self) -> None:
        # Start the worker processes now, with MuPDF imported (~0.2 s each), not on the first document.
        await asyncio.gather(*(self._call(documents.ready) for _ in range(self._workers)))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
