"""The TypeScript client (clients/typescript): its generated code matches proto/, it typechecks and passes its
unit tests, and the example program OCRs a PDF against the live server (upload, submit, watch, result), sends
its bearer token, and resumes its watch across a server restart."""

from __future__ import annotations

import os
import shutil
import signal

import pytest

from tests.conftest import ROOT, pdf
from tests.integration import example_programs
from tests.integration.example_programs import run

TS_CLIENT = ROOT / "clients" / "typescript"
EXAMPLE = TS_CLIENT / "dist" / "examples" / "ocr-document.js"
NODE = shutil.which("node")

# Only a machine without Node.js skips these: CI has it, and everything else here must pass.
pytestmark = pytest.mark.skipif(NODE is None, reason="node not found: install Node.js 20+ to test clients/typescript")


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
    example_programs.ocrs_a_pdf(example, server.target, tmp_path)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["drained", "killed"])
def test_example_sends_the_bearer_token_and_resumes_its_watch_across_a_restart(example, tmp_path, stop_signal):
    # Killed, Connect for Node reports the reset stream as CANCELLED (not UNAVAILABLE as gRPC's own clients do).
    example_programs.resumes_across_a_restart(example, ["--timeout-ms", "120000"], tmp_path, "tok-ts", stop_signal)


def test_example_reports_the_error_reason(server, example, tmp_path):
    example_programs.reports_the_error_reason(example, server.target, tmp_path)


def test_readme_quickstart_ocrs_a_pdf(server, example, tmp_path):
    """The README's copy-paste example (examples/quickstart.ts, importing the package by its name) works."""
    document = tmp_path / "report.pdf"
    document.write_bytes(pdf(1))
    quickstart = TS_CLIENT / "dist" / "examples" / "quickstart.js"
    result = run([NODE, quickstart, document], timeout=120, env={**os.environ, "VLM_GRPC_TARGET": server.target})
    assert result.returncode == 0, result.stderr
    assert "COMPLETED 1/1" in result.stdout, result.stdout
    assert result.stdout.rstrip().endswith("Page 1 heading\nBody line number 1"), result.stdout
