"""Run the service as a subprocess, as an operator would (`python -m vlmgrpc serve`), on a free port.
Used by the integration tests and the benchmarks."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path


def dies_with_parent(args: list[str], sig: str = "TERM") -> list[str]:
    """`args` run so that the child gets `sig` when the thread that started it ends, even on kill -9 of
    this process: a killed test run or benchmark leaves no server behind. util-linux setpriv sets
    PR_SET_PDEATHSIG and execs (preexec_fn would do the same but is unsafe with gRPC threads running).
    Start such children from a thread that lives as long as they should."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", sig, "--", *args] if setpriv else args


class ServerProcess:
    """`python -m vlmgrpc serve` with its embedded Triton, on a free port, as a user would run it. It stops
    (SIGTERM: a graceful drain) if the thread that started it ends first."""

    def __init__(self, data_dir: Path, **settings: object):
        self.data_dir = data_dir
        self.settings = {"port": 0, "data_dir": data_dir, **settings}
        self.proc: subprocess.Popen | None = None
        self.target = ""
        self.log = data_dir / "server.log"
        self._started_at = 0  # where the latest start's lines begin in the log

    def start(self, timeout_s: float = 120) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, "-m", "vlmgrpc", "serve"]
        for key, value in self.settings.items():
            args += ["--" + key.replace("_", "-"), str(value)]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(dies_with_parent(args), stdout=log, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout_s
        offset = self.log.stat().st_size if self.log.exists() else 0
        self._started_at = offset
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            match = re.search(r"vlm-grpc is serving on (\S+):(\d+)", text[offset:] if offset else text)
            if match:
                self.target = f"{match.group(1)}:{match.group(2)}"
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}:\n{text[-3000:]}")
            time.sleep(0.2)
        raise RuntimeError("server did not start:\n" + self.log.read_text(errors="replace")[-3000:])

    def rest_url(self, timeout_s: float = 10) -> str:
        """http://host:port/v1 of the REST API beside gRPC, from the line a started server prints ("" if off)."""
        deadline = time.monotonic() + timeout_s
        while True:
            text = self.log.read_text(errors="replace")[self._started_at:]  # this run's, not a restart's
            found = re.findall(r"The VLM Run REST API is at (\S+) ", text)
            if found or "REST API off" in text or time.monotonic() > deadline:
                return found[-1] if found else ""
            time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 60) -> int:
        assert self.proc
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout_s)
