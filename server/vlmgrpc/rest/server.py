"""The REST server: aiohttp.web on the event loop the grpc.aio server runs on, started after gRPC (it needs
the gate, whose tokens and tenants it shares) and stopped beside it. TLS and mutual TLS use the gRPC port's
certificate, key and client CA, so the REST port is never a way around them."""

from __future__ import annotations

import logging
import ssl
from importlib.metadata import version
from typing import TYPE_CHECKING

from aiohttp import web

from vlmgrpc.rest import openapi
from vlmgrpc.rest.convert import MAX_BODY
from vlmgrpc.rest.errors import errors_middleware
from vlmgrpc.rest.routes import ROUTES, Handlers
from vlmgrpc.rest.uploads import Uploads
from vlmgrpc.settings import Settings

if TYPE_CHECKING:
    from vlmgrpc.app import App

log = logging.getLogger(__name__)
SHUTDOWN_TIMEOUT_S = 2.0  # as the gRPC server's stop grace: handlers left then are cancelled


def rest_port(s: Settings, grpc_port: int) -> int | None:
    """The port to listen on (0: a free one), or None: no REST API."""
    if s.rest_port == 0:
        return None
    if s.rest_port is not None:
        return s.rest_port
    return 0 if s.port == 0 else min(grpc_port + 1, 65535)


def ssl_context(s: Settings) -> ssl.SSLContext | None:
    if s.tls_cert_file is None or s.tls_key_file is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(s.tls_cert_file, s.tls_key_file)
    if s.tls_client_ca_file is not None:
        context.load_verify_locations(s.tls_client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def build_application(app: App, uploads: Uploads) -> web.Application:
    web_app = web.Application(client_max_size=app.settings.rest_max_body_bytes, middlewares=[errors_middleware])
    web_app[MAX_BODY] = app.settings.rest_max_body_bytes
    handlers = Handlers(app, uploads, openapi.document(version("vlm-grpc")))
    for route in ROUTES:
        web_app.router.add_route(route.method, route.path, getattr(handlers, route.handler), name=route.handler)
    return web_app


class RestServer:
    def __init__(self, app: App):
        self.app = app
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.url = ""

    async def start(self) -> None:
        s = self.app.settings
        port = rest_port(s, self.app.port)
        if port is None:
            log.info("REST API off (rest_port 0)")
            return
        uploads = Uploads(self.app.files, s.blobs_root, s.max_upload_bytes)
        await uploads.open()
        # handler_cancellation: a caller that hangs up cancels its handler (a synchronous generate then
        # cancels its prediction, an SSE stream frees its slot), as a cancelled gRPC call does.
        runner = web.AppRunner(build_application(self.app, uploads), handle_signals=False, access_log=None,
                               handler_cancellation=True, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        host = s.rest_host or s.host
        context = ssl_context(s)
        try:
            await web.TCPSite(runner, host, port, ssl_context=context).start()
        except OSError as exc:
            await runner.cleanup()
            raise RuntimeError(f"cannot serve the REST API on {host}:{port} ({exc.strerror}); set rest_port "
                               "to a free port, or 0 for no REST API") from exc
        self.runner = runner
        self.port = runner.addresses[0][1]
        scheme = "https" if context else "http"
        shown = f"[{host}]" if ":" in host else host
        self.url = f"{scheme}://{shown}:{self.port}/v1"
        log.info("REST API serving on %s (VLMRun(base_url=%r))", self.url, self.url)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
