"""vlmctl: the command line of vlm-grpc (also `python -m vlmgrpc_client`).

Target and token come from --target / --token, else $VLMGRPC_TARGET / $VLMGRPC_TOKEN, else 127.0.0.1:50051 and
none. Results print as JSON on stdout; the live status goes to stderr, so `vlmctl generate ... > out.json` works.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from vlmgrpc_client import errors
from vlmgrpc_client.cli_args import (  # noqa: F401 - the exit codes are this module's interface too
    BAD_INPUT,
    ERROR,
    INTERRUPTED,
    NOT_FOUND,
    OK,
    PREDICTION_FAILED,
    TIMED_OUT,
    UNAUTHENTICATED,
    UNREACHABLE,
    parser,
)
from vlmgrpc_client.cli_output import Live, size, table, to_json
from vlmgrpc_client.retry import RetryPolicy
from vlmgrpc_client.sync_client import VLMClient
from vlmgrpc_client.transport import TARGET_ENV, TOKEN_ENV
from vlmgrpc_client.types import GenerationConfig, Prediction


def exit_code(exc: errors.VLMError) -> int:
    if isinstance(exc, errors.PredictionFailedError):
        return PREDICTION_FAILED
    if isinstance(exc, errors.NotFoundError):
        return NOT_FOUND
    if isinstance(exc, (errors.InvalidArgumentError, errors.FailedPreconditionError, errors.OutOfRangeError,
                        errors.AlreadyExistsError)):
        return BAD_INPUT
    if isinstance(exc, errors.UnavailableError):
        return UNREACHABLE
    if isinstance(exc, (errors.AuthenticationError, errors.PermissionDeniedError)):
        return UNAUTHENTICATED
    if isinstance(exc, errors.DeadlineExceededError):
        return TIMED_OUT
    return ERROR


def describe(exc: errors.VLMError, target: str) -> str:
    if isinstance(exc, errors.UnavailableError) and not exc.reason:
        return (f"cannot reach the server at {target} ({exc.message}). Is it running? "
                f"Give its address with --target or ${TARGET_ENV}.")
    if isinstance(exc, errors.AuthenticationError):
        return f"{exc} (give a token with --token or ${TOKEN_ENV})"
    if isinstance(exc, errors.PredictionFailedError) and exc.prediction is not None:
        return f"prediction {exc.prediction.id} failed: {exc}"
    return str(exc)


# --- commands


def cmd_generate(client: VLMClient, args: argparse.Namespace) -> int:
    config = _config(args)
    common = dict(domain=args.domain, model=args.model, config=config, request_id=args.request_id,
                  callback_url=args.callback_url)
    as_image = _as_image(args)
    live = Live(quiet=args.quiet)
    try:
        if args.no_follow:
            if as_image:
                prediction = client.image.generate(args.inputs, batch=True, **common)
            else:
                prediction = client.document.generate(_document(args), batch=True, progress=live.upload, **common)
            live.status(prediction.id, prediction.status, prediction.progress.done, prediction.progress.total)
            return _emit(prediction, args)
        if as_image:
            events = client.image.generate_stream(args.inputs, timeout=args.wait_timeout, **common)
        else:
            events = client.document.generate_stream(_document(args), timeout=args.wait_timeout,
                                                     progress=live.upload, **common)
        prediction = _follow(live, events)
    finally:
        live.close()
    return _finish(prediction, args)


def cmd_get(client: VLMClient, args: argparse.Namespace) -> int:
    return _emit(client.predictions.get(args.id), args)


def cmd_list(client: VLMClient, args: argparse.Namespace) -> int:
    page = client.predictions.list(page_size=args.limit, page_token=args.page_token, status=args.status,
                                   domain=args.domain, view="full" if args.full else "basic")
    if args.json:
        print(to_json({"predictions": [p.model_dump(mode="json") for p in page],
                       "next_page_token": page.next_page_token}))
        return OK
    table([(p.id, p.status, p.domain, f"{p.progress.done}/{p.progress.total}",
            p.created_at.isoformat(timespec="seconds") if p.created_at else "") for p in page],
          ("ID", "STATUS", "DOMAIN", "PROGRESS", "CREATED"))
    if page.next_page_token:
        print(f"(more: --page-token {page.next_page_token})", file=sys.stderr)
    return OK


def cmd_watch(client: VLMClient, args: argparse.Namespace) -> int:
    live = Live(quiet=args.quiet)
    try:
        if args.events:
            last = None
            for event in client.predictions.watch(args.id, after_sequence=args.after, timeout=args.wait_timeout):
                print(event.model_dump_json(exclude_none=True), flush=True)
                last = event.prediction or last
            prediction = last or client.predictions.get(args.id)
        else:
            prediction = _follow(live, client.predictions.watch(args.id, after_sequence=args.after,
                                                                timeout=args.wait_timeout))
            prediction = prediction or client.predictions.get(args.id)
    finally:
        live.close()
    return _finish(prediction, args) if not args.events else _exit_for(prediction)


def cmd_wait(client: VLMClient, args: argparse.Namespace) -> int:
    return _emit(client.predictions.wait(args.id, timeout=args.wait_timeout), args)


def cmd_steer(client: VLMClient, args: argparse.Namespace) -> int:
    method = {"cancel": client.predictions.cancel, "pause": client.predictions.pause,
              "resume": client.predictions.resume}[args.command]
    prediction = method(args.id)
    print(f"{prediction.id} {prediction.status}", file=sys.stderr)
    return _emit(prediction, args)


def cmd_domains(client: VLMClient, args: argparse.Namespace) -> int:
    domains = client.hub.list_domains(served_only=args.served)
    if args.json:
        print(to_json(domains))
        return OK
    table([(d.domain, "yes" if d.served else "no", ",".join(d.models), d.description[:60]) for d in domains],
          ("DOMAIN", "SERVED", "MODELS", "DESCRIPTION"))
    return OK


def cmd_models(client: VLMClient, args: argparse.Namespace) -> int:
    models = client.models.list()
    if args.json:
        print(to_json(models))
        return OK
    table([(m.id, m.engine, "yes" if m.ready else "no", len(m.domains), ",".join(m.domains)[:70]) for m in models],
          ("MODEL", "ENGINE", "READY", "DOMAINS", ""))
    return OK


def cmd_schema(client: VLMClient, args: argparse.Namespace) -> int:
    schema = client.hub.get_schema(args.domain, grounding=args.grounding, confidence=args.confidence)
    print(to_json(schema if args.full else schema.json_schema))
    return OK


def cmd_files(client: VLMClient, args: argparse.Namespace) -> int:
    if args.files_command == "upload":
        live = Live(quiet=args.quiet)
        try:
            info = client.files.upload(args.path, purpose=args.purpose or "", progress=live.upload)
        finally:
            live.close()
        print(to_json(info))
    elif args.files_command == "list":
        page = client.files.list(page_size=args.limit, page_token=args.page_token)
        if args.json:
            print(to_json({"files": [f.model_dump(mode="json") for f in page],
                           "next_page_token": page.next_page_token}))
        else:
            table([(f.id, f.filename, size(f.bytes), f.detected_type,
                    f.created_at.isoformat(timespec="seconds") if f.created_at else "") for f in page],
                  ("ID", "FILENAME", "SIZE", "TYPE", "CREATED"))
    elif args.files_command == "get":
        print(to_json(client.files.get(args.id)))
    elif args.files_command == "delete":
        client.files.delete(args.id)
        print(f"deleted {args.id}", file=sys.stderr)
    return OK


# --- helpers


def _config(args: argparse.Namespace) -> GenerationConfig | None:
    data: dict[str, Any] = {}
    if args.config:
        text = Path(args.config[1:]).read_text() if args.config.startswith("@") else args.config
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise errors.InputError(f"--config is not JSON: {exc}", reason="INVALID_CONFIG") from None
    for key in ("prompt", "grounding", "confidence"):
        if getattr(args, key):
            data[key] = getattr(args, key)
    if args.pages:
        try:
            data["page_indices"] = [int(p) for p in args.pages.split(",")]
        except ValueError:
            raise errors.InputError("--pages takes 0-based page numbers: 0,1,2", reason="INVALID_PAGES") from None
    try:
        return GenerationConfig.model_validate(data) if data else None
    except ValueError as exc:
        raise errors.InputError(f"--config: {exc}", reason="INVALID_CONFIG") from None


def _as_image(args: argparse.Namespace) -> bool:
    """Images go to ImageService, a document to DocumentService; `auto` decides by the domain and inputs."""
    if args.service != "auto":
        return args.service == "image"
    if len(args.inputs) > 1 or args.domain.startswith("image."):
        return True
    return False  # one input: a document (DocumentService takes a single image too)


def _document(args: argparse.Namespace) -> Any:
    if len(args.inputs) != 1:
        raise errors.InputError("a document is one file, URL or file id", reason="ONE_DOCUMENT")
    return args.inputs[0]


def _follow(live: Live, events) -> Prediction | None:
    last = None
    for event in events:
        if event.output_delta is not None:
            live.delta(event.output_delta.text)
        if event.prediction is not None:
            last = event.prediction
            live.status(last.id, last.status, last.progress.done, last.progress.total, last.message)
    return last


def _finish(prediction: Prediction | None, args: argparse.Namespace) -> int:
    if prediction is None:
        raise errors.ServerError("the stream ended without a prediction")
    if prediction.status == "failed":
        raise errors.from_prediction(prediction)
    return _emit(prediction, args)


def _exit_for(prediction: Prediction) -> int:
    return PREDICTION_FAILED if prediction.status == "failed" else OK


def _emit(prediction: Prediction, args: argparse.Namespace) -> int:
    text = to_json(prediction.response if getattr(args, "response_only", False) else prediction)
    if getattr(args, "output", None):
        Path(args.output).write_text(text + "\n")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        print(text)
    return OK


HANDLERS = {"generate": cmd_generate, "get": cmd_get, "wait": cmd_wait, "cancel": cmd_steer, "pause": cmd_steer,
            "resume": cmd_steer, "watch": cmd_watch, "list": cmd_list, "domains": cmd_domains,
            "models": cmd_models, "schema": cmd_schema, "files": cmd_files}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        client = VLMClient(args.target, token=args.token, timeout=args.timeout,
                           retry=RetryPolicy(max_attempts=max(1, args.retries)), tls=args.tls or None,
                           root_certificates=args.ca_cert, certificate_chain=args.client_cert,
                           private_key=args.client_key, server_name=args.server_name)
    except (OSError, ValueError) as exc:  # a certificate file that cannot be read, a cert without its key
        print(f"vlmctl: {exc}", file=sys.stderr)
        return BAD_INPUT
    try:
        return HANDLERS[args.handler](client, args)
    except errors.VLMError as exc:
        print(f"vlmctl: {describe(exc, client.target)}", file=sys.stderr)
        return exit_code(exc)
    except OSError as exc:  # a file that cannot be read or written
        print(f"vlmctl: {exc}", file=sys.stderr)
        return BAD_INPUT
    except KeyboardInterrupt:
        print("vlmctl: interrupted", file=sys.stderr)
        return INTERRUPTED
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
