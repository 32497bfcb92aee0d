"""Launch and supervise the tritonserver binary that ships in the nvidia-pytriton wheel.

The wheel has no python backend stub in `backends/python`, so a workspace is built under `workdir`:
bin/ and caches/ link to the wheel, backends/python/ links the backend files and holds a copy of the stub
for this interpreter's version. The stub embeds libpython and finds the venv's site-packages through the
`python3` first on PATH (PYTHONPATH is ignored), so PATH and LD_LIBRARY_PATH are set for the child.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import itertools
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from google.protobuf import json_format, text_format
from tenacity import AsyncRetrying, before_sleep_log, retry_if_exception_type, wait_exponential
from tritonclient.grpc import model_config_pb2
from tritonclient.grpc.aio import InferenceServerClient
from tritonclient.utils import InferenceServerException

log = logging.getLogger(__name__)

# Multi-MB encoded pages cross the python backend through /dev/shm; start big enough for a typical
# page and grow in large steps instead of the 1 MB defaults.
SHM_DEFAULT_BYTES = 16 * 1024 * 1024
SHM_GROWTH_BYTES = 16 * 1024 * 1024
SHM_DIR = Path("/dev/shm")
TRACE_EXPORT_DELAY_MS = 1000  # Triton batches its spans for this long (its default, 5 s, delays every trace)
_instances = itertools.count()


class TritonStartError(RuntimeError):
    """tritonserver exited or did not become ready in time; the message ends with the log tail."""


class _Stopping(Exception):
    """stop() was called while a launch was in progress."""


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _link(link: Path, target: Path) -> None:
    if link.is_symlink() or link.is_file():
        link.unlink()
    link.symlink_to(target)


class EmbeddedTriton:
    """One tritonserver child process on 127.0.0.1.

    `start()` launches it and waits for the server and every model in the repository to be ready;
    `supervise()` relaunches it (with backoff) whenever it dies; `stop()` shuts it down. Ports left at 0
    are picked once and kept across restarts. `restarts` counts relaunch attempts after the first start.
    """

    def __init__(
        self,
        model_repository: Path,
        workdir: Path,
        *,
        host: str = "127.0.0.1",
        grpc_port: int = 0,
        http_port: int = 0,
        metrics_port: int = 0,
        python_bin_dir: Path | None = None,
        startup_timeout_s: float = 120.0,
        restart_backoff_max_s: float = 10.0,
        exit_timeout_s: int = 10,
        log_path: Path | None = None,
        extra_args: Sequence[str] = (),
        auto_complete_config: bool = False,
        models: Mapping[str, Mapping[str, str]] | None = None,
        trace_url: str = "",
        trace_service_name: str = "triton-inference-server",
    ) -> None:
        self.model_repository = Path(model_repository).resolve()
        self.workdir = Path(workdir).resolve()
        self.host = host
        self.grpc_port, self.http_port, self.metrics_port = grpc_port, http_port, metrics_port
        self.python_bin_dir = Path(python_bin_dir or Path(sys.executable).parent)
        self.startup_timeout_s = startup_timeout_s
        self.restart_backoff_max_s = restart_backoff_max_s
        self.exit_timeout_s = exit_timeout_s
        self.log_path = Path(log_path) if log_path else self.workdir / "triton.log"
        self.extra_args = tuple(extra_args)
        # OTLP/HTTP traces URL: Triton records spans for the requests that carry a trace context (only those).
        self.trace_url = trace_url
        self.trace_service_name = trace_service_name
        # Our config.pbtxt files are complete; auto-completion costs a throw-away stub per model (~1.2 s).
        # Backends that fill in their own config (e.g. vllm) need it switched on.
        self.auto_complete_config = auto_complete_config
        # The models to load (name -> config.pbtxt parameters to set), in explicit model control: a
        # repository may hold models that need a checkpoint nobody configured. None: every model in it.
        self.models = dict(models) if models is not None else None
        # Several servers may run at once (tests, benchmarks): their python shm regions must not clash.
        self.shm_prefix = f"vlmgrpc{os.getpid()}_{next(_instances)}_"
        self.restarts = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._spawn_lock = asyncio.Lock()  # stop() must not miss a process that is being spawned
        self._ports_picked = False

    @property
    def grpc_url(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.host}:{self.metrics_port}/metrics"

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    async def start(self) -> None:
        """Launch and wait until the server and every model in the repository are ready."""
        self._stopping = False
        self._stop_event.clear()
        self._pick_ports()
        await asyncio.to_thread(self._kill_previous)
        await asyncio.to_thread(self._prepare_workspace)
        try:
            await self._launch()
        except _Stopping:
            raise TritonStartError("stop() was called during start()") from None

    async def supervise(self) -> None:
        """Relaunch the server whenever it dies unexpectedly; return once stop() is called."""
        if self._proc is None:
            raise RuntimeError("call start() before supervise()")
        while not self._stopping:
            proc = self._proc
            exited = asyncio.ensure_future(proc.wait())
            stopped = asyncio.ensure_future(self._stop_event.wait())
            try:
                await asyncio.wait({exited, stopped}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                exited.cancel()
                stopped.cancel()
            if self._stopping:
                return
            log.warning("tritonserver pid %d exited with %s; relaunching", proc.pid, proc.returncode)
            # Its python stubs share the process group; they must not outlive it or hold our shm regions.
            self._kill_group(proc.pid)
            try:
                await self._relaunch()
            except _Stopping:
                return

    async def stop(self) -> None:
        """SIGTERM the server, SIGKILL its process group after exit_timeout_s + 5 s; idempotent."""
        self._stopping = True
        self._stop_event.set()
        async with self._spawn_lock:
            proc = self._proc
        if proc is not None:
            await self._terminate(proc)
        await asyncio.to_thread(self._cleanup_shm)

    @property
    def _pidfile(self) -> Path:
        return self.workdir / "tritonserver.pid"

    def _kill_previous(self) -> None:
        """A server killed with SIGKILL takes its tritonserver along (PR_SET_PDEATHSIG), but not the
        python backend stubs that tritonserver started: the next start on the same workdir ends every
        process left in that old process group that runs from this workdir."""
        try:
            pgid = int(self._pidfile.read_text())
        except (OSError, ValueError):
            return
        marker = str(self.workdir).encode()
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                stat = (proc / "stat").read_text()
                group = int(stat.rsplit(")", 1)[1].split()[2])
                if group == pgid and marker in (proc / "cmdline").read_bytes():
                    log.warning("ending pid %s left over from a previous run", proc.name)
                    os.kill(int(proc.name), signal.SIGKILL)
            except (OSError, ValueError, IndexError):
                continue
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pgid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # in a worker thread: until the old server is gone

    async def _relaunch(self) -> None:
        retrying = AsyncRetrying(
            wait=wait_exponential(multiplier=0.5, max=self.restart_backoff_max_s),
            retry=retry_if_exception_type(TritonStartError),
            before_sleep=before_sleep_log(log, logging.WARNING),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                if self._stopping:
                    raise _Stopping
                self.restarts += 1
                await self._launch()
        log.info("tritonserver relaunched (pid %s, restart %d)", self.pid, self.restarts)

    async def _launch(self) -> None:
        """Spawn one server process and wait for readiness; kill it again if that fails."""
        await asyncio.to_thread(self._cleanup_shm)
        started = time.monotonic()
        async with self._spawn_lock:
            if self._stopping:
                raise _Stopping
            log_file = await asyncio.to_thread(self._open_log)
            try:
                proc = await asyncio.create_subprocess_exec(
                    *self._command(),
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    env=self._env(),
                    start_new_session=True,  # own process group: stop() takes the python stubs down too
                )
            finally:
                log_file.close()  # the child keeps its own descriptor
            self._proc = proc
            await asyncio.to_thread(self._pidfile.write_text, str(proc.pid))
        try:
            await self._wait_ready(proc)
        except BaseException:
            await self._terminate(proc)
            raise
        log.info("tritonserver pid %d ready on %s in %.1fs", proc.pid, self.grpc_url, time.monotonic() - started)

    async def _wait_ready(self, proc: asyncio.subprocess.Process) -> None:
        models = self._model_names()
        deadline = time.monotonic() + self.startup_timeout_s
        async with InferenceServerClient(self.grpc_url) as client:
            while True:
                if self._stopping:
                    raise _Stopping
                if proc.returncode is not None:
                    raise TritonStartError(
                        f"tritonserver exited with code {proc.returncode} during startup\n{self.log_tail()}"
                    )
                with contextlib.suppress(InferenceServerException):
                    if await client.is_server_ready(client_timeout=2.0):
                        break
                if time.monotonic() > deadline:
                    raise TritonStartError(
                        f"tritonserver not ready after {self.startup_timeout_s:.0f}s "
                        f"(models {', '.join(models)})\n{self.log_tail()}"
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(proc.wait()), 0.2)
            await self._load_models(client)
            for name in models:
                if not await client.is_model_ready(name, client_timeout=2.0):
                    raise TritonStartError(f"model {name!r} loaded but is not ready\n{self.log_tail()}")

    async def _terminate(self, proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), self.exit_timeout_s + 5)
            except TimeoutError:
                log.warning("tritonserver pid %d ignored SIGTERM; killing its process group", proc.pid)
        self._kill_group(proc.pid)
        await proc.wait()

    @staticmethod
    def _kill_group(pgid: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)

    def _cleanup_shm(self) -> None:
        # A killed server leaves its python backend regions behind (python_backend PR#450).
        for path in SHM_DIR.glob(self.shm_prefix + "*"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _pick_ports(self) -> None:
        # Ports are chosen once and kept across restarts, so clients can simply reconnect.
        if not self._ports_picked:
            self.grpc_port = self.grpc_port or _free_port(self.host)
            self.http_port = self.http_port or _free_port(self.host)
            self.metrics_port = self.metrics_port or _free_port(self.host)
            self._ports_picked = True

    def _model_names(self) -> list[str]:
        if self.models is not None:
            return list(self.models)
        return sorted(p.parent.name for p in self.model_repository.glob("*/config.pbtxt"))

    def _load_request(self, name: str) -> str | None:
        """The config to load `name` with: its config.pbtxt with the configured parameters set (JSON, as
        Triton's load API takes it), or None to load config.pbtxt as it is."""
        overrides = (self.models or {}).get(name) or {}
        if not overrides:
            return None
        path = self.model_repository / name / "config.pbtxt"
        try:
            config = text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())
        except (OSError, text_format.ParseError) as e:
            raise TritonStartError(f"cannot read {path}: {e}") from None
        for key, value in overrides.items():
            config.parameters[key].string_value = str(value)
        return json_format.MessageToJson(config, preserving_proto_field_name=True)

    async def _load_models(self, client: InferenceServerClient) -> None:
        for name in self._model_names():
            try:
                await client.load_model(name, config=self._load_request(name), client_timeout=self.startup_timeout_s)
            except InferenceServerException as e:
                raise TritonStartError(f"tritonserver could not load model {name!r}: {e.message()}\n"
                                       f"{self.log_tail()}") from None

    @property
    def _workspace(self) -> Path:
        return self.workdir / "tritonserver"

    def _prepare_workspace(self) -> None:
        src = _pytriton_dir() / "tritonserver"
        ws = self._workspace
        backend = ws / "backends" / "python"
        backend.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        _link(ws / "bin", src / "bin")
        _link(ws / "caches", src / "caches")
        for f in (src / "backends" / "python").iterdir():
            if f.is_file():
                _link(backend / f.name, f)
        version = f"{sys.version_info[0]}.{sys.version_info[1]}"
        stub = src / "python_backend_stubs" / version / "triton_python_backend_stub"
        if not stub.is_file():
            raise TritonStartError(f"nvidia-pytriton has no python backend stub for Python {version} ({stub})")
        # A copy, not a link: Triton looks the stub up next to libtriton_python.so. Copied aside and
        # renamed into place: a stub of a killed earlier run may still be executing the old file.
        tmp = backend / (stub.name + ".new")
        shutil.copy2(stub, tmp)
        os.replace(tmp, backend / stub.name)

    def _command(self) -> list[str]:
        ws = self._workspace
        # Dies with the service even on kill -9 (util-linux setpriv sets PR_SET_PDEATHSIG, then execs);
        # preexec_fn would do the same but is unsafe in a process with gRPC threads.
        setpriv = shutil.which("setpriv")
        return [
            *([setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []),
            str(ws / "bin" / "tritonserver"),
            f"--model-repository={self.model_repository}",
            "--model-control-mode=explicit",  # _load_models loads what is configured
            f"--backend-directory={ws / 'backends'}",
            f"--cache-directory={ws / 'caches'}",
            f"--grpc-address={self.host}",
            f"--grpc-port={self.grpc_port}",
            f"--http-address={self.host}",
            f"--http-port={self.http_port}",
            f"--metrics-address={self.host}",
            f"--metrics-port={self.metrics_port}",
            "--allow-gpu-metrics=false",
            f"--exit-timeout-secs={self.exit_timeout_s}",
            f"--backend-config=python,shm-region-prefix-name={self.shm_prefix}",
            f"--backend-config=python,shm-default-byte-size={SHM_DEFAULT_BYTES}",
            f"--backend-config=python,shm-growth-byte-size={SHM_GROWTH_BYTES}",
            *([] if self.auto_complete_config else ["--disable-auto-complete-config"]),
            *self._trace_args(),
            *self.extra_args,
        ]

    def _trace_args(self) -> list[str]:
        """OpenTelemetry mode; rate=0: trace only requests whose caller propagated a context (the service sends
        one only for its sampled traces), each as a child of the caller's span."""
        if not self.trace_url:
            return []
        return ["--trace-config=mode=opentelemetry", "--trace-config=rate=0", "--trace-config=count=-1",
                "--trace-config=level=TIMESTAMPS", f"--trace-config=opentelemetry,url={self.trace_url}",
                f"--trace-config=opentelemetry,resource=service.name={self.trace_service_name}",
                f"--trace-config=opentelemetry,bsp_schedule_delay={TRACE_EXPORT_DELAY_MS}"]

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        libs = [str(_pytriton_dir().parent / "nvidia_pytriton.libs")]
        # The stub links libpython3.X.so: prefer the one of the interpreter the venv was made from.
        libdir = sysconfig.get_config_var("LIBDIR")
        if libdir:
            libs.append(libdir)
        if env.get("LD_LIBRARY_PATH"):
            libs.append(env["LD_LIBRARY_PATH"])
        env["LD_LIBRARY_PATH"] = os.pathsep.join(libs)
        env["PATH"] = os.pathsep.join([str(self.python_bin_dir), env.get("PATH", "")])
        return env

    def _open_log(self) -> BinaryIO:
        log_file = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed by _launch
        log_file.write(f"\n=== vlmgrpc: launching tritonserver ({time.ctime()}) ===\n".encode())
        log_file.flush()
        return log_file

    def log_tail(self, lines: int = 40) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(max(0, f.seek(0, os.SEEK_END) - 64 * 1024))
                text = f.read().decode("utf-8", "replace")
        except OSError as e:
            return f"(no log at {self.log_path}: {e})"
        # Skip the borders of Triton's ASCII tables and cut its very wide rows: keep the tail readable.
        kept = [ln[:400] for ln in text.splitlines() if ln.strip() and not ln.startswith("+-")]
        return f"--- last lines of {self.log_path} ---\n" + "\n".join(kept[-lines:])


def _pytriton_dir() -> Path:
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise TritonStartError("nvidia-pytriton is not installed (it ships the tritonserver binary)")
    return Path(next(iter(spec.submodule_search_locations)))


async def _serve(args: argparse.Namespace) -> None:
    triton = EmbeddedTriton(
        Path(args.model_repository),
        Path(args.workdir),
        grpc_port=args.grpc_port,
        http_port=args.http_port,
        metrics_port=args.metrics_port,
    )
    loop = asyncio.get_running_loop()
    stopping = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: stopping.append(asyncio.ensure_future(triton.stop())))
    try:
        started = time.monotonic()
        try:
            await triton.start()
        except TritonStartError:
            if stopping:  # interrupted while starting
                return
            raise
        print(
            f"tritonserver ready in {time.monotonic() - started:.1f}s: grpc {triton.grpc_url} "
            f"http {triton.http_url} metrics {triton.metrics_url} pid {triton.pid} log {triton.log_path}",
            flush=True,
        )
        await triton.supervise()
    finally:
        await triton.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the embedded tritonserver until SIGINT/SIGTERM.")
    parser.add_argument("--model-repository", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--grpc-port", type=int, default=0)
    parser.add_argument("--http-port", type=int, default=0)
    parser.add_argument("--metrics-port", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
