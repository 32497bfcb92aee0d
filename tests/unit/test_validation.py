"""Submission checks without I/O (jobs/validation.py) and the request fingerprint."""

from __future__ import annotations

import pytest

from vlmgrpc.errors import Code, ServiceError
from vlmgrpc.jobs.model import Kind
from vlmgrpc.jobs.validation import MAX_REQUEST_ID, RawInput, Submission, validate

PNG_HEAD = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _sub(**kw) -> Submission:
    base = dict(owner="alice", kind=Kind.IMAGE, domain="image.caption", inputs=[RawInput(data=PNG_HEAD)],
                batch=False)
    base.update(kw)
    return Submission(**base)


def _check(sub: Submission, *, known: bool = True, max_images: int = 4) -> None:
    validate(sub, known=known, max_images=max_images)


def _fails(sub: Submission, reason: str, field: str | None, code: Code = Code.INVALID_ARGUMENT,
           **kw) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        _check(sub, **kw)
    err = info.value
    assert err.reason == reason, err
    assert err.code is code
    if field is None:
        assert err.violations == []
    else:
        assert [f for f, _ in err.violations] == [field]
        assert all(desc for _, desc in err.violations)
    return err


# --- good submissions


def test_good_image_submission_passes():
    sub = _sub(inputs=[RawInput(data=PNG_HEAD), RawInput(url="https://example.com/a.png"),
                       RawInput(file_id="file-123"), RawInput(url="data:image/png;base64,iVBORw0KGgo=")],
               request_id="r" * MAX_REQUEST_ID, callback_url="https://hooks.example.com/vlm",
               config={"detail": "hi", "temperature": 0.7, "max_tokens": 512, "max_retries": 0,
                       "page_indices": [0, 2], "service_tier": "flex"},
               metadata={"environment": "prod"})
    assert _check(sub) is None


def test_good_document_submission_passes():
    sub = _sub(kind=Kind.DOCUMENT, domain="document.ocr", inputs=[RawInput(url="http://example.com/doc.pdf")])
    assert _check(sub) is None


@pytest.mark.parametrize("detail", ["", "auto", "lo", "hi"])
def test_every_detail_value_passes(detail):
    _check(_sub(config={"detail": detail}))


@pytest.mark.parametrize("tier", ["", "auto", "default", "standard", "flex", "priority"])
def test_every_service_tier_passes(tier):
    _check(_sub(config={"service_tier": tier}))


@pytest.mark.parametrize("env", ["", "dev", "staging", "prod"])
def test_every_environment_passes(env):
    _check(_sub(metadata={"environment": env}))


@pytest.mark.parametrize("temperature", [0, 0.0, 1.0, 2.0])
def test_temperature_bounds_are_inclusive(temperature):
    _check(_sub(config={"temperature": temperature}))


# --- id, domain, model


def test_request_id_too_long():
    _fails(_sub(request_id="r" * (MAX_REQUEST_ID + 1)), "REQUEST_ID_TOO_LONG", "id")


def test_missing_domain():
    _fails(_sub(domain=""), "MISSING_DOMAIN", "domain")


def test_unknown_domain():
    err = _fails(_sub(domain="image.nonexistent"), "UNKNOWN_DOMAIN", "domain", known=False)
    assert err.metadata == {"domain": "image.nonexistent"}


@pytest.mark.parametrize("domain", ["nodot", "Image.Caption", "image..caption", "image.caption/../x", " image.caption"])
def test_malformed_domain_is_unknown_even_if_flagged_known(domain):
    _fails(_sub(domain=domain), "UNKNOWN_DOMAIN", "domain", known=True)


def test_first_problem_wins():
    # An unknown domain is reported even though the inputs are missing too.
    _fails(_sub(domain="image.nope", inputs=[]), "UNKNOWN_DOMAIN", "domain", known=False)


# --- inputs


def test_image_submission_without_images():
    _fails(_sub(inputs=[]), "MISSING_INPUT", "images")


def test_too_many_images():
    err = _fails(_sub(inputs=[RawInput(data=PNG_HEAD)] * 3), "TOO_MANY_IMAGES", "images", max_images=2)
    assert err.metadata == {"max_images": "2"}


def test_exactly_max_images_passes():
    _check(_sub(inputs=[RawInput(data=PNG_HEAD)] * 2), max_images=2)


@pytest.mark.parametrize("count", [0, 2])
def test_document_submission_needs_exactly_one_document(count):
    sub = _sub(kind=Kind.DOCUMENT, domain="document.ocr", inputs=[RawInput(file_id="file-1")] * count)
    _fails(sub, "MISSING_INPUT", "document")


@pytest.mark.parametrize("raw", [
    RawInput(data=PNG_HEAD, url="https://example.com/a.png"),
    RawInput(data=PNG_HEAD, file_id="file-1"),
    RawInput(url="https://example.com/a.png", file_id="file-1"),
    RawInput(data=PNG_HEAD, url="https://example.com/a.png", file_id="file-1"),
    RawInput(),
    RawInput(data=b""),
], ids=["data+url", "data+file", "url+file", "all-three", "none", "empty-bytes"])
def test_input_needs_exactly_one_source(raw):
    # The field path names the offending input by its index.
    _fails(_sub(inputs=[RawInput(data=PNG_HEAD), raw]), "MISSING_INPUT", "images[1]")


