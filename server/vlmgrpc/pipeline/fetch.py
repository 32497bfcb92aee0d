"""Fetching URL inputs: data: URLs and http(s), with size and time caps, and no requests to
loopback, private or link-local addresses unless the settings allow them (checked on every redirect).

The check and the connection use the same lookup: the request goes to the address that was checked (the
name kept in the Host header, and in SNI and the certificate check for https), so a name that resolves to
a public address for the check and to a private one a moment later (DNS rebinding) reaches nothing."""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from vlmgrpc.errors import invalid

MAX_REDIRECTS = 5


def decode_data_url(url: str, max_bytes: int, field_path: str) -> bytes:
    header, _, payload = url.partition(",")
    if ";base64" not in header:
        raise invalid("INVALID_URL", "data: URLs must be base64 encoded", field_path)
    if len(payload) * 3 // 4 > max_bytes:
        raise invalid("INPUT_TOO_LARGE", f"the data URL holds more than {max_bytes} bytes", field_path)
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise invalid("INVALID_URL", "the data URL is not valid base64", field_path) from None


def check_url(url: str, field_path: str) -> None:
    """Syntax check done at submission; the address check happens when the URL is fetched."""
    if url.startswith("data:"):
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid("INVALID_URL", "URLs must be http(s) with a host, or data: URLs", field_path)


def _not_public(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # Not globally reachable (private, loopback, link-local, shared 100.64/10, documentation, reserved) or multicast.
    return not addr.is_global or addr.is_multicast


def check_literal_address(url: str, field_path: str, reason: str = "URL_NOT_ALLOWED") -> None:
    """At submission: refuse a URL whose host is a non-public IP literal (names are checked when fetched)."""
    host = urlsplit(url).hostname or ""
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost" or host.endswith(".localhost"):
            raise invalid(reason, f"{host} is not a public host", field_path, host=host) from None
        return
    if _not_public(addr):
        raise invalid(reason, f"{host} is not a public address", field_path, host=host)


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


async def resolve(host: str) -> list[Address]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0]) for info in infos]


@dataclass(frozen=True)
class Pinned:
    """A request bound to the address that was checked: send it to `url`, with these headers and extensions."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=dict)


async def pin(url: str, field_path: str, reason: str = "URL_NOT_ALLOWED") -> Pinned:
    """Resolve the URL's host once; refuse loopback, private, link-local and other non-public addresses;
    return the request aimed at the first address the lookup gave."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        addrs = await resolve(host)
    except OSError as exc:
        raise invalid("URL_FETCH_FAILED", f"cannot resolve {host}: {exc}", field_path, host=host) from None
    if not addrs:
        raise invalid("URL_FETCH_FAILED", f"{host} has no address", field_path, host=host)
    for addr in addrs:
        if _not_public(addr):
            raise invalid(reason, f"{host} resolves to a non-public address ({addr})", field_path, host=host)
    userinfo, _, host_port = parts.netloc.rpartition("@")
    literal = f"[{addrs[0]}]" if addrs[0].version == 6 else str(addrs[0])
    netloc = (userinfo + "@" if userinfo else "") + literal + (f":{parts.port}" if parts.port else "")
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return Pinned(parts._replace(netloc=netloc).geturl(), {"Host": host_port}, extensions)


async def fetch(url: str, *, max_bytes: int, timeout_s: float, allow_private: bool, field_path: str) -> bytes:
    if url.startswith("data:"):
        return decode_data_url(url, max_bytes, field_path)
    check_url(url, field_path)
    async with httpx.AsyncClient(follow_redirects=False, timeout=timeout_s) as client:
        for _ in range(MAX_REDIRECTS + 1):
            target = Pinned(url) if allow_private else await pin(url, field_path)
            try:
                async with asyncio.timeout(timeout_s), client.stream(
                        "GET", target.url, headers=target.headers, extensions=target.extensions) as resp:
                    if resp.is_redirect:
                        url = urljoin(url, resp.headers.get("location", ""))
                        check_url(url, field_path)
                        continue
                    if resp.status_code != 200:
                        raise invalid("URL_FETCH_FAILED", f"GET {url} answered {resp.status_code}", field_path)
                    body = bytearray()
                    async for chunk in resp.aiter_bytes():
                        body += chunk
                        if len(body) > max_bytes:
                            raise invalid("INPUT_TOO_LARGE", f"{url} is larger than {max_bytes} bytes", field_path)
                    return bytes(body)
            except (httpx.HTTPError, TimeoutError) as exc:
                raise invalid("URL_FETCH_FAILED", f"GET {url} failed: {exc or type(exc).__name__}",
                              field_path) from None
    raise invalid("URL_FETCH_FAILED", f"more than {MAX_REDIRECTS} redirects", field_path)
