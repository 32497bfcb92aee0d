"""The upload benchmark's baseline: a grpc.aio server that does nothing with what it receives.

One generic client-streaming method, /bench.RawSink/Upload, with no deserializer, so each message
arrives as the raw bytes that crossed the wire; it counts them and answers the total (ASCII digits).
That is the cost of moving bytes through gRPC in Python with no work, for FileService.UploadFile to
be compared against. Like the service (`python -m vlmgrpc serve`), it runs on uvloop when installed
and takes the same message-size options.

    python -m bench.raw_sink [--port 0]   # prints "raw-sink serving on 127.0.0.1:PORT"
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import grpc

SERVICE = "bench.RawSink"
METHOD = f"/{SERVICE}/Upload"
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # as the service's default max_message_bytes


async def upload(request_iterator, context: grpc.aio.ServicerContext) -> bytes:
    total = 0
    async for message in request_iterator:
        total += len(message)
    return str(total).encode()


async def serve(host: str, port: int) -> None:
    server = grpc.aio.server(options=[
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ])
    handler = grpc.stream_unary_rpc_method_handler(upload, request_deserializer=None, response_serializer=None)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"Upload": handler}),))
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    print(f"raw-sink serving on {host}:{bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:  # as vlmgrpc/__main__.py does: the same event loop as the service
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
