"""The API contract guard: buf breaking passes on today's proto and catches a wire-incompatible change."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

PROTO = Path(__file__).resolve().parents[2] / "proto"
BUF = PROTO / "node_modules" / ".bin" / "buf"

pytestmark = pytest.mark.skipif(not BUF.exists(), reason="buf is not installed (make buf-lint installs it)")


def _breaking(module: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BUF), "breaking", "--against", "release/vlm-v1.json"], cwd=module,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def module(tmp_path: Path) -> Path:
    copy = tmp_path / "proto"
    shutil.copytree(PROTO, copy, ignore=shutil.ignore_patterns("node_modules"))
    return copy


def test_todays_proto_is_compatible_with_the_release(module: Path) -> None:
    result = _breaking(module)
    assert result.returncode == 0, result.stdout + result.stderr


def test_renumbering_a_field_is_caught(module: Path) -> None:
    path = module / "vlm" / "v1" / "document_service.proto"
    text, count = re.subn(r"string domain = (\d+);", r"string domain = 99;", path.read_text(), count=1)
    assert count == 1
    path.write_text(text)
    result = _breaking(module)
    assert result.returncode != 0
    assert "domain" in result.stdout


def test_removing_a_message_field_is_caught(module: Path) -> None:
    path = module / "vlm" / "v1" / "document_service.proto"
    text, count = re.subn(r"\n\s*string domain = \d+;", "\n", path.read_text(), count=1)
    assert count == 1
    path.write_text(text)
    assert _breaking(module).returncode != 0
