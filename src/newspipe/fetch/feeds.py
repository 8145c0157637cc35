"""Feed parsing with feedparser: RSS, Atom and JSON Feed bytes -> ParsedFeed.

feedparser gets the bytes and the response headers, so it picks the charset the way a
browser would (HTTP header, XML declaration, then chardet when they are wrong). Entry links
are made absolute and unwrapped (feedburner:origLink, google.com/url?url=...); an entry's
key is its guid, else its canonical link; a guid repeated inside one feed falls back to the
link so distinct items are not lost.
"""

from __future__ import annotations

import calendar
import json
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import feedparser
import lxml.html
from lxml import etree
from trafilatura.feeds import FeedParameters, determine_feed

from newspipe.dates import parse_utc
from newspipe.fetch.urls import BadURL, absolute_http_url, canonical_url, unwrap_redirect
from newspipe.models import ParsedEntry, ParsedFeed


class FeedError(ValueError):
    """A document with no usable feed in it."""


def _utc(struct) -> datetime | None:
    if not struct:
        return None
    return datetime.fromtimestamp(calendar.timegm(struct), tz=UTC)


def _json_feed(content: bytes, base_url: str) -> ParsedFeed:
    try:
        data = json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FeedError(f"invalid JSON Feed: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise FeedError("JSON document is not a JSON Feed (no 'items' list)")
    feed = ParsedFeed(title=_text(data.get("title")), format=_json_feed_version(data))
    for number, item in enumerate(data["items"], start=1):
        item = item if isinstance(item, dict) else {}
        link = _text(item.get("url")) or _text(item.get("external_url"))
        if not link:
            feed.problems.append(f"item #{number} ({_text(item.get('id'))!r}) has no url")
            continue
        url = _usable_link(base_url, link, feed.problems)
        if url is None:
            continue
        authors = item.get("authors") or [item.get("author")]
        names = [_text(a.get("name")) for a in authors if isinstance(a, dict)]
        feed.entries.append(ParsedEntry(
            key=str(item.get("id") or "") or link_key(url),
            url=url,
            title=_text(item.get("title")),
            summary=_text(item.get("summary")) or _text(item.get("content_text")),
            author=", ".join(n for n in names if n) or None,
            published_at=parse_utc(_text(item.get("date_published"))),
            image=absolute_http_url(_text(item.get("image"))
                                    or _text(item.get("banner_image")), base_url),
        ))
    _unique_keys(feed)
    return feed


def _text(value: object) -> str | None:
    """JSON Feed values as text: producers put numbers, lists, objects anywhere."""
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)


def _looks_like_json(content: bytes) -> bool:
    return content.lstrip()[:1] in (b"{", b"[")


def parse_feed(content: bytes, base_url: str, headers: dict[str, str] | None = None) -> ParsedFeed:
    """Parse feed bytes; raise FeedError when nothing usable is in them. The entries of a
    malformed ("bozo") feed are kept and the problem recorded. Whatever else goes wrong in
    the parsers on hostile bytes is a FeedError too: the feed fails, the poll goes on."""
    try:
        return _parse_feed(content, base_url, headers)
    except FeedError:
        raise
    except Exception as exc:
        raise FeedError(f"feed could not be parsed: {type(exc).__name__}: {exc}") from exc


def _parse_feed(content: bytes, base_url: str, headers: dict[str, str] | None) -> ParsedFeed:
    if _looks_like_json(content):
        return _json_feed(content, base_url)
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    headers.setdefault("content-type", "application/xml")  # a file: trust its declaration
    parsed = feedparser.parse(content, response_headers=headers, sanitize_html=False,
                              resolve_relative_uris=False)
    problems = []
    if parsed.bozo:
        problems.append(f"malformed feed: {parsed.bozo_exception}")
    version = parsed.get("version") or ""  # absent altogether on an empty document
    if not version and not parsed.entries:
        raise _not_a_feed(content, base_url, parsed.bozo_exception if parsed.bozo else None)
    feed = ParsedFeed(title=parsed.feed.get("title"), format=version or "unknown",
                      problems=problems)
    for raw in parsed.entries:
        link = raw.get("feedburner_origlink") or raw.get("link")
        if not link:
            problems.append(f"entry {raw.get('id') or raw.get('title')!r} has no link")
            continue
        url = _usable_link(base_url, link, problems)
        if url is None:
            continue
        feed.entries.append(ParsedEntry(
            key=raw.get("id") or link_key(url),
            url=url,
            title=raw.get("title"),
            summary=_summary_text(raw),
            author=raw.get("author"),
            published_at=_utc(raw.get("published_parsed") or raw.get("updated_parsed")),
            image=_entry_image(raw, base_url),
        ))
    _unique_keys(feed)
    return feed


