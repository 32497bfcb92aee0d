"""Office documents to PDF with LibreOffice (`soffice --convert-to pdf`), one sandboxed process per document:
a fresh profile, HOME and TMPDIR of its own (removed after), an address-space limit, no core dumps, its own
network namespace where the kernel allows one (a document's links cannot reach anything), and a wall-time limit
after which its whole process group is killed (and, should the server itself die, `timeout` kills it a little
later). At most `workers` run at once; none blocks the event loop.

Processes are started by subprocess.Popen in a thread, not asyncio.create_subprocess_exec: under uvloop that
fork()s, which runs gRPC's fork handlers in the child, and the child then crashed now and then (SIGSEGV in an
event_engine thread) before it could exec. Popen vfork()s: no handlers run."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from vlmgrpc.errors import failed_precondition, invalid
from vlmgrpc.pipeline import office

log = logging.getLogger(__name__)
# The shell applies the limits, then becomes soffice: preexec_fn would do the same but is unsafe with the
# gRPC server's threads running. ulimit -v is in KiB.
_LIMITS = 'ulimit -v "$1" && ulimit -c 0 && shift && exec "$@"'
_NOISE = ("javaldx", "java may not function")  # printed on every run where no Java is installed
OUTPUT_TAIL = 400  # characters of LibreOffice's output quoted in an error
ORPHAN_GRACE_S = 5  # coreutils `timeout` kills the group this long after our own limit: only if we are gone


class OfficeConverter:
    def __init__(self, soffice: str, timeout_s: float, memory_bytes: int, workers: int, isolate_network: bool):
        self.soffice, self.timeout_s, self.memory_bytes = soffice, timeout_s, memory_bytes
        self._slots = asyncio.Semaphore(workers)
        self._isolate = isolate_network
        self._netns: list[str] | None = None  # the unshare prefix, once probed ([] when unavailable)
        self._probing = asyncio.Lock()

    def available(self) -> str | None:
        """The soffice executable, or None when it is not installed."""
        return shutil.which(self.soffice)

    async def to_pdf(self, path: Path, where: str) -> str | None:
        """If the stored bytes at `path` are an Office document, replace them with its PDF and return the original
        media type; None when they are not an Office document. Bad documents raise INVALID_ARGUMENT."""
        found, binary = await asyncio.to_thread(lambda: (office.inspect_path(path), self.available()))
        if found is None:
            return None
        office.refuse(found, where)
        if binary is None:
            raise failed_precondition("OFFICE_CONVERTER_MISSING", "this server cannot read Office documents: "
                                      f"LibreOffice ({self.soffice!r}) is not installed; send a PDF",
                                      detected=found.media)
        prefix = await self._network_prefix()
        async with self._slots:
            work = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix=".office-", dir=path.parent))
            try:
                pdf = await self._convert(prefix, binary, path, found, work, where)
                await asyncio.to_thread(os.replace, pdf, path)  # same directory: a rename, never half a file
            finally:
                await asyncio.to_thread(shutil.rmtree, work, True)
        return found.media

    async def _convert(self, prefix: list[str], binary: str, path: Path, found: office.Found, work: Path,
                       where: str) -> Path:
        source = work / f"document.{found.ext}"  # LibreOffice picks its import filter by the extension first
        await asyncio.to_thread(_prepare, path, source, work)
        # Without --foreground, timeout leads the group and kills all of it: a guard that outlives this server.
        guard = ["timeout", "--signal=KILL", f"{self.timeout_s + ORPHAN_GRACE_S:g}"]
        argv = [*prefix, *guard, "/bin/sh", "-c", _LIMITS, "sh", str(max(1, self.memory_bytes // 1024)), binary,
                f"-env:UserInstallation={(work / 'profile').as_uri()}", "--headless", "--invisible", "--norestore",
                "--nolockcheck", "--nodefault", "--nologo", "--convert-to", "pdf", "--outdir", str(work / "out"),
                str(source)]
        env = {"HOME": str(work / "home"), "TMPDIR": str(work / "tmp"), "PATH": "/usr/local/bin:/usr/bin:/bin",
               "LANG": "C.UTF-8", "SAL_USE_VCLPLUGIN": "svp"}
        proc = await asyncio.to_thread(subprocess.Popen, argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, env=env, cwd=work, start_new_session=True)
        try:
            async with asyncio.timeout(self.timeout_s):
                # Abandoned on timeout, the thread returns once the group is killed (its pipe closes).
                output, _ = await asyncio.to_thread(proc.communicate)
        except TimeoutError:
            raise invalid("OFFICE_CONVERSION_TIMEOUT", f"converting the document to PDF took longer than "
                          f"{self.timeout_s:g} s; send a smaller document or a PDF", where,
                          timeout_s=f"{self.timeout_s:g}", detected=found.media) from None
        finally:
            await asyncio.to_thread(_kill_group, proc)  # soffice.bin and all it started, also if the caller left
        pdf = work / "out" / "document.pdf"
        if not await asyncio.to_thread(_nonempty, pdf):
            raise invalid("INVALID_OFFICE_DOCUMENT", f"LibreOffice could not read the document (damaged, or "
                          f"protected by a password){_why(proc.returncode, output, self.memory_bytes)}", where,
                          detected=found.media)
        return pdf

    async def _network_prefix(self) -> list[str]:
        async with self._probing:  # probed once, before any conversion runs: containers often forbid namespaces
            if self._netns is None:
                self._netns = await asyncio.to_thread(_probe_unshare) if self._isolate else []
                if self._isolate and not self._netns:
                    log.warning("office conversions run without network isolation: unshare --net is refused here")
        return self._netns


def _probe_unshare() -> list[str]:
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    argv = [unshare, "--net", "--map-root-user", "--"]
    try:
        probe = subprocess.run([*argv, "/bin/true"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return argv if probe.returncode == 0 else []


def _prepare(path: Path, source: Path, work: Path) -> None:
    for sub in ("out", "home", "tmp"):
        (work / sub).mkdir()
    try:
        os.link(path, source)
    except OSError:
        shutil.copyfile(path, source)


def _nonempty(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # the group outlives its leader while any member lives
    proc.wait()


def _why(returncode: int | None, output: bytes, memory_bytes: int) -> str:
    lines = [line for line in output.decode("utf-8", "replace").splitlines()
             if line.strip() and not any(n in line for n in _NOISE)]
    text = " ".join(lines)[-OUTPUT_TAIL:]
    if returncode and returncode > 128:  # `timeout` reports a signal that ended soffice as 128 + its number
        text = f"it crashed with signal {returncode - 128} (its memory limit is {memory_bytes} bytes) {text}"
    elif returncode:
        text = f"exit status {returncode} {text}"
    return f": {text.strip()}" if text.strip() else ""
