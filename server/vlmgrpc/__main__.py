"""`python -m vlmgrpc serve [--flag value ...]`: every Settings field is also a flag."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from vlmgrpc.settings import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vlm-grpc", description="gRPC service for vision-language jobs")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the service (embedded Triton unless --triton-url is given)")
    for name, field in Settings.model_fields.items():
        serve.add_argument("--" + name.replace("_", "-"), dest=name, default=None,
                           help=f"{field.description or ''} (env VLMGRPC_{name.upper()}, default {field.default})")
    serve.add_argument("--log-level", default="INFO")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides = {k: v for k, v in vars(args).items() if k in Settings.model_fields and v is not None}
    settings = Settings(**overrides)

    def ready(app) -> None:
        s = app.settings
        print(f"vlm-grpc is serving on {s.host}:{app.port} (Ctrl-C stops it). Try:\n"
              f"  {sys.executable} -m vlmgrpc_client --target {s.host}:{app.port} ocr <image-or-pdf>\n"
              f"  grpcurl -plaintext {s.host}:{app.port} list", flush=True)

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    from vlmgrpc.app import serve

    asyncio.run(serve(settings, on_ready=ready))


if __name__ == "__main__":
    main()
