"""The sync and asyncio facades are kept in step by hand: the same resources, methods and parameters, the
asyncio ones awaitable (or async iterators for streams)."""

from __future__ import annotations

import inspect

import pytest

from vlmgrpc_client import AsyncVLMClient, VLMClient

RESOURCES = ("image", "document", "predictions", "files", "hub", "models")
STREAMS = {"generate_stream", "watch"}


def public_methods(obj) -> dict:
    return {name: getattr(obj, name) for name in dir(obj) if not name.startswith("_")
            and callable(getattr(obj, name))}


@pytest.mark.parametrize("resource", RESOURCES)
def test_same_methods_and_parameters(resource):
    sync = public_methods(getattr(VLMClient("127.0.0.1:1"), resource))
    aio = public_methods(getattr(AsyncVLMClient("127.0.0.1:1"), resource))
    assert sync.keys() == aio.keys()
    for name, method in sync.items():
        parameters = inspect.signature(method).parameters  # return types differ: Iterator / AsyncIterator
        assert parameters == inspect.signature(aio[name]).parameters, f"{resource}.{name}"
        if name in STREAMS:
            assert inspect.isgeneratorfunction(method) and inspect.isasyncgenfunction(aio[name])
        else:
            assert not inspect.iscoroutinefunction(method) and inspect.iscoroutinefunction(aio[name]), name


def test_same_constructor():
    assert inspect.signature(VLMClient) == inspect.signature(AsyncVLMClient)
