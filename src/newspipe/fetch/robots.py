"""robots.txt: fetched once per origin, cached, obeyed (parsed by protego).

Following RFC 9309: a robots.txt that is missing (4xx) allows everything; one that cannot
be fetched (5xx, timeout, refused) disallows everything until the cache entry expires.
A Crawl-delay longer than our own per-host delay is honoured (capped at a minute). Answers
are kept for `robots_cache_seconds`, in memory and, given a RobotsStore, between runs.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from protego import Protego

if TYPE_CHECKING:
    from newspipe.fetch.http import Fetcher

ROBOTS_MAX_BYTES = 512 * 1024  # what Google reads of a robots.txt
MAX_CRAWL_DELAY = 60.0
UNREACHABLE_RETRY_SECONDS = 300.0


@dataclass
class _Rules:
    parser: Protego | None  # None: everything allowed
    expires: float
    error: str | None = None  # robots.txt unreachable: everything refused


class RobotsStore(Protocol):
    """Where robots.txt answers outlive one stage run (the pipeline keeps them in the
    store): `load` returns (status, body) while fresh, `save` keeps one for `ttl` seconds."""

    async def load(self, url: str) -> tuple[int, str] | None: ...

    async def save(self, url: str, status: int, body: str, ttl: float) -> None: ...


def robots_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/robots.txt"


class RobotsCache:
    def __init__(self, fetcher: Fetcher, stored: RobotsStore | None = None):
        self.fetcher = fetcher
        self.stored = stored
        self.rules: dict[str, _Rules] = {}
        self.locks: dict[str, asyncio.Lock] = {}

    async def check(self, url: str) -> None:
        """Raise FetchError when robots.txt does not let our User-Agent fetch `url`."""
        from newspipe.fetch.http import FetchError

        rules = await self._rules_for(robots_url(url))
        if rules.error:
            raise FetchError(f"robots.txt unreachable ({rules.error}): not fetching")
        if rules.parser and not rules.parser.can_fetch(url, self.fetcher.settings.user_agent):
            raise FetchError(f"disallowed by robots.txt: {url[:200]}", permanent=True)

    async def _rules_for(self, url: str) -> _Rules:
        loop = asyncio.get_running_loop()
        lock = self.locks.setdefault(url, asyncio.Lock())
        async with lock:  # one robots.txt request per origin, however many callers
            rules = self.rules.get(url)
            if rules is None or rules.expires < loop.time():
                rules = self.rules[url] = await self._load(url)
            return rules

    async def _load(self, url: str) -> _Rules:
        stored = await self.stored.load(url) if self.stored else None
        if stored is not None:
            return self._rules(url, *stored)
        from newspipe.fetch.http import FetchError, acceptable_any_type

        try:
            page = await self.fetcher.fetch_once(url, accept=acceptable_any_type, robots=False)
        except FetchError as exc:
            if exc.status is not None and 400 <= exc.status < 500 and exc.status != 429:
                return await self._keep(url, exc.status, "")
            retry = asyncio.get_running_loop().time() + UNREACHABLE_RETRY_SECONDS
            return _Rules(None, retry, error=str(exc))
        text = page.content[:ROBOTS_MAX_BYTES].decode("utf-8", errors="replace")
        return await self._keep(url, page.status, text)

    async def _keep(self, url: str, status: int, body: str) -> _Rules:
        if self.stored:
            await self.stored.save(url, status, body, self.fetcher.settings.robots_cache_seconds)
        return self._rules(url, status, body)

    def _rules(self, url: str, status: int, body: str) -> _Rules:
        """A 4xx robots.txt allows everything; otherwise its rules, and its Crawl-delay."""
        expires = asyncio.get_running_loop().time() + self.fetcher.settings.robots_cache_seconds
        if status >= 400:
            return _Rules(None, expires)
        parser = Protego.parse(body)
        delay = parser.crawl_delay(self.fetcher.settings.user_agent)
        if delay:
            gate = self.fetcher.gate(url)
            gate.delay = max(gate.delay, min(float(delay), MAX_CRAWL_DELAY))
        return _Rules(parser, expires)
