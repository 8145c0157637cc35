"""The write API the pipeline stages use. Every function runs in the caller's transaction."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Connection, Row, insert, select, update

from newspipe.extract import best_published_at
from newspipe.models import ExtractedArticle, FeedSpec, FetchedPage, ParsedEntry
from newspipe.store.schema import articles, entries, feeds, pages, utcnow


def upsert_feeds(connection: Connection, specs: Iterable[FeedSpec]) -> list[int]:
    """Make sure each feed exists (name and role follow the configuration); return ids."""
    ids = []
    for spec in specs:
        existing = connection.scalar(select(feeds.c.id).where(feeds.c.url == spec.url))
        if existing is None:
            existing = connection.execute(insert(feeds).values(
                url=spec.url, name=spec.name, role=spec.role.value, consecutive_failures=0,
                created_at=utcnow())).inserted_primary_key[0]
        else:
            connection.execute(update(feeds).where(feeds.c.id == existing)
                               .values(name=spec.name, role=spec.role.value))
        ids.append(existing)
    return ids


def feed_rows(connection: Connection, feed_ids: Sequence[int] | None = None) -> list[Row]:
    """The given feeds, or every feed there is to poll (manual backfill feeds are not)."""
    query = select(feeds).order_by(feeds.c.id)
    if feed_ids is not None:
        query = query.where(feeds.c.id.in_(feed_ids))
    else:
        query = query.where(feeds.c.url.not_like("manual:%"))
    return list(connection.execute(query))


def record_feed_success(connection: Connection, feed_id: int, status: int,
                        title: str | None, problems: list[str]) -> None:
    connection.execute(update(feeds).where(feeds.c.id == feed_id).values(
        last_status=status, last_error="; ".join(problems) or None, consecutive_failures=0,
        last_polled_at=utcnow(), **({"title": title} if title else {})))


def record_feed_failure(connection: Connection, feed_id: int, error: str,
                        status: int | None = None) -> None:
    connection.execute(update(feeds).where(feeds.c.id == feed_id).values(
        last_status=status, last_error=error, last_polled_at=utcnow(),
        consecutive_failures=feeds.c.consecutive_failures + 1))


def insert_new_entries(connection: Connection, feed_id: int,
                       parsed: Iterable[tuple[ParsedEntry, str]]) -> list[int]:
    """Insert entries not seen before for this feed (by key); return the new ids."""
    new_ids = []
    for entry, canonical in parsed:
        known = connection.scalar(select(entries.c.id).where(
            entries.c.feed_id == feed_id, entries.c.key == entry.key))
        if known is not None:
            continue
        new_ids.append(connection.execute(insert(entries).values(
            feed_id=feed_id, key=entry.key, url=entry.url, canonical_url=canonical,
            title=entry.title, summary=entry.summary, author=entry.author,
            published_at=entry.published_at, first_seen_at=utcnow()),
        ).inserted_primary_key[0])
    return new_ids


def pending_entries(connection: Connection, entry_ids: Sequence[int] | None = None) -> list[Row]:
    """Entries with no article yet, with their feed's name and role."""
    query = (select(entries, feeds.c.name.label("feed_name"), feeds.c.role.label("feed_role"))
             .join(feeds, feeds.c.id == entries.c.feed_id)
             .where(entries.c.article_id.is_(None)).order_by(entries.c.id))
    if entry_ids is not None:
        query = query.where(entries.c.id.in_(entry_ids))
    return list(connection.execute(query))


def article_id_by_url(connection: Connection, canonical: str) -> int | None:
    return connection.scalar(select(articles.c.id).where(articles.c.canonical_url == canonical))


def link_entry(connection: Connection, entry_id: int, article_id: int) -> None:
    connection.execute(update(entries).where(entries.c.id == entry_id)
                       .values(article_id=article_id))


def create_article(connection: Connection, entry: Row, canonical: str, *,
                   status: str, error: str | None = None, http_status: int | None = None,
                   source: str | None = None) -> int:
    now = utcnow()
    article_id = connection.execute(insert(articles).values(
        url=entry.url, canonical_url=canonical, feed_id=entry.feed_id,
        source=source or entry.feed_name,
        role=entry.feed_role, status=status, error=error, http_status=http_status,
        fetched_at=now if http_status else None, title=entry.title, author=entry.author,
        published_at=entry.published_at, first_seen_at=now, updated_at=now,
    )).inserted_primary_key[0]
    link_entry(connection, entry.id, article_id)
    return article_id


def save_page(connection: Connection, article_id: int, page: FetchedPage) -> None:
    connection.execute(insert(pages).values(
        article_id=article_id, final_url=page.final_url, content_type=page.content_type,
        charset=page.charset, body_zlib=zlib.compress(page.content, 6)))


def articles_with_status(connection: Connection, status: str,
                         article_ids: Sequence[int] | None = None) -> list[int]:
    query = select(articles.c.id).where(articles.c.status == status).order_by(articles.c.id)
    if article_ids is not None:
        query = query.where(articles.c.id.in_(article_ids))
    return list(connection.scalars(query))


def load_page(connection: Connection, article_id: int) -> tuple[Row, bytes] | None:
    row = connection.execute(select(pages, articles.c.url).join(
        articles, articles.c.id == pages.c.article_id).where(pages.c.article_id == article_id)
    ).first()
    return (row, zlib.decompress(row.body_zlib)) if row else None


def save_extraction(connection: Connection, article_id: int, extracted: ExtractedArticle) -> None:
    """Store extracted text and metadata; values the page lacks keep the feed's."""
    current = connection.execute(select(articles).where(articles.c.id == article_id)).one()
    # Only a `fetched` article: a slower overlapping run must not pull an article that was
    # placed in its story meanwhile back to `extracted` (it would be placed twice).
    connection.execute(update(articles).where(articles.c.id == article_id,
                                              articles.c.status == "fetched").values(
        status="extracted", error=None, text=extracted.text,
        title=extracted.title or current.title,
        author=extracted.author or current.author,
        published_at=best_published_at(extracted.published_at, current.published_at),
        language=extracted.language, sitename=extracted.sitename,
        description=extracted.description, image=extracted.image, updated_at=utcnow()))


def mark_failed(connection: Connection, article_id: int, error: str) -> None:
    connection.execute(update(articles).where(articles.c.id == article_id).values(
        status="failed", error=error, updated_at=utcnow()))


def article_text(connection: Connection, article_id: int) -> str | None:
    return connection.scalar(select(articles.c.text).where(articles.c.id == article_id))


def articles_fetched_between(connection: Connection, since: datetime,
                             until: datetime) -> list[int]:
    """Articles whose page was fetched in [since, until): what a backfill can reprocess."""
    return list(connection.scalars(
        select(articles.c.id).where(articles.c.fetched_at >= since, articles.c.fetched_at < until)
        .order_by(articles.c.id)))


def requeue_for_extraction(connection: Connection, article_id: int) -> None:
    connection.execute(update(articles).where(articles.c.id == article_id).values(
        status="fetched", error=None, updated_at=utcnow()))
