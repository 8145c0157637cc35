"""The polite, hardened HTTP client: one shared httpx.AsyncClient per stage run.

What it guarantees, per request:
- only public http(s) hosts (fetch/safety.py), checked after DNS and on every redirect hop,
  which is why redirects are followed here and not by httpx;
- robots.txt obeyed (fetch/robots.py), per-host concurrency and a minimum gap between
  requests to one host (a robots.txt Crawl-delay can make it longer);
- connect/read timeouts (httpx) and a total time limit per request (asyncio);
- a body-size cap enforced on the raw bytes while streaming and again on the decoded bytes
  while decompressing, so a gzip bomb stops at the cap;
- retries with exponential backoff and jitter for transient failures only; 429/503
  Retry-After honoured (a wait longer than allowed becomes an error carrying the delay).
"""

from __future__ import annotations

import asyncio
import random
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import httpx

from newspipe.config import Settings
from newspipe.fetch.safety import UnsafeURL, check_peer, check_url
from newspipe.models import FetchedPage

if TYPE_CHECKING:
    from newspipe.fetch.robots import RobotsStore

REDIRECT_STATUSES = {301, 302, 303, 307, 308}
FEED_ACCEPT = ("application/rss+xml, application/atom+xml, application/feed+json, "
               "application/rdf+xml;q=0.9, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8")
TRANSIENT_STATUSES = {408, 425, 429, 500, 502, 503, 504}


class FetchError(RuntimeError):
    """A response newspipe could not use; the message says why, in one line.
    `transient` errors are worth retrying; `retry_after` is the server's wish in seconds."""

    def __init__(self, message: str, *, status: int | None = None, transient: bool = False,
                 retry_after: float | None = None, permanent: bool = False):
        super().__init__(message)
        self.status = status
        self.transient = transient
        self.retry_after = retry_after
        self.permanent = permanent  # retrying later will not help (gone, unsafe, refused)


def charset_of(content_type: str | None) -> str | None:
    if not content_type:
        return None
    message = Message()
    message["content-type"] = content_type
    return message.get_content_charset()


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def acceptable_feed_type(media: str) -> bool:
    """Feeds come as every XML/JSON flavour, text/*, and sometimes octet-stream."""
    return (not media or media.startswith("text/") or media.endswith(("xml", "json"))
            or media == "application/octet-stream")


def acceptable_page_type(media: str) -> bool:
    return media in {"", "text/html", "application/xhtml+xml", "text/plain"}


def acceptable_any_type(media: str) -> bool:
    return True


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class HostGate:
    """Per-host politeness: at most `concurrency` requests at once, and request starts at
    least `delay` seconds apart (slots are reserved in order, so concurrent callers queue).
    A host that asked for a pause longer than `max_wait` (Retry-After) fails fast instead."""

    def __init__(self, concurrency: int, delay: float, max_wait: float):
        self.semaphore = asyncio.Semaphore(max(1, concurrency))
        self.delay = delay
        self.max_wait = max_wait
        self.next_start = 0.0
        self.blocked_until = 0.0

    def defer(self, seconds: float) -> None:
        """The host asked us to wait (Retry-After): nobody starts before then."""
        until = asyncio.get_running_loop().time() + seconds
        if seconds > self.max_wait:
            self.blocked_until = max(self.blocked_until, until)
        else:
            self.next_start = max(self.next_start, until)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self.semaphore:
            now = asyncio.get_running_loop().time()
            if self.blocked_until > now:
                wait = self.blocked_until - now
                raise FetchError(f"host asked for a pause (Retry-After): {wait:.0f} s left",
                                 retry_after=wait)
            start = max(now, self.next_start)
            self.next_start = start + self.delay
            if start > now:
                await asyncio.sleep(start - now)
            yield


@dataclass
class _Redirect:
    location: str


