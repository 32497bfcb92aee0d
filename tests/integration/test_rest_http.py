"""The REST API over plain HTTP against the shared live server: Server-Sent Events resumed with Last-Event-ID
lose no event, `"stream": true` on generate, one prediction seen from both protocols, control (pause, resume,
cancel), idempotent retries, the OpenAPI document against what is served, and hostile input (bad JSON, huge
bodies, wrong content types, path tricks) answered with a clear 4xx and the JSON error body."""

from __future__ import annotations

import base64
import socket
import uuid
from urllib.parse import urlsplit

import httpx
import pytest
from jsonschema import Draft202012Validator

from tests.conftest import pdf, text_png
from tests.integration.rest_helpers import rest_url, sse_events
from vlmgrpc_client import VLMClient

pytestmark = pytest.mark.integration
TERMINAL = ("completed", "failed")


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=rest_url(server), timeout=120) as client:
        yield client


def png_data_url(lines: list[str]) -> str:
    return "data:image/png;base64," + base64.b64encode(text_png(lines)).decode()


def upload(http: httpx.Client, name: str, data: bytes) -> dict:
    resp = http.post("/files", files={"file": (name, data)})
    assert resp.status_code == 201, resp.text
    return resp.json()


def submit_document(http: httpx.Client, data: bytes, **extra) -> dict:
    file = upload(http, "doc.pdf", data)
    resp = http.post("/document/generate", json={"domain": "document.ocr", "file_id": file["id"], **extra})
    assert resp.status_code == 201, resp.text
    return resp.json()


def events_of(http: httpx.Client, prediction_id: str, headers: dict | None = None, params: dict | None = None,
              stop_after: int | None = None) -> list[dict]:
    with http.stream("GET", f"/predictions/{prediction_id}/events", headers=headers or {}, params=params) as resp:
        assert resp.status_code == 200, resp.read()
        assert resp.headers["content-type"].startswith("text/event-stream")
        return sse_events(resp, stop_after)


def numbered(events: list[dict]) -> list[int]:
    return [int(e["id"]) for e in events if "id" in e]


def test_sse_resumed_with_last_event_id_loses_no_event(http):
    pred = submit_document(http, pdf(6))
    first = events_of(http, pred["id"], params={"after": "0"}, stop_after=3)  # then the connection drops
    assert numbered(first) == [1, 2, 3]
    rest = events_of(http, pred["id"], headers={"Last-Event-ID": first[-1]["id"]})
    assert rest[-1] == {"event": "done", "data": "[DONE]"}
    seen = numbered(first) + numbered(rest)
    assert seen == list(range(1, seen[-1] + 1))  # contiguous: nothing lost, nothing twice
    replay = events_of(http, pred["id"], params={"after": "0"})
    assert numbered(replay) == seen
    assert [e["event"] for e in first + rest if "id" in e] == [e["event"] for e in replay if "id" in e]
    final = httpx.Response(200, content=[e for e in rest if "id" in e][-1]["data"]).json()
    assert final["prediction"]["status"] == "completed" and final["type"] == "status_changed"
    progress = [e for e in replay if e.get("event") == "progress"]
    assert len(progress) == 6  # one per page


def test_events_of_a_finished_prediction_start_with_a_snapshot_then_end(http):
    pred = http.post("/image/generate", json={"domain": "document.ocr", "images": [png_data_url(["snap"])]}).json()
    events = events_of(http, pred["id"])
    assert [e["event"] for e in events] == ["snapshot", "done"]
    assert int(events[0]["id"]) == httpx.Response(200, content=events[0]["data"]).json()["sequence"]


def test_generate_with_stream_true_answers_with_the_event_stream(http):
    body = {"domain": "document.ocr", "images": [png_data_url(["streamed", "answer"])], "stream": True}
    with http.stream("POST", "/image/generate", json=body) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        events = sse_events(resp)
    assert numbered(events)[0] == 1 and events[-1]["data"] == "[DONE]"
    last = httpx.Response(200, content=[e for e in events if "id" in e][-1]["data"]).json()
    assert last["prediction"]["status"] == "completed"
    assert "streamed" in last["prediction"]["response"]["text"]


