"""URL canonicalisation: one spelling per article, so a page is fetched once."""

from __future__ import annotations

from urllib.parse import urldefrag

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