def test_document_with_two_sources():
    sub = _sub(kind=Kind.DOCUMENT, domain="document.ocr", inputs=[RawInput(data=b"%PDF-1.7", file_id="file-1")])
    _fails(sub, "MISSING_INPUT", "document")


@pytest.mark.parametrize("url", ["ftp://example.com/a.png", "file:///etc/passwd", "example.com/a.png",
                                 "http://", "javascript:alert(1)"])
def test_bad_url(url):
    _fails(_sub(inputs=[RawInput(url=url)]), "INVALID_URL", "images[0].url")


def test_bad_document_url_field_path():
    sub = _sub(kind=Kind.DOCUMENT, domain="document.ocr", inputs=[RawInput(url="gopher://example.com/x")])
    _fails(sub, "INVALID_URL", "document.url")


# --- config and metadata


@pytest.mark.parametrize("config,field", [
    ({"detail": "medium"}, "config.detail"),
    ({"service_tier": "gold"}, "config.service_tier"),
    ({"temperature": -0.01}, "config.temperature"),
    ({"temperature": 2.01}, "config.temperature"),
    ({"temperature": float("nan")}, "config.temperature"),
    ({"max_tokens": 0}, "config.max_tokens"),
    ({"max_tokens": -5}, "config.max_tokens"),
    ({"max_retries": -1}, "config.max_retries"),
    ({"page_indices": [0, -1]}, "config.page_indices"),
    ({"page_indices": [0, 3, 3]}, "config.page_indices"),
])
def test_invalid_config(config, field):
    _fails(_sub(config=config), "INVALID_CONFIG", field)


def test_invalid_environment():
    _fails(_sub(metadata={"environment": "test"}), "INVALID_METADATA", "metadata.environment")


# --- callback_url


@pytest.mark.parametrize("url", ["ftp://hooks.example.com/x", "data:text/plain;base64,aGk=", "hooks.example.com",
                                 "https://"])
def test_invalid_callback_url(url):
    _fails(_sub(callback_url=url), "INVALID_CALLBACK_URL", "callback_url")


# --- fingerprint


def test_fingerprint_is_stable_for_the_same_content():
    a = _sub(config={"detail": "hi", "temperature": 0.5}, metadata={"environment": "dev"})
    b = _sub(config={"temperature": 0.5, "detail": "hi"}, metadata={"environment": "dev"})  # key order ignored
    assert a.fingerprint() == b.fingerprint()
    assert len(a.fingerprint()) == 64
    assert int(a.fingerprint(), 16) >= 0


def test_fingerprint_ignores_owner_and_request_id():
    # The fingerprint identifies the content; who sent it and under which id is the key, not the content.
    assert _sub(owner="a", request_id="x").fingerprint() == _sub(owner="b", request_id="y").fingerprint()


@pytest.mark.parametrize("change", [
    {"inputs": [RawInput(data=PNG_HEAD + b"\x01")]},
    {"inputs": [RawInput(data=PNG_HEAD), RawInput(data=PNG_HEAD)]},
    {"inputs": [RawInput(url="https://example.com/a.png")]},
    {"inputs": [RawInput(file_id="file-1")]},
    {"domain": "document.ocr"},
    {"kind": Kind.DOCUMENT},
    {"config": {"detail": "lo"}},
    {"config": {"temperature": 0.1}},
    {"metadata": {"environment": "prod"}},
    {"callback_url": "https://hooks.example.com/x"},
], ids=["bytes", "more-inputs", "url", "file-id", "domain", "kind", "config-detail", "config-temp", "metadata",
        "callback"])
def test_fingerprint_changes_with_content(change):
    assert _sub(**change).fingerprint() != _sub().fingerprint()


def test_fingerprint_depends_on_input_order():
    one, two = RawInput(data=b"one"), RawInput(data=b"two")
    assert _sub(inputs=[one, two]).fingerprint() != _sub(inputs=[two, one]).fingerprint()


def test_fingerprint_url_and_file_id_do_not_collide():
    assert _sub(inputs=[RawInput(url="abc")]).fingerprint() != _sub(inputs=[RawInput(file_id="abc")]).fingerprint()


# --- config.json_schema (checked on arrival; the answer is validated against it later)


def test_a_valid_json_schema_passes():
    _check(_sub(config={"json_schema": {"type": "object", "properties": {"total": {"type": "number"}},
                                        "required": ["total"]}}))


@pytest.mark.parametrize("schema", [{"type": "objekt"}, {"properties": {"a": {"type": 7}}}, {"required": "a"},
                                    {"minLength": -1}])
def test_an_invalid_json_schema_is_refused_with_the_violation(schema):
    err = _fails(_sub(config={"json_schema": schema}), "INVALID_JSON_SCHEMA", "config.json_schema")
    assert "config.json_schema" in err.message


def test_an_oversized_json_schema_is_refused():
    err = _fails(_sub(config={"json_schema": {"description": "x" * 70_000}}), "INVALID_JSON_SCHEMA",
                 "config.json_schema")
    assert "65536" in err.message