def test_a_rest_prediction_is_watched_over_grpc_and_a_grpc_one_read_over_rest(http, server):
    pred = submit_document(http, pdf(2))
    with VLMClient(server.target, timeout=60) as grpc_client:
        final = list(grpc_client.predictions.watch(pred["id"]))[-1]
        assert final.prediction.status == "completed" and final.prediction.id == pred["id"]
        made = grpc_client.image.generate(images=[text_png(["from grpc"])], domain="document.ocr")
    got = http.get(f"/predictions/{made.id}").json()
    assert got["status"] == "completed" and "from grpc" in got["response"]["text"]
    assert got["usage"]["element_type"] == "image"


def test_pause_resume_cancel(http):
    pred = submit_document(http, pdf(30, scanned=True))
    paused = http.post(f"/predictions/{pred['id']}/pause")
    assert paused.status_code == 200, paused.text
    if paused.json()["status"] == "completed":
        pytest.skip("the document finished before the pause")
    assert paused.json()["status"] == "paused"
    resumed = http.post(f"/predictions/{pred['id']}/resume").json()
    assert resumed["status"] == "enqueued"
    cancelled = http.post(f"/predictions/{pred['id']}/cancel")
    if cancelled.status_code == 200:
        assert cancelled.json()["status"] == "failed"
        assert cancelled.json()["error"]["reason"] == "CANCELLED"
    again = http.post(f"/predictions/{pred['id']}/cancel")  # terminal now: a failed precondition
    assert again.status_code == 400 and again.json()["error"]["type"] == "ALREADY_TERMINAL"


def test_a_retried_generate_with_the_same_id_makes_one_prediction(http):
    body = {"domain": "document.ocr", "images": [png_data_url(["once"])], "batch": True, "id": uuid.uuid4().hex}
    first, second = http.post("/image/generate", json=body).json(), http.post("/image/generate", json=body).json()
    assert first["id"] == second["id"]
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body.pop("id")
    assert (http.post("/image/generate", json=body, headers=key).json()["id"]
            == http.post("/image/generate", json=body, headers=key).json()["id"])


def test_openapi_lists_exactly_what_is_served_and_answers_follow_it(http):
    doc = http.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    for path, operations in doc["paths"].items():
        for method in operations:
            resp = http.request(method.upper(), path.removeprefix("/v1").replace("{", "").replace("}", ""),
                                headers={"Last-Event-ID": "abc"})
            kind = resp.json()["error"]["type"] if resp.headers.get("content-type", "").startswith(
                "application/json") and resp.status_code >= 400 else ""
            assert kind not in ("ROUTE_NOT_FOUND", "METHOD_NOT_ALLOWED"), (method, path)
    assert http.get("/no/such/route").json()["error"]["type"] == "ROUTE_NOT_FOUND"

    def check(component: str, value) -> None:
        schema = {"$ref": f"#/components/schemas/{component}", "components": doc["components"]}
        errors = list(Draft202012Validator(schema).iter_errors(value))
        assert not errors, (component, errors[0].message)

    pred = http.post("/image/generate", json={"domain": "document.ocr", "images": [png_data_url(["doc"])]}).json()
    check("PredictionResponse", pred)
    file = upload(http, "a.png", text_png(["file"]))
    check("FileResponse", file)
    for item in http.get("/models").json():
        check("ModelInfo", item)
    for item in http.get("/domains").json():
        check("DomainInfo", item)
    check("SchemaResponse", http.post("/schema", json={"domain": "document.invoice"}).json())
    check("ErrorResponse", http.get("/predictions/nope").json())
    check("HealthResponse", http.get("/health").json())


# --- hostile input


def assert_error(resp: httpx.Response, status: int, kind: str) -> None:
    assert resp.status_code == status, (resp.status_code, resp.text[:500])
    body = resp.json()
    assert body["error"]["type"] == kind, body
    assert body["error"]["message"] and resp.headers["X-Request-Id"] == body["error"]["id"]


