"""Plain data passed between stages. Bodies never travel through Airflow: only ids do."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class FeedRole(StrEnum):
    """How much a source is trusted as the origin of a story (canonical choice)."""

    ORIGINAL = "original"
    WIRE = "wire"
    OUTLET = "outlet"
    AGGREGATOR = "aggregator"


@dataclass(frozen=True)
class FeedSpec:
    url: str
    name: str
    role: FeedRole = FeedRole.OUTLET


@dataclass
class ParsedEntry:
    key: str
    url: str
    title: str | None = None
    summary: str | None = None  # as text (feeds often give HTML)
    author: str | None = None
    published_at: datetime | None = None
    image: str | None = None  # the entry's lead image (media:content, thumbnail, enclosure)


@dataclass
class ParsedFeed:
    title: str | None
    format: str
    entries: list[ParsedEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class FetchedPage:
    url: str
    final_url: str
    status: int
    content: bytes
    content_type: str | None = None
    charset: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    raw_content: bytes | None = None  # as received (still gzip...), for the WARC archive
    request_headers: dict[str, str] = field(default_factory=dict)
    # When it was fetched, if not just now: an imported WARC record's crawl date.
    fetched_at: datetime | None = None


@dataclass
class ExtractedArticle:
    text: str
    title: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    updated_at: datetime | None = None  # the page's last modification, when it says
    language: str | None = None
    sitename: str | None = None
    canonical_url: str | None = None
    description: str | None = None
    image: str | None = None
    # Normalised lines taken out of `text` as the site's learned boilerplate.
    boilerplate_removed: tuple[str, ...] = ()


@dataclass(frozen=True)
class DedupOutcome:
    """What de-duplicating one article did to the store."""

    article_id: int
    cluster_id: int
    new_story: bool
    similarity: float
    canonical_changed: bool
