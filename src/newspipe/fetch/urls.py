"""URL canonicalisation: one spelling per article, so a page is fetched once."""

from __future__ import annotations

from urllib.parse import parse_qs, urldefrag, urljoin, urlsplit

import lxml.etree
import lxml.html
from courlan import normalize_url


class BadURL(ValueError):
    """A URL newspipe will not fetch."""


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, punycode decoded, default port and fragment dropped,
    tracking parameters (utm_*, fbclid, gclid, at_medium...) removed, query sorted.
    courlan (trafilatura's own URL library) does the work."""
    url = url.strip()
    if not url.lower().startswith(("http://", "https://")):
        raise BadURL(f"not an http(s) URL: {url[:200]!r}")
    try:
        return normalize_url(urldefrag(url).url)
    except ValueError as exc:
        raise BadURL(f"cannot normalise URL {url[:200]!r}: {exc}") from None


# Link wrappers that carry the real target in a query parameter (Google Alerts, Facebook...).
_REDIRECT_WRAPPERS = {
    ("google.com", "/url"): ("url", "q"),
    ("www.google.com", "/url"): ("url", "q"),
    ("news.google.com", "/url"): ("url", "q"),
    ("l.facebook.com", "/l.php"): ("u",),
    ("t.umblr.com", "/redirect"): ("z",),
}


def unwrap_redirect(url: str) -> str:
    """The target of a known redirect wrapper (google.com/url?url=...), else `url`."""
    parts = urlsplit(url)
    names = _REDIRECT_WRAPPERS.get(((parts.hostname or "").lower(), parts.path))
    if names:
        query = parse_qs(parts.query)
        for name in names:
            target = (query.get(name) or [""])[0]
            if target.lower().startswith(("http://", "https://")):
                return target
    return url


def same_site(url: str, other: str) -> bool:
    """Same host, ignoring a leading "www." (stricter than same registered domain: one
    blog on a shared platform must not claim another's URL)."""
    def host(u: str) -> str:
        name = (urlsplit(u).hostname or "").lower()
        return name.removeprefix("www.")
    return bool(host(url)) and host(url) == host(other)


def declared_canonical(html: bytes, page_url: str) -> str | None:
    """The page's own rel=canonical, else og:url, made absolute and canonical, when it is
    on the same site as the page (a cross-site claim is ignored: syndicated copies point
    at the original, and the copy must stay its own article)."""
    try:
        tree = lxml.html.fromstring(html[:_HEAD_BYTES])
    except (lxml.etree.ParserError, ValueError):
        return None
    for href in (*tree.xpath("//link[@rel='canonical']/@href"),
                 *tree.xpath("//meta[@property='og:url']/@content")):
        candidate = urljoin(page_url, href.strip())
        if not same_site(candidate, page_url):
            continue
        try:
            return canonical_url(candidate)
        except BadURL:
            continue
    return None


_HEAD_BYTES = 256 * 1024  # canonical links live in the <head>


def absolute_http_url(link: str | None, base: str | None) -> str | None:
    """A link (a lead image's, say) made absolute against the address of the document it
    is in; None unless that gives an http(s) URL (relative links are common, `data:` and
    `javascript:` ones too)."""
    if not link or not link.strip():
        return None
    try:
        absolute = urljoin(base or "", link.strip())
    except ValueError:  # `http://[broken/x.jpg`: the URL parser raises
        return None
    return absolute if absolute.lower().startswith(("http://", "https://")) else None
