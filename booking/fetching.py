"""Fetching busy-calendar feeds from the internet without reaching inside the network.

An expert types the feed URL, so the hub must not become a way to probe or call internal
services: only http, https and webcal; the host is resolved here and every address it resolves
to must be public (loopback, private, link-local, multicast, reserved and unspecified addresses
are refused in IPv4, IPv6 and IPv4-mapped form, whatever spelling the URL used); the request
goes to the address that was checked (no second lookup), redirects are followed by hand and
each hop is checked the same way; size and time are bounded; and every failure is the same
"unreachable" so that error texts cannot tell an open port from a closed one.

On-premise deployments name internal calendar hosts in HEART_CALENDAR_ALLOWED_HOSTS.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Iterable
from functools import partial
from urllib.parse import urljoin, urlsplit

import httpx

from booking.ical import MAX_ICS_BYTES, IcsRejected
from marketplace.settings import Settings

SCHEMES = {"http": "http", "https": "https", "webcal": "https"}
MAX_REDIRECTS = 3
TIMEOUT_SECONDS = 10.0

Resolver = Callable[[str, int], list[str]]


def allowed_hosts(setting: str | Iterable[str]) -> frozenset[str]:
    """Host names from the comma-separated setting, lower-cased."""
    names = setting.split(",") if isinstance(setting, str) else setting
    return frozenset(n.strip().lower().rstrip(".") for n in names if n.strip())


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def is_public(address: str) -> bool:
    """True only for a globally routable unicast address (IPv4-mapped IPv6 judged as IPv4)."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif ip.teredo is not None:
            return False
    return ip.is_global and not (
        ip.is_multicast
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_unspecified
    )


def _unreachable(detail: str) -> IcsRejected:
    return IcsRejected("unreachable", detail)


def _target(url: str, allowed: frozenset[str], resolve: Resolver) -> tuple[str, str, int, str]:
    """(scheme, host, port, checked address) of a URL the hub may fetch; IcsRejected if not."""
    try:
        parts = urlsplit(url.strip())
        scheme = SCHEMES.get(parts.scheme.lower())
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise _unreachable("bad url") from None
    if scheme is None or not host:
        raise _unreachable("scheme or host")
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError):
        raise _unreachable("resolve") from None
    if not addresses:
        raise _unreachable("resolve")
    if host not in allowed and not all(is_public(a) for a in addresses):
        raise _unreachable("address")
    return scheme, host, port, addresses[0]


def fetch_ics(
    url: str,
    *,
    allowed: Iterable[str] = (),
    timeout: float = TIMEOUT_SECONDS,
    resolve: Resolver = _resolve,
) -> bytes:
    """GET a calendar feed safely (see the module docstring); IcsRejected on any failure."""
    allowed_names = allowed_hosts(allowed)
    deadline = time.monotonic() + timeout
    with httpx.Client(follow_redirects=False, trust_env=False) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            scheme, host, port, address = _target(url, allowed_names, resolve)
            parts = urlsplit(url.strip())
            literal = f"[{address}]" if ":" in address else address
            path = parts.path or "/"
            if parts.query:
                path = f"{path}?{parts.query}"
            default_port = port == (443 if scheme == "https" else 80)
            headers = {
                "Host": host if default_port else f"{host}:{port}",
                "Accept": "text/calendar",
            }
            left = deadline - time.monotonic()
            if left <= 0:
                raise _unreachable("timeout")
            extensions = {"sni_hostname": host} if scheme == "https" else {}
            request = client.build_request(
                "GET",
                f"{scheme}://{literal}:{port}{path}",
                headers=headers,
                timeout=httpx.Timeout(left),
                extensions=extensions,
            )
            try:
                response = client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise _unreachable(type(exc).__name__) from exc
            try:
                if response.is_redirect and "location" in response.headers:
                    url = urljoin(url, response.headers["location"])
                    continue
                if response.status_code != 200:
                    raise _unreachable(f"HTTP {response.status_code}")
                return _read_capped(response, deadline)
            finally:
                response.close()
    raise _unreachable("too many redirects")


def _read_capped(response: httpx.Response, deadline: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > MAX_ICS_BYTES:
                raise IcsRejected("too_large", f"> {MAX_ICS_BYTES} bytes")
            if time.monotonic() > deadline:
                raise _unreachable("timeout")
            chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise _unreachable(type(exc).__name__) from exc
    return b"".join(chunks)


def fetcher_for(settings: Settings) -> Callable[[str], bytes]:
    """The deployment's fetcher: internal hosts from HEART_CALENDAR_ALLOWED_HOSTS allowed."""
    return partial(fetch_ics, allowed=allowed_hosts(settings.calendar_allowed_hosts))