def test_bad_json_and_bad_fields(http):
    headers = {"Content-Type": "application/json"}
    assert_error(http.post("/image/generate", content=b"{not json", headers=headers), 400, "INVALID_JSON")
    assert_error(http.post("/image/generate", content=b"\xff\xfe", headers=headers), 400, "INVALID_JSON")
    assert_error(http.post("/image/generate", content=b"[1, 2]", headers=headers), 400, "INVALID_JSON")
    bad_types = http.post("/image/generate", json={"domain": 3, "images": "x", "batch": "maybe"})
    assert_error(bad_types, 400, "INVALID_REQUEST")
    assert {"domain", "images", "batch"} <= {v["field"] for v in bad_types.json()["error"]["violations"]}
    assert_error(http.post("/image/generate", json={"domain": "document.ocr", "images": ["%%%"]}), 400,
                 "INVALID_IMAGE")
    assert_error(http.post("/image/generate", json={"domain": "document.ocr", "images": ["data:image/png,xx"]}),
                 400, "INVALID_URL")
    assert_error(http.post("/image/generate", json={"domain": "document.ocr",
                                                    "images": [base64.b64encode(b"not an image").decode()]}),
                 400, "UNSUPPORTED_MEDIA_TYPE")
    assert_error(http.post("/document/generate", json={"domain": "document.ocr"}), 400, "MISSING_INPUT")
    assert_error(http.post("/image/generate", json={"domain": "document.ocr", "images": [png_data_url(["x"])],
                                                    "config": {"temperature": 9}}), 400, "INVALID_CONFIG")
    assert_error(http.get("/predictions", params={"limit": "abc"}), 400, "INVALID_QUERY")
    assert_error(http.get("/predictions", params={"skip": "-1"}), 400, "INVALID_QUERY")
    assert_error(http.get("/predictions", params={"status": "done"}), 400, "INVALID_STATUS")


def test_wrong_content_types(http):
    assert_error(http.post("/image/generate", content=b"domain=x", headers={"Content-Type": "text/plain"}), 415,
                 "UNSUPPORTED_CONTENT_TYPE")
    assert_error(http.post("/image/generate", files={"file": ("a", b"x")}), 415, "UNSUPPORTED_CONTENT_TYPE")
    assert_error(http.post("/files", json={"file": "x"}), 415, "UNSUPPORTED_CONTENT_TYPE")
    assert_error(http.post("/files", files={"other": ("a.png", b"x")}), 400, "MISSING_FILE")
    assert_error(http.post("/files", files={"file": ("empty.png", b"")}), 400, "EMPTY_FILE")
    assert_error(http.delete("/models"), 405, "METHOD_NOT_ALLOWED")


def test_huge_bodies_are_refused_before_they_are_read(http, server):
    answer = raw_request(server, b"POST /v1/image/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                                 b"\r\nContent-Length: 10000000000\r\n\r\n{")
    assert answer.startswith("HTTP/1.1 413") and "REQUEST_TOO_LARGE" in answer
    too_big = b"\0" * (4 * 1024 * 1024 + 1)  # the shared server's max_upload_bytes is 4 MiB
    assert_error(http.post("/files", files={"file": ("big.bin", too_big)}), 400, "UPLOAD_TOO_LARGE")


def raw_request(server, head: bytes) -> str:
    """What the server answers to bytes sent as they are (no client normalises the path or the headers)."""
    parts = urlsplit(rest_url(server))
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head)
        return sock.recv(65536).decode(errors="replace")


def test_path_tricks_find_nothing(http, server):
    assert_error(http.get("/files/..%2F..%2Fetc%2Fpasswd"), 404, "FILE_NOT_FOUND")
    assert_error(http.get("/predictions/..%2F..%2Fvlmgrpc.sqlite3"), 404, "PREDICTION_NOT_FOUND")
    assert_error(http.get("/files/hash/..%2F..%2Fpresign.key"), 400, "INVALID_MD5")
    assert_error(http.get("/files/verify-upload/..%2Fpresign.key"), 404, "UPLOAD_NOT_FOUND")
    assert_error(http.put("/files/presigned/upload-" + "0" * 32, content=b"x",
                          params={"expires": "9999999999", "signature": "00"}), 403, "INVALID_SIGNATURE")
    for path in (b"/v1/../../etc/passwd", b"/v1/files/../../../etc/passwd", b"/v1/files/%2e%2e/%2e%2e/x"):
        answer = raw_request(server, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert answer.split(" ", 2)[1] in ("400", "404"), answer[:300]
        assert '"error"' in answer
    assert_error(http.get("/predictions/x/events", headers={"Last-Event-ID": "-1"}), 400, "INVALID_LAST_EVENT_ID")


def test_resume_point_beyond_the_last_event(http):
    pred = http.post("/image/generate", json={"domain": "document.ocr", "images": [png_data_url(["r"])]}).json()
    assert_error(http.get(f"/predictions/{pred['id']}/events", headers={"Last-Event-ID": "999"}), 400,
                 "RESUME_POINT_IN_FUTURE")
