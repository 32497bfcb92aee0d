"""UploadFile's zero-copy request parser (servicers/files.py) against protobuf's own."""

from __future__ import annotations

import pytest
from google.protobuf.message import DecodeError
from hypothesis import given, settings
from hypothesis import strategies as st

from vlmgrpc.api.vlm.v1 import file_service_pb2 as pb
from vlmgrpc.servicers.files import ChunkView, parse_upload_request


def _protobuf(data: bytes) -> tuple[str | None, bytes | None]:
    msg = pb.UploadFileRequest.FromString(data)
    which = msg.WhichOneof("content")
    return which, msg.chunk if which == "chunk" else None


@pytest.mark.parametrize("size", [0, 1, 127, 128, 300, 16_383, 16_384, 1 << 20])
def test_a_chunk_message_becomes_a_view_of_the_same_bytes(size):
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    data = pb.UploadFileRequest(chunk=payload).SerializeToString()
    parsed = parse_upload_request(data)
    assert isinstance(parsed, ChunkView) and parsed.WhichOneof("content") == "chunk"
    assert parsed.chunk.obj is data  # a view, not a copy
    assert bytes(parsed.chunk) == payload


def test_metadata_and_mixed_messages_go_through_protobuf():
    meta = pb.UploadFileRequest(metadata=pb.UploadFileMetadata(filename="a.pdf", size_bytes=3)).SerializeToString()
    parsed = parse_upload_request(meta)
    assert isinstance(parsed, pb.UploadFileRequest) and parsed.metadata.filename == "a.pdf"
    two = pb.UploadFileRequest(chunk=b"first").SerializeToString() + pb.UploadFileRequest(
        chunk=b"second").SerializeToString()
    parsed = parse_upload_request(two)  # a repeated field: the last one wins, as protobuf says
    assert isinstance(parsed, pb.UploadFileRequest) and parsed.chunk == b"second"
    assert parse_upload_request(b"").WhichOneof("content") is None


def test_an_over_long_length_is_left_to_protobuf():
    with pytest.raises(DecodeError):
        parse_upload_request(b"\x12\x05abc")  # says 5 bytes, has 3
    with pytest.raises(DecodeError):
        parse_upload_request(b"\x12" + b"\xff" * 11)  # a varint longer than 10 bytes


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.binary(max_size=64), st.binary(max_size=40).map(lambda b: b"\x12" + b),
                 st.binary(max_size=300).map(lambda b: pb.UploadFileRequest(chunk=b).SerializeToString())))
def test_agrees_with_protobuf_on_any_bytes(data):
    try:
        expected = _protobuf(data)
    except DecodeError:
        with pytest.raises(DecodeError):
            parse_upload_request(data)
        return
    parsed = parse_upload_request(data)
    which = parsed.WhichOneof("content")
    assert (which, bytes(parsed.chunk) if which == "chunk" else None) == expected
