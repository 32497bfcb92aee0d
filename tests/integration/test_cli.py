"""vlmctl, the command line installed with the Python client, run as a user would (a subprocess) against the
live server: output, files it writes, and its exit codes for bad input, not found, failed predictions and an
unreachable server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEST_SETTINGS, ServerProcess, pdf, text_png
from vlmgrpc_client import AsyncVLMClient, VLMClient, cli, errors

pytestmark = pytest.mark.integration

# The console script where the client is installed (pip install ./clients/python), else the same main().
SCRIPT = Path(sys.executable).parent / "vlmctl"
VLMCTL = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "vlmgrpc_client"]


def vlmctl(*args: str, target: str | None = None, env: dict | None = None, timeout: float = 90):
    base = {k: v for k, v in os.environ.items() if k not in ("VLMGRPC_TARGET", "VLMGRPC_TOKEN")}
    command = [*VLMCTL, *(["--target", target] if target else []), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env={**base, **(env or {})})


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    (root / "page.png").write_bytes(text_png(["Command line", "Second line"]))
    (root / "doc.pdf").write_bytes(pdf(2))
    (root / "slow.pdf").write_bytes(pdf(30, scanned=True))  # seconds of work: time to pause it
    return root


def test_generate_from_an_image_follows_it_live_and_prints_the_prediction(server, files):
    run = vlmctl("generate", str(files / "page.png"), "--domain", "document.ocr", target=server.target)
    assert run.returncode == cli.OK, run.stderr
    prediction = json.loads(run.stdout)
    assert prediction["status"] == "completed" and "Command line" in prediction["response"]["text"]
    lines = run.stderr.splitlines()
    assert any("running" in line for line in lines) and "completed" in lines[-1]  # the status line, live
    assert "[########################] 1/1" in lines[-1]  # the page progress bar


def test_generate_a_document_saves_json_and_shows_page_progress(server, files, tmp_path):
    out = tmp_path / "prediction.json"
    run = vlmctl("ocr", str(files / "doc.pdf"), "--domain", "document.markdown", "-o", str(out),
                 target=server.target)
    assert run.returncode == cli.OK, run.stderr
    saved = json.loads(out.read_text())
    assert saved["status"] == "completed" and len(saved["response"]["pages"]) == 2
    assert run.stdout == "" and "upload" in run.stderr
    bars = [line for line in run.stderr.splitlines() if "/2" in line]
    assert [line.split()[-1] for line in bars][-3:] == ["1/2", "2/2", "2/2"]  # running 1/2, 2/2, completed


def test_submit_then_get_wait_watch_and_list(server, files):
    env = {"VLMGRPC_TARGET": server.target}  # target from the environment
    run = vlmctl("generate", str(files / "doc.pdf"), "-d", "document.ocr", "--no-follow", env=env)
    assert run.returncode == cli.OK, run.stderr
    prediction_id = json.loads(run.stdout)["id"]
    waited = vlmctl("wait", prediction_id, "--response-only", env=env)
    assert waited.returncode == cli.OK and len(json.loads(waited.stdout)["pages"]) == 2
    got = vlmctl("get", prediction_id, env=env)
    assert json.loads(got.stdout)["progress"] == {"done": 2, "total": 2}
    events = vlmctl("watch", prediction_id, "--after", "0", "--events", env=env)
    sequences = [json.loads(line)["sequence"] for line in events.stdout.splitlines()]
    assert events.returncode == cli.OK and sequences == list(range(1, len(sequences) + 1))
    watched = vlmctl("watch", prediction_id, env=env)
    assert watched.returncode == cli.OK and json.loads(watched.stdout)["status"] == "completed"
    listed = vlmctl("--json", "list", "--domain", "document.ocr", "--limit", "100", env=env)
    assert prediction_id in [p["id"] for p in json.loads(listed.stdout)["predictions"]]
    table = vlmctl("list", "--status", "completed", env=env)
    assert table.stdout.startswith("ID") and "completed" in table.stdout


def test_pause_resume_cancel_and_a_failed_prediction(server, files):
    t = server.target
    run = vlmctl("generate", str(files / "slow.pdf"), "-d", "document.ocr", "--no-follow", target=t)
    prediction_id = json.loads(run.stdout)["id"]
    paused = vlmctl("pause", prediction_id, target=t)
    assert paused.returncode == cli.OK and json.loads(paused.stdout)["status"] == "paused", paused.stderr
    resumed = vlmctl("resume", prediction_id, target=t)
    assert resumed.returncode == cli.OK and json.loads(resumed.stdout)["status"] == "enqueued"
    cancelled = vlmctl("cancel", prediction_id, target=t)
    assert cancelled.returncode == cli.OK and json.loads(cancelled.stdout)["status"] == "failed"
    failed = vlmctl("wait", prediction_id, target=t)
    assert failed.returncode == cli.PREDICTION_FAILED
    assert f"prediction {prediction_id} failed: CANCELLED" in failed.stderr
    again = vlmctl("cancel", prediction_id, target=t)
    assert again.returncode == cli.BAD_INPUT and "ALREADY_TERMINAL" in again.stderr


def test_domains_models_and_schemas(server):
    t = server.target
    domains = vlmctl("domains", "--served", target=t)
    assert domains.returncode == cli.OK and "document.ocr" in domains.stdout and "image.caption" not in domains.stdout
    as_json = vlmctl("domains", "--json", target=t)  # options after the command work too
    assert "image.caption" in [d["domain"] for d in json.loads(as_json.stdout)]
    models = vlmctl("models", target=t)
    assert models.stdout.startswith("MODEL") and "ocr" in models.stdout
    schema = vlmctl("schema", "document.invoice", target=t)
    assert "invoice_id" in json.loads(schema.stdout)["properties"]
    full = json.loads(vlmctl("schema", "document.ocr", "--full", target=t).stdout)
    assert full["domain"] == "document.ocr" and full["schema_hash"]


def test_files_upload_list_get_delete(server, files):
    t = server.target
    up = vlmctl("files", "upload", str(files / "doc.pdf"), target=t)
    assert up.returncode == cli.OK, up.stderr
    info = json.loads(up.stdout)
    assert info["bytes"] == (files / "doc.pdf").stat().st_size and "upload" in up.stderr
    assert info["id"] in vlmctl("files", "list", target=t).stdout
    assert json.loads(vlmctl("files", "get", info["id"], target=t).stdout)["sha256"] == info["sha256"]
    used = vlmctl("generate", info["id"], "-d", "document.ocr", "--response-only", "-q", target=t)
    assert used.returncode == cli.OK and len(json.loads(used.stdout)["pages"]) == 2 and used.stderr == ""
    assert vlmctl("files", "delete", info["id"], target=t).returncode == cli.OK
    gone = vlmctl("files", "get", info["id"], target=t)
    assert gone.returncode == cli.NOT_FOUND and "FILE_NOT_FOUND" in gone.stderr


def test_exit_codes_and_messages(server, files, tmp_path):
    t = server.target
    unknown = vlmctl("generate", str(files / "page.png"), "-d", "no.such-domain", target=t)
    assert unknown.returncode == cli.BAD_INPUT and "UNKNOWN_DOMAIN" in unknown.stderr and unknown.stdout == ""
    not_served = vlmctl("generate", str(files / "page.png"), "-d", "image.caption", target=t)
    assert not_served.returncode == cli.BAD_INPUT and "DOMAIN_NOT_SERVED" in not_served.stderr
    missing = vlmctl("generate", str(tmp_path / "nope.png"), "-d", "document.ocr", target=t)
    assert missing.returncode == cli.BAD_INPUT and "no such file" in missing.stderr
    bad_config = vlmctl("generate", str(files / "page.png"), "-d", "document.ocr", "--config", "{oops", target=t)
    assert bad_config.returncode == cli.BAD_INPUT and "--config is not JSON" in bad_config.stderr
    usage = vlmctl("generate", str(files / "page.png"), target=t)  # no --domain
    assert usage.returncode == cli.BAD_INPUT and "--domain" in usage.stderr
    not_found = vlmctl("get", "no-such-prediction", target=t)
    assert not_found.returncode == cli.NOT_FOUND and "PREDICTION_NOT_FOUND" in not_found.stderr
    dead = vlmctl("--retries", "2", "models", target="127.0.0.1:1")
    assert dead.returncode == cli.UNREACHABLE and "cannot reach the server at 127.0.0.1:1" in dead.stderr


async def test_bearer_token_from_flag_or_environment(tmp_path):
    """A server with auth: the token comes from --token or $VLMGRPC_TOKEN (CLI), token= or the same variable
    (Python); without one the call fails UNAUTHENTICATED, exit code 6."""
    srv = ServerProcess(tmp_path / "secured", **TEST_SETTINGS, auth_tokens="tok-a=alice").start()
    try:
        t = srv.target
        refused = vlmctl("models", target=t)
        assert refused.returncode == cli.UNAUTHENTICATED and "MISSING_TOKEN" in refused.stderr
        wrong = vlmctl("--token", "nope", "models", target=t)
        assert wrong.returncode == cli.UNAUTHENTICATED and "INVALID_TOKEN" in wrong.stderr
        assert vlmctl("--token", "tok-a", "models", target=t).returncode == cli.OK
        assert vlmctl("models", target=t, env={"VLMGRPC_TOKEN": "tok-a"}).returncode == cli.OK
        with VLMClient(t, token="tok-a") as client:
            assert client.image.generate(images=[text_png(["token"])], domain="document.ocr").status == "completed"
        with VLMClient(t, token="") as anonymous, pytest.raises(errors.AuthenticationError) as info:
            anonymous.models.list()
        assert info.value.reason == "MISSING_TOKEN"
        async with AsyncVLMClient(t, token="tok-a") as client:
            assert [f async for f in client.predictions.watch(
                (await client.image.generate(images=[text_png(["x"])], domain="document.ocr", batch=True)).id)]
    finally:
        srv.stop()
