"""The contract every client's `ocr-document` example program keeps (Go: clients/go/cmd/ocr-document,
TypeScript: clients/typescript/examples/ocr-document.ts): the same command line, progress lines on stderr
and the answer as JSON on stdout. Each client's test runs these checks against its own build."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
from pathlib import Path

from tests.conftest import TEST_SETTINGS, ServerProcess, pdf


def run(args: list, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kwargs)


def ocrs_a_pdf(example: list, target: str, tmp_path: Path) -> None:
    document = tmp_path / "report.pdf"
    document.write_bytes(pdf(2))
    result = run([*example, document], timeout=120, env={**os.environ, "VLM_GRPC_TARGET": target})
    assert result.returncode == 0, result.stderr
    progress = result.stderr
    assert "uploaded report.pdf as " in progress and "application/pdf" in progress, progress
    assert "page 1/2 pages" in progress and "completed 2/2 pages" in progress, progress
    answer = json.loads(result.stdout)
    assert len(answer["pages"]) == 2
    assert "Page 1 heading" in answer["text"] and "Body line number 2" in answer["text"]


def resumes_across_a_restart(example: list, timeout_args: list, tmp_path: Path, token: str,
                             stop_signal: signal.Signals = signal.SIGTERM) -> None:
    """A server with auth, stopped with `stop_signal` while the example watches a 30-page PDF, then started
    again on the same port: the watch resumes after the last sequence number it saw and every page shows up
    exactly once. Drained (SIGTERM), watches end UNAVAILABLE / SHUTTING_DOWN; killed, the connection breaks."""
    with socket.socket() as s:  # a fixed port, so the restarted server is where the client left it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = ServerProcess(tmp_path / "svc", **{**TEST_SETTINGS, "shutdown_grace_s": 0.5}, workers=1, port=port,
                        auth_tokens=f"{token}=example").start()
    document = tmp_path / "long.pdf"
    document.write_bytes(pdf(30))  # ~50 ms a page: far more than the 0.5 s grace can finish
    env = {**os.environ, "VLM_GRPC_TARGET": srv.target}
    proc = None
    try:
        wrong = run([*example, document], timeout=60, env={**env, "VLM_GRPC_TOKEN": "nope"})
        assert wrong.returncode == 1 and "INVALID_TOKEN" in wrong.stderr, wrong.stderr

        proc = subprocess.Popen([*example, *timeout_args, document], env={**env, "VLM_GRPC_TOKEN": token},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        progress = []
        for line in proc.stderr:  # stop the server once the first page is done
            progress.append(line)
            if "page 1/30 pages" in line:
                break
        assert srv.stop(stop_signal) == (0 if stop_signal == signal.SIGTERM else -stop_signal)
        srv.start()
        stdout, rest = proc.communicate(timeout=120)
        progress = "".join(progress) + rest
    finally:
        if proc and proc.poll() is None:
            proc.kill()
        srv.stop()
    assert proc.returncode == 0, progress
    assert "resuming after #" in progress, progress
    assert ("SHUTTING_DOWN" in progress) == (stop_signal == signal.SIGTERM), progress
    sequences = [int(n) for n in re.findall(r"^#(\d+) ", progress, flags=re.M)]
    assert sequences == sorted(set(sequences)), progress  # nothing twice, in order
    pages = re.findall(r" (\d+)/30 pages", progress)
    assert {int(p) for p in pages} >= set(range(1, 31)) and "completed 30/30 pages" in progress, progress
    assert len(json.loads(stdout)["pages"]) == 30


def reports_the_error_reason(example: list, target: str, tmp_path: Path) -> None:
    not_a_pdf = tmp_path / "broken.pdf"
    not_a_pdf.write_bytes(b"%PDF-1.7 but nothing else")
    result = run([*example, not_a_pdf], timeout=120, env={**os.environ, "VLM_GRPC_TARGET": target})
    assert result.returncode == 1
    assert "INVALID_PDF" in result.stderr, result.stderr
