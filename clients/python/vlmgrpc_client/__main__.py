"""`python -m vlmgrpc_client ocr FILE`: send an image or PDF, follow its status, print the result."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from google.protobuf import json_format

from vlmgrpc.api.vlm.v1 import document_service_pb2, prediction_pb2
from vlmgrpc_client import Client


async def _ocr(target: str, path: Path, domain: str) -> None:
    async with Client(target) as client:
        request = document_service_pb2.DocumentServiceGenerateStreamRequest(
            domain=domain, document=prediction_pb2.DocumentInput(data=path.read_bytes()))
        async for msg in client.documents.GenerateStream(request):
            ev = msg.event
            p = ev.prediction
            status = prediction_pb2.PredictionStatus.Name(p.status).removeprefix("PREDICTION_STATUS_").lower()
            print(f"#{ev.sequence} {status} {p.progress.done}/{p.progress.total}")
            if p.HasField("response"):
                print(json.dumps(json_format.MessageToDict(p.response), indent=2)[:4000])
            if p.HasField("error"):
                print("error:", p.error.message)


def main() -> None:
    parser = argparse.ArgumentParser(prog="vlmgrpc_client")
    parser.add_argument("--target", default="127.0.0.1:50051")
    sub = parser.add_subparsers(dest="command", required=True)
    ocr = sub.add_parser("ocr", help="OCR an image or PDF through DocumentService.GenerateStream")
    ocr.add_argument("file", type=Path)
    ocr.add_argument("--domain", default="document.ocr")
    args = parser.parse_args()
    asyncio.run(_ocr(args.target, args.file, args.domain))


if __name__ == "__main__":
    main()
