"""vlmctl's interface: its arguments and its exit codes."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vlmgrpc_client import __version__
from vlmgrpc_client.transport import (
    CA_CERT_ENV,
    CLIENT_CERT_ENV,
    CLIENT_KEY_ENV,
    DEFAULT_TARGET,
    SERVER_NAME_ENV,
    TARGET_ENV,
    TLS_ENV,
    TOKEN_ENV,
)

# Exit codes: distinct for what a script needs to tell apart.
OK, ERROR, BAD_INPUT, NOT_FOUND, PREDICTION_FAILED, UNREACHABLE, UNAUTHENTICATED, TIMED_OUT = 0, 1, 2, 3, 4, 5, 6, 7
INTERRUPTED = 130
EXIT_CODES = f"""exit codes:
  {OK}  success
  {ERROR}  any other error (the server's fault: INTERNAL, ...)
  {BAD_INPUT}  bad input: usage, a missing file, INVALID_ARGUMENT, FAILED_PRECONDITION (e.g. DOMAIN_NOT_SERVED)
  {NOT_FOUND}  not found: no such prediction, file or schema
  {PREDICTION_FAILED}  the prediction failed (its reason is printed)
  {UNREACHABLE}  the server is unreachable or unavailable (after retries)
  {UNAUTHENTICATED}  the token is missing or not valid
  {TIMED_OUT}  a deadline passed
"""



def _connection_options(p: argparse.ArgumentParser, defaults: bool) -> None:
    """The options every command takes, before or after its name (after it, they override)."""
    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    p.add_argument("--target", default=default(None), help=f"host:port (default ${TARGET_ENV}, else {DEFAULT_TARGET})")
    p.add_argument("--token", default=default(None), help=f"bearer token (default ${TOKEN_ENV})")
    p.add_argument("--tls", action="store_true", default=default(None),
                   help=f"connect with TLS, trusting the system's CAs (default ${TLS_ENV}=1; implied by the next ones)")
    p.add_argument("--ca-cert", default=default(None), metavar="PEM",
                   help=f"CA certificate(s) the server's certificate must chain to (default ${CA_CERT_ENV})")
    p.add_argument("--client-cert", default=default(None), metavar="PEM",
                   help=f"client certificate for mutual TLS (default ${CLIENT_CERT_ENV})")
    p.add_argument("--client-key", default=default(None), metavar="PEM",
                   help=f"private key of --client-cert (default ${CLIENT_KEY_ENV})")
    p.add_argument("--server-name", default=default(None),
                   help=f"the name to check the server's certificate for (default ${SERVER_NAME_ENV}, else the host)")
    p.add_argument("--timeout", type=float, default=default(120.0),
                   help="deadline of each call in seconds, retries included (default 120)")
    p.add_argument("--retries", type=int, default=default(5),
                   help="attempts of a call that fails UNAVAILABLE (default 5; 1: no retry)")
    p.add_argument("--json", action="store_true", default=default(False), help="listings as JSON, not tables")
    p.add_argument("-q", "--quiet", action="store_true", default=default(False), help="no live status on stderr")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vlmctl", description="Command line of vlm-grpc (the VLM Run API over gRPC).",
                                epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    _connection_options(p, defaults=True)
    p.add_argument("--version", action="version", version=f"vlmctl {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    _connection_options(common, defaults=False)
    subparsers = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    class Sub:  # every command gets the connection options too
        @staticmethod
        def add_parser(name: str, **kwargs: Any) -> argparse.ArgumentParser:
            return subparsers.add_parser(name, parents=[common], **kwargs)

    sub = Sub()

    def output(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("-o", "--output", help="save the prediction as JSON to this file")
        cmd.add_argument("--response-only", action="store_true", help="print only the response, not the prediction")

    def generate(name: str, help_text: str, default_domain: str | None) -> None:
        g = sub.add_parser(name, help=help_text, description=help_text)
        g.add_argument("inputs", nargs="+", metavar="INPUT",
                       help="image or document: a path, an http(s) URL or a file id (file-...)")
        g.add_argument("-d", "--domain", required=default_domain is None, default=default_domain,
                       help="e.g. document.ocr, document.markdown, document.invoice, image.object-detection")
        g.add_argument("--service", choices=("auto", "image", "document"), default="auto",
                       help="ImageService (several images) or DocumentService (one PDF, Office file or image); "
                            "auto: image for image.* domains or several inputs")
        g.add_argument("-m", "--model", help="a model of `vlmctl models` (default: the first serving the domain)")
        g.add_argument("--prompt")
        g.add_argument("--grounding", action="store_true", help="bounding boxes in <field>_metadata")
        g.add_argument("--confidence", action="store_true", help="confidence in <field>_metadata")
        g.add_argument("--pages", help="0-based pages of a document, comma separated")
        g.add_argument("--config", help="GenerationConfig as JSON, or @file.json")
        g.add_argument("--request-id", help="idempotency key (default: a new UUID)")
        g.add_argument("--callback-url")
        g.add_argument("--no-follow", action="store_true", help="submit (batch) and print the accepted prediction")
        g.add_argument("--wait-timeout", type=float, default=None, help="stop following after this many seconds")
        output(g)
        g.set_defaults(handler="generate")

    generate("generate", "submit images or a document and follow the prediction live", None)
    generate("ocr", "the same as generate --domain document.ocr", "document.ocr")

    for name, help_text in (("get", "show a prediction"), ("wait", "wait until terminal"),
                            ("cancel", "cancel a prediction"),
                            ("pause", "pause a prediction (documents pause between pages)"),
                            ("resume", "resume a paused prediction")):
        c = sub.add_parser(name, help=help_text, description=help_text)
        c.add_argument("id")
        if name == "wait":
            c.add_argument("--wait-timeout", type=float, default=600.0, help="seconds (default 600)")
        output(c)
        c.set_defaults(handler=name)

    w = sub.add_parser("watch", help="follow a prediction's events live", description="follow a prediction live")
    w.add_argument("id")
    w.add_argument("--after", type=int, help="resume after this sequence number")
    w.add_argument("--events", action="store_true", help="print every event as a JSON line instead")
    w.add_argument("--wait-timeout", type=float, default=None)
    output(w)
    w.set_defaults(handler="watch")

    ls = sub.add_parser("list", help="list predictions, newest first")
    ls.add_argument("--status", choices=("pending", "enqueued", "running", "completed", "failed", "paused"))
    ls.add_argument("--domain")
    ls.add_argument("--limit", type=int, default=20)
    ls.add_argument("--page-token", default="")
    ls.add_argument("--full", action="store_true", help="include each prediction's response (with --json)")
    ls.set_defaults(handler="list")

    d = sub.add_parser("domains", help="list the domains")
    d.add_argument("--served", action="store_true", help="only those a loaded model serves")
    d.set_defaults(handler="domains")
    sub.add_parser("models", help="list the models").set_defaults(handler="models")
    s = sub.add_parser("schema", help="show a domain's JSON schema")
    s.add_argument("domain")
    s.add_argument("--grounding", action="store_true")
    s.add_argument("--confidence", action="store_true")
    s.add_argument("--full", action="store_true", help="with description, version, hash and gql_stmt")
    s.set_defaults(handler="schema")

    f = sub.add_parser("files", help="upload, list, show and delete files")
    fsub = f.add_subparsers(dest="files_command", required=True, metavar="FILES_COMMAND")
    up = fsub.add_parser("upload", help="upload a file (streamed; size and SHA-256 checked)")
    up.add_argument("path", type=Path)
    up.add_argument("--purpose")
    fl = fsub.add_parser("list", help="list files, newest first")
    fl.add_argument("--limit", type=int, default=50)
    fl.add_argument("--page-token", default="")
    for name in ("get", "delete"):
        fsub.add_parser(name, help=f"{name} a file").add_argument("id")
    f.set_defaults(handler="files")
    return p
