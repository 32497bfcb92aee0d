"""The Go client (clients/go): its generated code matches proto/, the package vets and passes its unit
tests, and the example program OCRs a PDF against the live server (upload, submit, watch, result)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.integration import example_programs
from tests.integration.example_programs import run

GO_CLIENT = ROOT / "clients" / "go"
GO = GO_CLIENT / "go.sh"  # offline GOPATH build against Debian's packages, cache in clients/go/.cache
BINARY = GO_CLIENT / ".cache" / "bin" / "ocr-document"
MISSING = "run `make go-deps` (clients/go/install-deps.sh installs Debian's Go, protoc and gRPC packages)"


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
    example_programs.ocrs_a_pdf([example], server.target, tmp_path)


def test_example_sends_the_bearer_token_and_resumes_its_watch_across_a_restart(example, tmp_path):
    example_programs.resumes_across_a_restart([example], ["-timeout", "2m"], tmp_path, "tok-go")


def test_example_reports_the_error_reason(server, example, tmp_path):
    example_programs.reports_the_error_reason([example], server.target, tmp_path)