def _not_a_feed(content: bytes, base_url: str, reason: object) -> FeedError:
    """The error for a document that is no feed: when it is a web page that names its
    feeds (users often add a site's home page), the error names them."""
    linked = linked_feeds(content, base_url)
    if linked:
        return FeedError(f"not a feed but a web page naming {len(linked)} feed(s): "
                         f"{', '.join(linked[:5])}: add one of those instead")
    detail = f" ({reason})" if reason else ""
    return FeedError(f"not a feed: no RSS, Atom or JSON Feed found{detail}")


def linked_feeds(content: bytes, base_url: str) -> list[str]:
    """The feeds a web page at an http(s) address links to (its rel="alternate" RSS, Atom
    or JSON Feed links, else feed-like links), found by trafilatura's feed finder on the
    page already fetched. Best effort: nothing rather than an error of its own."""
    try:
        host = urlsplit(base_url).hostname
        if not host or not base_url.lower().startswith(("http://", "https://")):
            return []
        return determine_feed(content, FeedParameters(base_url, host, base_url))
    except Exception:  # the document's own error is what the caller reports
        return []


def _summary_text(raw) -> str | None:
    """The entry's summary as text: a third of real feeds' summaries are HTML (paragraphs,
    links, images), which would neither match the page's teaser nor read as a description."""
    summary = raw.get("summary")
    if not summary or "html" not in (raw.get("summary_detail") or {}).get("type", "html"):
        return summary or None
    try:
        fragment = lxml.html.fragment_fromstring(summary, create_parent="div")
    except (etree.ParserError, ValueError):  # nothing but markup, or not parseable
        return None
    etree.strip_elements(fragment, *_NOT_TEXT, with_tail=False)
    for element in fragment.iter(*_BREAKS):  # "<p>One.</p><p>Two.</p>" is two sentences
        element.tail = " " + (element.tail or "")
    return " ".join(fragment.text_content().split()) or None


_NOT_TEXT = ("script", "style", "noscript", "template")
_BREAKS = ("br", "p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "td", "th",
           "blockquote", "figcaption", "dd", "dt")


_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".avif")


def _entry_image(raw, base_url: str) -> str | None:
    """The entry's lead image: Media RSS content that is an image, its thumbnail, or an
    image enclosure, in that order."""
    def is_image(kind: str | None, medium: str | None, url: str) -> bool:
        return (medium == "image" or (kind or "").startswith("image/")
                or url.split("?", 1)[0].lower().endswith(_IMAGE_SUFFIXES))

    candidates = [m.get("url") for m in raw.get("media_content") or []
                  if is_image(m.get("type"), m.get("medium"), m.get("url") or "")]
    candidates += [m.get("url") for m in raw.get("media_thumbnail") or []]
    candidates += [link.get("href") for link in raw.get("links") or []
                   if link.get("rel") == "enclosure"
                   and is_image(link.get("type"), None, link.get("href") or "")]
    return next(filter(None, (absolute_http_url(c, base_url) for c in candidates)), None)


def _usable_link(base_url: str, link: str, problems: list[str]) -> str | None:
    """The entry's absolute link, or None with the problem recorded (`http://[broken/`
    makes the URL parser raise): one bad entry never costs the feed its others."""
    try:
        return entry_link(base_url, link)
    except ValueError as exc:
        problems.append(f"entry link {link[:200]!r} is unusable: {exc}")
        return None


def entry_link(base_url: str, link: str) -> str:
    """Absolute, with redirect wrappers (google.com/url?url=...) removed."""
    return unwrap_redirect(urljoin(base_url, link.strip()))


def link_key(url: str) -> str:
    try:
        return canonical_url(url)
    except BadURL:
        return url


def _unique_keys(feed: ParsedFeed) -> None:
    """Some feeds give several items one guid: key the repeats by their link instead."""
    seen: set[str] = set()
    for entry in feed.entries:
        if entry.key in seen:
            feed.problems.append(f"guid {entry.key[:200]!r} used by several entries")
            entry.key = link_key(entry.url)
        seen.add(entry.key)


def _json_feed_version(data: dict) -> str:
    """"https://jsonfeed.org/version/1.1" -> "json1.1"."""
    version = str(data.get("version") or "").rstrip("/").rsplit("/", 1)[-1]
    return f"json{version}" if version else "json"


def entry_canonical_url(entry: ParsedEntry) -> str | None:
    try:
        return canonical_url(entry.url)
    except BadURL:
        return None