def _decoder(content_encoding: str | None):
    """A zlib decompressor for the response's Content-Encoding (we only ask for these)."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip", "deflate"):
        return zlib.decompressobj(47)  # 32 + 15: gzip or zlib header, detected
    raise FetchError(f"unsupported Content-Encoding {encoding!r}", permanent=True)


async def read_capped(response: httpx.Response, max_bytes: int) -> tuple[bytes, bytes]:
    """(raw bytes, decoded bytes), each at most `max_bytes`: checked chunk by chunk, and
    decompression never produces more than the cap allows."""
    decoder = _decoder(response.headers.get("content-encoding"))
    raw, body = bytearray(), bytearray()
    try:
        async for chunk in response.aiter_raw():
            raw += chunk
            if len(raw) > max_bytes:
                raise FetchError(f"body larger than {max_bytes} bytes (stopped while streaming)")
            if decoder is not None:
                body += decoder.decompress(chunk, max_bytes + 1 - len(body))
                if len(body) > max_bytes:
                    raise FetchError(f"body larger than {max_bytes} bytes after decompression"
                                     " (compression bomb?)")
        if decoder is not None:
            body += decoder.flush()
    except zlib.error as exc:
        raise FetchError(f"corrupt compressed body: {exc}") from None
    return bytes(raw), bytes(body) if decoder is not None else bytes(raw)


class Fetcher:
    """One shared async client with the politeness and safety rules above.

    Use as `async with Fetcher(settings) as fetcher: page = await fetcher.fetch(url)`.
    """

    def __init__(self, settings: Settings, robots_store: RobotsStore | None = None):
        from newspipe.fetch.robots import RobotsCache  # robots uses this module's client

        self.settings = settings
        self.client = httpx.AsyncClient(
            headers={"User-Agent": settings.user_agent, "Accept-Encoding": "gzip, deflate"},
            timeout=httpx.Timeout(settings.timeout_seconds,
                                  connect=settings.connect_timeout_seconds, pool=None),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=settings.max_connections,
                                max_keepalive_connections=settings.max_connections),
        )
        self.connections = asyncio.Semaphore(settings.max_connections)
        self.gates: dict[str, HostGate] = {}
        self.robots = RobotsCache(self, robots_store)

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.client.aclose()

    def gate(self, url: str) -> HostGate:
        host = (urlsplit(url).hostname or "").lower()
        if host not in self.gates:
            self.gates[host] = HostGate(self.settings.per_host_concurrency,
                                        self.settings.per_host_delay_seconds,
                                        self.settings.max_retry_after_seconds)
        return self.gates[host]

    async def fetch(self, url: str, *, headers: dict[str, str] | None = None,
                    accept=acceptable_page_type) -> FetchedPage:
        """GET `url` following redirects, with retries for transient failures only.
        A 304 comes back as a page with status 304 and no body."""
        settings = self.settings
        for attempt in range(settings.retries + 1):
            try:
                return await self.fetch_once(url, headers=headers, accept=accept)
            except FetchError as exc:
                if not exc.transient or attempt == settings.retries:
                    raise
                wait = exc.retry_after
                if wait is None:
                    backoff = settings.retry_backoff_seconds
                    wait = backoff * 2**attempt + random.uniform(0, backoff)
                if wait > settings.max_retry_after_seconds:
                    raise
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    async def fetch_once(self, url: str, *, headers: dict[str, str] | None = None,
                         accept=acceptable_page_type, robots: bool = True) -> FetchedPage:
        """One attempt: follow up to `max_redirects` redirects, each hop checked."""
        seen = {url}
        current = url
        for _ in range(self.settings.max_redirects + 1):
            try:
                await check_url(current, self.settings.allow_private_hosts)
            except UnsafeURL as exc:
                raise FetchError(str(exc), permanent=True) from None
            if robots and self.settings.obey_robots:
                await self.robots.check(current)
            result = await self._request(current, headers, accept)
            if isinstance(result, FetchedPage):
                result.url = url
                return result
            location = urljoin(current, result.location)
            if location in seen:
                raise FetchError(f"redirect loop at {location[:200]}")
            seen.add(location)
            current = location
        raise FetchError(f"too many redirects (more than {self.settings.max_redirects})")

    async def _request(self, url: str, headers: dict[str, str] | None,
                       accept) -> FetchedPage | _Redirect:
        settings = self.settings
        gate = self.gate(url)
        async with gate.slot(), self.connections:
            try:
                async with asyncio.timeout(settings.total_timeout_seconds):
                    return await self._exchange(url, headers, accept, gate)
            except TimeoutError:
                raise FetchError(f"timed out: no complete response within "
                                 f"{settings.total_timeout_seconds:g} s", transient=True) from None
            except httpx.TimeoutException as exc:
                raise FetchError(f"timed out ({type(exc).__name__})", transient=True) from None
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
                raise FetchError(f"{type(exc).__name__}: {exc}", transient=True) from None
            except httpx.HTTPError as exc:
                raise FetchError(f"{type(exc).__name__}: {exc}") from None

    async def _exchange(self, url: str, headers: dict[str, str] | None, accept,
                        gate: HostGate) -> FetchedPage | _Redirect:
        async with self.client.stream("GET", url, headers=headers) as response:
            self._check_peer(url, response)
            status = response.status_code
            if status in REDIRECT_STATUSES and response.headers.get("location"):
                return _Redirect(response.headers["location"])
            if status >= 400:
                raise self._status_error(response, gate)
            if status == 304:
                return _page(url, response, b"", b"")
            if not accept(media_type(response.headers.get("content-type"))):
                raise FetchError(f"unexpected content type "
                                 f"{response.headers.get('content-type')!r}", status=status,
                                 permanent=True)
            raw, body = await read_capped(response, self.settings.max_body_bytes)
            return _page(url, response, raw, body)

    def _check_peer(self, url: str, response: httpx.Response) -> None:
        stream = response.extensions.get("network_stream")
        peer = stream.get_extra_info("server_addr") if stream is not None else None
        if peer:
            try:
                check_peer(urlsplit(url).hostname or "", peer[0],
                           self.settings.allow_private_hosts)
            except UnsafeURL as exc:
                raise FetchError(str(exc), permanent=True) from None

    def _status_error(self, response: httpx.Response, gate: HostGate) -> FetchError:
        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if retry_after is not None and status in (429, 503):
            gate.defer(min(retry_after, self.settings.feed_max_backoff_seconds))
        message = f"HTTP {status} {response.reason_phrase}".strip()
        if retry_after is not None:
            message += f" (Retry-After {retry_after:g} s)"
        return FetchError(message, status=status, transient=status in TRANSIENT_STATUSES,
                          retry_after=retry_after, permanent=status == 410)


def _page(url: str, response: httpx.Response, raw: bytes, body: bytes) -> FetchedPage:
    content_type = response.headers.get("content-type")
    return FetchedPage(
        url=url,
        final_url=str(response.url),
        status=response.status_code,
        content=body,
        content_type=content_type,
        charset=charset_of(content_type),
        headers=dict(response.headers),
        reason=response.reason_phrase,
        raw_content=raw,
        request_headers=dict(response.request.headers),
    )
