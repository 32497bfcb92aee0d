"""The Go client (clients/go): its generated code matches proto/, the package vets and passes its unit
tests, and the example program OCRs a PDF against the live server (upload, submit, watch, result)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, TEST_SETTINGS, ServerProcess, pdf

GO_CLIENT = ROOT / "clients" / "go"
GO = GO_CLIENT / "go.sh"  # offline GOPATH build against Debian's packages, cache in clients/go/.cache
BINARY = GO_CLIENT / ".cache" / "bin" / "ocr-document"
MISSING = "run `make go-deps` (clients/go/install-deps.sh installs Debian's Go, protoc and gRPC packages)"


def run(args: list, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kwargs)


@pytest.fixture(scope="module")
def go_toolchain() -> None:
    for tool in ("go", "protoc", "protoc-gen-go", "protoc-gen-go-grpc"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found: {MISSING}")


@pytest.fixture(scope="module")
def example(go_toolchain) -> Path:
    built = run([GO, "build", "-o", BINARY, "./cmd/ocr-document"], timeout=300)
    assert built.returncode == 0, built.stderr
    return BINARY


def test_generated_code_matches_proto(go_toolchain):
    check = run([ROOT / "scripts" / "generate_go.sh", "--check"], timeout=60)
    assert check.returncode == 0, check.stderr


def test_package_is_formatted_vets_and_passes_unit_tests(go_toolchain):
    unformatted = run(["gofmt", "-l", "vlmclient", "cmd"], timeout=60, cwd=GO_CLIENT)
    assert unformatted.returncode == 0 and not unformatted.stdout, f"run gofmt -w on:\n{unformatted.stdout}"
    for args in (["vet", "./..."], ["test", "./..."]):
        result = run([GO, *args], timeout=300)
        assert result.returncode == 0, f"go {' '.join(args)}:\n{result.stdout}\n{result.stderr}"


def test_example_ocrs_a_pdf(server, example, tmp_path):
    document = tmp_path / "report.pdf"
    document.write_bytes(pdf(2))
    result = run([example, document], timeout=120, env={**os.environ, "VLM_GRPC_TARGET": server.target})
    assert result.returncode == 0, result.stderr
    progress = result.stderr
    assert "uploaded report.pdf as " in progress and "application/pdf" in progress, progress
    assert "page 1/2 pages" in progress and "completed 2/2 pages" in progress, progress
    answer = json.loads(result.stdout)
    assert len(answer["pages"]) == 2
    assert "Page 1 heading" in answer["text"] and "Body line number 2" in answer["text"]


def test_example_sends_the_bearer_token_and_resumes_its_watch_across_a_restart(example, tmp_path):
    """A server with auth, stopped (SIGTERM: watches end UNAVAILABLE / SHUTTING_DOWN) while the example
    watches a 30-page PDF, then started again on the same port: the watch resumes after the last sequence
    number it saw and every page shows up exactly once."""
    with socket.socket() as s:  # a fixed port, so the restarted server is where the client left it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = ServerProcess(tmp_path / "svc", **{**TEST_SETTINGS, "shutdown_grace_s": 0.5}, workers=1, port=port,
                        auth_tokens="tok-go=gopher").start()
    document = tmp_path / "long.pdf"
    document.write_bytes(pdf(30))  # ~50 ms a page: far more than the 0.5 s grace can finish
    env = {**os.environ, "VLM_GRPC_TARGET": srv.target}
    proc = None
    try:
        wrong = run([example, document], timeout=60, env={**env, "VLM_GRPC_TOKEN": "nope"})
        assert wrong.returncode == 1 and "INVALID_TOKEN" in wrong.stderr, wrong.stderr

        proc = subprocess.Popen([example, "-timeout", "2m", document], env={**env, "VLM_GRPC_TOKEN": "tok-go"},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        progress = []
        for line in proc.stderr:  # stop the server once the first page is done
            progress.append(line)
            if "page 1/30 pages" in line:
                break
        assert srv.stop() == 0
        srv.start()
        stdout, rest = proc.communicate(timeout=120)
        progress = "".join(progress) + rest
    finally:
        if proc and proc.poll() is None:
            proc.kill()
        srv.stop()
    assert proc.returncode == 0, progress
    assert "SHUTTING_DOWN" in progress and "resuming after #" in progress, progress
    sequences = [int(n) for n in re.findall(r"^#(\d+) ", progress, flags=re.M)]
    assert sequences == sorted(set(sequences)), progress  # nothing twice, in order
    pages = re.findall(r" (\d+)/30 pages", progress)
    assert {int(p) for p in pages} >= set(range(1, 31)) and "completed 30/30 pages" in progress, progress
    assert len(json.loads(stdout)["pages"]) == 30


def test_example_reports_the_error_reason(server, example, tmp_path):
    not_a_pdf = tmp_path / "broken.pdf"
    not_a_pdf.write_bytes(b"%PDF-1.7 but nothing else")
    result = run([example, not_a_pdf], timeout=120, env={**os.environ, "VLM_GRPC_TARGET": server.target})
    assert result.returncode == 1
    assert "INVALID_PDF" in result.stderr, result.stderr
