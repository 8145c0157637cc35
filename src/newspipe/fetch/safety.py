"""SSRF guard: newspipe only talks to public http(s) hosts, unless told otherwise.

Checked after DNS resolution (a public-looking name can point at 10.0.0.1) and again on
every redirect hop, by fetch/http.py.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeURL(ValueError):
    """A URL newspipe refuses to fetch: wrong scheme or a non-public address."""


def _allowed_networks(allow: Iterable[str]) -> tuple[set[str], list[ipaddress._BaseNetwork]]:
    """`allow_private_hosts` entries: host names, addresses or networks (127.0.0.0/8)."""
    names, networks = set(), []
    for item in allow:
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            names.add(item.lower().rstrip("."))
    return names, networks


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return not (address.is_loopback or address.is_private or address.is_link_local
                or address.is_multicast or address.is_reserved or address.is_unspecified)


async def resolve(host: str, port: int) -> set[IPAddress]:
    try:
        return {ipaddress.ip_address(host)}
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeURL(f"cannot resolve host {host!r}: {exc}") from None
    # Drop an IPv6 zone ("fe80::1%eth0") before parsing.
    return {ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos}


def check_peer(host: str, address: str, allow_private_hosts: Iterable[str] = ()) -> None:
    """After connecting: the address we really talk to must be public too. DNS can answer
    differently between our check and httpx's own lookup (rebinding); this catches it
    before any of the body is read."""
    names, networks = _allowed_networks(allow_private_hosts)
    if host.lower().rstrip(".") in names:
        return
    peer = ipaddress.ip_address(address.split("%", 1)[0])
    if not is_public(peer) and not any(peer in network for network in networks):
        raise UnsafeURL(f"refusing {host}: connected to non-public address {peer}")


async def check_url(url: str, allow_private_hosts: Iterable[str] = ()) -> None:
    """Raise UnsafeURL unless `url` is http(s) and every address of its host is public
    (or the host/address is explicitly allowed)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeURL(f"refusing non-http(s) URL scheme {parts.scheme or '(none)'!r}")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeURL(f"URL has no host: {url[:200]!r}")
    names, networks = _allowed_networks(allow_private_hosts)
    if host in names:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeURL(f"URL has an invalid port: {url[:200]!r}") from None
    for address in await resolve(host, port):
        if is_public(address) or any(address in network for network in networks):
            continue
        raise UnsafeURL(f"refusing {host}: it resolves to non-public address {address}")
