"""`python -m vlmgrpc serve [--flag value ...]`: every Settings field is also a flag."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from vlmgrpc.observability import logcontext
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
    logcontext.install()  # before the first record: the format reads %(context)s
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s%(context)s")
    overrides = {k: v for k, v in vars(args).items() if k in Settings.model_fields and v is not None}
    settings = Settings(**overrides)

    def ready(app) -> None:
        s = app.settings
        mtls = " --client-cert <client.crt> --client-key <client.key>" if s.tls_client_ca_file else ""
        tls = f" --ca-cert <ca.crt>{mtls}" if s.tls_cert_file else ""
        grpcurl = f"-cacert <ca.crt>{mtls.replace('--client-', '-')}" if tls else "-plaintext"
        print(f"vlm-grpc is serving on {s.host}:{app.port} (Ctrl-C stops it). Try:\n"
              f"  {sys.executable} -m vlmgrpc_client --target {s.host}:{app.port}{tls} ocr <image-or-pdf>\n"
              f"  grpcurl {grpcurl} {s.host}:{app.port} list", flush=True)
        if app.rest.url:
            print(f"The VLM Run REST API is at {app.rest.url} (the vlmrun SDK's base_url; see README).", flush=True)

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    from vlmgrpc.app import serve

    asyncio.run(serve(settings, on_ready=ready))


if __name__ == "__main__":
    main()
