"""The TypeScript client (clients/typescript): its generated code matches proto/, it typechecks and passes its
unit tests, and the example program OCRs a PDF against the live server (upload, submit, watch, result), sends
its bearer token, and resumes its watch across a server restart."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess

import pytest

from tests.conftest import ROOT, TEST_SETTINGS, ServerProcess, pdf

TS_CLIENT = ROOT / "clients" / "typescript"
EXAMPLE = TS_CLIENT / "dist" / "examples" / "ocr-document.js"
NODE = shutil.which("node")

# Only a machine without Node.js skips these: CI has it, and everything else here must pass.
pytestmark = pytest.mark.skipif(NODE is None, reason="node not found: install Node.js 20+ to test clients/typescript")


def run(args: list, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kwargs)


@pytest.fixture(scope="module")
def deps() -> None:
    installed = run([TS_CLIENT / "install-deps.sh"], timeout=300)  # npm ci from the lock file, once
    assert installed.returncode == 0, installed.stderr


@pytest.fixture(scope="module")
def example(deps) -> list:
    built = run([TS_CLIENT / "node_modules" / ".bin" / "tsc", "-p", TS_CLIENT], timeout=300)
    assert built.returncode == 0, f"tsc:\n{built.stdout}\n{built.stderr}"
    return [NODE, EXAMPLE]


def test_generated_code_matches_proto(deps):
    check = run([TS_CLIENT / "generate.sh", "--check"], timeout=120)
    assert check.returncode == 0, check.stderr


def test_unit_tests_pass(example):
    result = run([NODE, "--test", TS_CLIENT / "dist" / "test"], timeout=120)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr


def test_example_ocrs_a_pdf(server, example, tmp_path):
    document = tmp_path / "report.pdf"
    document.write_bytes(pdf(2))
    result = run([*example, document], timeout=120, env={**os.environ, "VLM_GRPC_TARGET": server.target})
    assert result.returncode == 0, result.stderr
    progress = result.stderr
    assert "uploaded report.pdf as " in progress and "application/pdf" in progress, progress
    assert "page 1/2 pages" in progress and "completed 2/2 pages" in progress, progress
    answer = json.loads(result.stdout)
    assert len(answer["pages"]) == 2
    assert "Page 1 heading" in answer["text"] and "Body line number 2" in answer["text"]


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["drained", "killed"])
def test_example_sends_the_bearer_token_and_resumes_its_watch_across_a_restart(example, tmp_path, stop_signal):
    """A server with auth, stopped while the example watches a 30-page PDF, then started again on the same
    port: the watch resumes after the last sequence number it saw and every page shows up exactly once.
    Drained (SIGTERM), watches end UNAVAILABLE / SHUTTING_DOWN; killed, the connection just breaks (Connect for
    Node reports a reset stream as CANCELLED, not UNAVAILABLE as gRPC's own clients do)."""
    with socket.socket() as s:  # a fixed port, so the restarted server is where the client left it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = ServerProcess(tmp_path / "svc", **{**TEST_SETTINGS, "shutdown_grace_s": 0.5}, workers=1, port=port,
                        auth_tokens="tok-ts=typescript").start()
    document = tmp_path / "long.pdf"
    document.write_bytes(pdf(30))  # ~50 ms a page: far more than the 0.5 s grace can finish
    env = {**os.environ, "VLM_GRPC_TARGET": srv.target}
    proc = None
    try:
        wrong = run([*example, document], timeout=60, env={**env, "VLM_GRPC_TOKEN": "nope"})
        assert wrong.returncode == 1 and "INVALID_TOKEN" in wrong.stderr, wrong.stderr

        proc = subprocess.Popen([*example, "--timeout-ms", "120000", document], env={**env, "VLM_GRPC_TOKEN": "tok-ts"},
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


def test_example_reports_the_error_reason(server, example, tmp_path):
    not_a_pdf = tmp_path / "broken.pdf"
    not_a_pdf.write_bytes(b"%PDF-1.7 but nothing else")
    result = run([*example, not_a_pdf], timeout=120, env={**os.environ, "VLM_GRPC_TARGET": server.target})
    assert result.returncode == 1
    assert "INVALID_PDF" in result.stderr, result.stderr


def test_readme_quickstart_ocrs_a_pdf(server, example, tmp_path):
    """The README's copy-paste example (examples/quickstart.ts, importing the package by its name) works."""
    document = tmp_path / "report.pdf"
    document.write_bytes(pdf(1))
    quickstart = TS_CLIENT / "dist" / "examples" / "quickstart.js"
    result = run([NODE, quickstart, document], timeout=120, env={**os.environ, "VLM_GRPC_TARGET": server.target})
    assert result.returncode == 0, result.stderr
    assert "COMPLETED 1/1" in result.stdout, result.stdout
    assert result.stdout.rstrip().endswith("Page 1 heading\nBody line number 1"), result.stdout
