"""HTML -> clean article text + metadata, with trafilatura configured for news."""

from __future__ import annotations

from datetime import UTC, datetime

import trafilatura

from newspipe.models import ExtractedArticle


class ExtractionError(ValueError):
    """A page with no article text newspipe could extract."""


def decode_html(content: bytes, charset: str | None) -> str | bytes:
    """Use the server's charset when it names a real one; otherwise hand trafilatura the
    bytes and let it detect the encoding."""
    if charset:
        try:
            return content.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass
    return content


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def best_published_at(page_date: datetime | None, feed_date: datetime | None) -> datetime | None:
    """The page's date, unless it only knows the day (midnight) and the feed's timestamp
    falls on that day: then the feed's more precise time."""
    if page_date is None:
        return feed_date
    if (feed_date is not None and page_date.time() == datetime.min.time()
            and page_date.date() == feed_date.date()):
        return feed_date
    return page_date


def extract_article(content: bytes, url: str, charset: str | None = None) -> ExtractedArticle:
    if not content.strip():
        raise ExtractionError("empty page")
    document = trafilatura.bare_extraction(
        decode_html(content, charset),
        url=url,
        include_comments=False,
        include_tables=False,
        with_metadata=True,
        date_extraction_params={"extensive_search": True, "original_date": True,
                                "outputformat": "%Y-%m-%dT%H:%M:%S%z"},
    )
    if document is None or not (document.text or "").strip():
        raise ExtractionError("no article text found")
    return ExtractedArticle(
        text=document.text.strip(),
        title=document.title,
        author=document.author,
        published_at=_parse_date(document.date),
        language=document.language,
        sitename=document.sitename,
        canonical_url=document.url,
        description=document.description,
        image=document.image,
    )
