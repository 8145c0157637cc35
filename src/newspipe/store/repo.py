"""The write API the pipeline stages use. Every function runs in the caller's transaction."""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Row, bindparam, delete, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from newspipe.extract import best_published_at
from newspipe.fetch.archive import ArchiveError, RecordPointer, read_response
from newspipe.models import ExtractedArticle, FeedSpec, FetchedPage, ParsedEntry
from newspipe.store.schema import articles, entries, feeds, robots_txt, utcnow

log = logging.getLogger(__name__)


def upsert_feeds(connection: Connection, specs: Iterable[FeedSpec]) -> list[int]:
    """Make sure each feed exists (name and role follow the configuration); return ids.
    One INSERT ... ON CONFLICT per feed, so two runs registering the same feed at the same
    moment both succeed."""
    dialect_insert = {"postgresql": pg_insert, "sqlite": sqlite_insert}[connection.dialect.name]
    ids = []
    for spec in specs:
        statement = dialect_insert(feeds).values(
            url=spec.url, name=spec.name, role=spec.role.value, consecutive_failures=0,
            created_at=utcnow())
        statement = statement.on_conflict_do_update(
            index_elements=[feeds.c.url],
            set_={"name": statement.excluded.name, "role": statement.excluded.role},
        ).returning(feeds.c.id)
        ids.append(connection.scalar(statement))
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
                        title: str | None, problems: list[str], *,
                        etag: str | None = None, last_modified: str | None = None,
                        content_hash: str | None = None) -> None:
    """A poll that got a usable answer (new entries, or unchanged: 304 or same body).
    Validators and body hash are kept only when given (a 304 keeps the stored ones)."""
    validators = {name: value for name, value in (
        ("etag", etag), ("last_modified", last_modified), ("content_hash", content_hash))
        if value is not None}
    connection.execute(update(feeds).where(feeds.c.id == feed_id).values(
        last_status=status, last_error="; ".join(problems) or None, consecutive_failures=0,
        last_polled_at=utcnow(), next_poll_at=None, **validators,
        **({"title": title} if title else {})))


def record_feed_failure(connection: Connection, feed_id: int, error: str,
                        status: int | None = None, *, next_poll_at: datetime | None = None,
                        paused_reason: str | None = None) -> None:
    connection.execute(update(feeds).where(feeds.c.id == feed_id).values(
        last_status=status, last_error=error, last_polled_at=utcnow(),
        consecutive_failures=feeds.c.consecutive_failures + 1, next_poll_at=next_poll_at,
        **({"paused_reason": paused_reason} if paused_reason else {})))


def resume_feed(connection: Connection, feed_id: int) -> None:
    """Un-pause a feed and forget its failures: polled at the next run."""
    connection.execute(update(feeds).where(feeds.c.id == feed_id).values(
        paused_reason=None, consecutive_failures=0, next_poll_at=None))


def feed_id_by_url_or_id(connection: Connection, url_or_id: str) -> int | None:
    condition = feeds.c.url == url_or_id
    if url_or_id.isdigit():
        condition = or_(condition, feeds.c.id == int(url_or_id))
    return connection.scalar(select(feeds.c.id).where(condition))


def remove_feed(connection: Connection, feed_id: int) -> None:
    """The feed and its entries go; articles stay (their feed_id becomes NULL)."""
    connection.execute(delete(entries).where(entries.c.feed_id == feed_id))
    connection.execute(update(articles).where(articles.c.feed_id == feed_id)
                       .values(feed_id=None))
    connection.execute(delete(feeds).where(feeds.c.id == feed_id))


def insert_new_entries(connection: Connection, feed_id: int,
                       parsed: Iterable[tuple[ParsedEntry, str]]) -> list[int]:
    """Insert entries not seen before for this feed (by key); return the new ids.
    One query for the known keys and one multi-row INSERT ... RETURNING for the rest."""
    parsed = list(parsed)
    keys = [entry.key for entry, _ in parsed]
    known = set(connection.scalars(select(entries.c.key).where(
        entries.c.feed_id == feed_id, entries.c.key.in_(keys)))) if keys else set()
    now, rows = utcnow(), []
    for entry, canonical in parsed:
        if entry.key in known:
            continue
        known.add(entry.key)
        rows.append({"feed_id": feed_id, "key": entry.key, "url": entry.url,
                     "canonical_url": canonical, "title": entry.title, "summary": entry.summary,
                     "author": entry.author, "published_at": entry.published_at,
                     "image": entry.image, "first_seen_at": now, "article_id": None})
    if not rows:
        return []
    return sorted(connection.scalars(insert(entries).returning(entries.c.id), rows))


def pending_entries(connection: Connection, entry_ids: Sequence[int] | None = None) -> list[Row]:
    """Entries with no article yet, with their feed's name and role."""
    query = (select(entries, feeds.c.name.label("feed_name"), feeds.c.role.label("feed_role"))
             .join(feeds, feeds.c.id == entries.c.feed_id)
             .where(entries.c.article_id.is_(None)).order_by(entries.c.id))
    if entry_ids is not None:
        query = query.where(entries.c.id.in_(entry_ids))
    return list(connection.execute(query))


def article_id_by_url(connection: Connection, canonical: str) -> int | None:
    """The article known by this canonical URL (see `article_ids_by_url`)."""
    return article_ids_by_url(connection, [canonical]).get(canonical)


def article_ids_by_url(connection: Connection, canonicals: Sequence[str]) -> dict[str, int]:
    """The articles known by these canonical URLs: by their own (rel=canonical, final URL),
    else by the canonical link of an entry already linked to them."""
    if not canonicals:
        return {}
    linked = connection.execute(select(entries.c.canonical_url, entries.c.article_id).where(
        entries.c.canonical_url.in_(canonicals), entries.c.article_id.is_not(None)))
    own = connection.execute(select(articles.c.canonical_url, articles.c.id).where(
        articles.c.canonical_url.in_(canonicals)))
    return dict(linked.all()) | dict(own.all())


def link_entry(connection: Connection, entry_id: int, article_id: int) -> None:
    connection.execute(update(entries).where(entries.c.id == entry_id)
                       .values(article_id=article_id))


@dataclass
class NewArticle:
    """An article to create for a pending entry (a row of `pending_entries`), with its
    archived page when it has one."""

    entry: Row
    canonical: str
    status: str
    error: str | None = None
    http_status: int | None = None
    source: str | None = None
    page: FetchedPage | None = None
    pointer: RecordPointer | None = None


def create_articles(connection: Connection, new: Sequence[NewArticle]) -> list[int]:
    """Create the articles and link each entry to its own, in two statements for all;
    their ids, in order."""
    if not new:
        return []
    now = utcnow()
    ids = list(connection.scalars(
        insert(articles).returning(articles.c.id, sort_by_parameter_order=True),
        [_article_row(article, now) for article in new]))
    connection.execute(
        update(entries).where(entries.c.id == bindparam("_entry"))
        .values(article_id=bindparam("_article")),
        [{"_entry": article.entry.id, "_article": article_id}
         for article, article_id in zip(new, ids, strict=True)])
    return ids


def _article_row(new: NewArticle, now: datetime) -> dict:
    entry, page, pointer = new.entry, new.page, new.pointer
    return {"url": entry.url, "canonical_url": new.canonical, "feed_id": entry.feed_id,
            "source": new.source or entry.feed_name, "role": entry.feed_role,
            "status": new.status, "error": new.error, "http_status": new.http_status,
            "fetched_at": ((page and page.fetched_at) or now) if new.http_status else None,
            "title": entry.title,
            "author": entry.author, "published_at": entry.published_at,
            # The feed's teaser and image until the page gives its own (save_extractions).
            "description": _teaser(entry.summary), "image": entry.image,
            "first_seen_at": now, "updated_at": now,
            "final_url": page.final_url if page else None,
            "content_type": page.content_type if page else None,
            "charset": page.charset if page else None,
            "warc_file": pointer.path if pointer else None,
            "warc_offset": pointer.offset if pointer else None}


# A feed whose summary is the whole article (JSON Feed's content_text, say) makes a long
# description: the page's own are a sentence or two.
_TEASER_CHARS = 500


def _teaser(summary: str | None) -> str | None:
    return textwrap.shorten(summary, _TEASER_CHARS, placeholder=" …") if summary else None


def articles_with_status(connection: Connection, status: str,
                         article_ids: Sequence[int] | None = None) -> list[int]:
    query = select(articles.c.id).where(articles.c.status == status).order_by(articles.c.id)
    if article_ids is not None:
        query = query.where(articles.c.id.in_(article_ids))
    return list(connection.scalars(query))


_PAGE_COLUMNS = (articles.c.id, articles.c.url, articles.c.final_url, articles.c.content_type,
                 articles.c.charset, articles.c.warc_file, articles.c.warc_offset)


def archived_pages(connection: Connection, article_ids: Sequence[int]) -> dict[int, Row]:
    """Where each article's archived response is (rows as `load_page` gives, without the
    body); articles with no archived page are left out."""
    return {row.id: row for row in connection.execute(select(*_PAGE_COLUMNS).where(
        articles.c.id.in_(article_ids), articles.c.warc_file.is_not(None)))}


def read_page_body(row: Row) -> bytes | None:
    """The body of an archived response; None when its record cannot be read."""
    try:
        return read_response(row.warc_file, row.warc_offset).body
    except ArchiveError as exc:  # moved or deleted archive: say where it was looked for
        log.warning("article %s: %s", row.id, exc)
        return None


def load_page(connection: Connection, article_id: int) -> tuple[Row, bytes] | None:
    """(row with .url, .final_url, .charset, .content_type, body bytes) from the WARC
    archive; None when the article has no archived page or its record cannot be read."""
    row = archived_pages(connection, [article_id]).get(article_id)
    body = read_page_body(row) if row is not None else None
    return (row, body) if body is not None else None


def lock_articles(connection: Connection, article_ids: Sequence[int]) -> None:
    """Lock the articles' rows until the transaction ends, in id order (PostgreSQL; SQLite
    serialises writers anyway)."""
    if article_ids:
        connection.execute(select(articles.c.id).where(articles.c.id.in_(article_ids))
                           .order_by(articles.c.id).with_for_update())


def save_extractions(connection: Connection,
                     extracted: Sequence[tuple[int, ExtractedArticle]]) -> list[int]:
    """Store extracted texts and metadata, one statement for all; values a page lacks keep
    the feed's. Only `fetched` articles change: a slower overlapping run must not pull an
    article placed in its story meanwhile back to `extracted` (it would be placed twice).
    Returns the ids saved; they stay locked until the transaction ends."""
    if not extracted:
        return []
    current = {row.id: row for row in connection.execute(
        select(articles.c.id, articles.c.title, articles.c.author, articles.c.published_at,
               articles.c.description, articles.c.image)
        .where(articles.c.id.in_([article_id for article_id, _ in extracted]),
               articles.c.status == "fetched").with_for_update())}
    now = utcnow()
    rows = [(article_id, _extraction_values(article, current[article_id], now))
            for article_id, article in extracted if article_id in current]
    if not rows:
        return []
    statement = (update(articles)
                 .where(articles.c.id == bindparam("_id"), articles.c.status == "fetched")
                 .values({column: bindparam(f"v_{column}") for column in rows[0][1]}))
    connection.execute(statement, [
        {"_id": article_id, **{f"v_{column}": value for column, value in values.items()}}
        for article_id, values in rows])
    return [article_id for article_id, _ in rows]


def _extraction_values(extracted: ExtractedArticle, current: Row, now: datetime) -> dict:
    return {"status": "extracted", "error": None, "text": extracted.text,
            "title": extracted.title or current.title,
            "author": extracted.author or current.author,
            "published_at": best_published_at(extracted.published_at, current.published_at),
            "modified_at": extracted.updated_at, "language": extracted.language,
            "sitename": extracted.sitename,
            "description": extracted.description or current.description,
            "image": extracted.image or current.image, "updated_at": now,
            "boilerplate_removed": "\n".join(extracted.boilerplate_removed) or None}


def extraction_hints(connection: Connection, article_ids: Sequence[int]) -> dict[int, Row]:
    """Per article: its feed and what its feed entry says (title, summary), to clean the
    extracted text. An article linked from several entries gets its first entry's."""
    rows = connection.execute(
        select(articles.c.id, articles.c.feed_id, entries.c.title, entries.c.summary)
        .outerjoin(entries, entries.c.article_id == articles.c.id)
        .where(articles.c.id.in_(article_ids)).order_by(articles.c.id, entries.c.id))
    hints: dict[int, Row] = {}
    for row in rows:
        hints.setdefault(row.id, row)
    return hints


def recent_feed_texts(connection: Connection, feed_id: int, limit: int = 200) -> list[str]:
    """Texts of the feed's latest extracted articles as extracted, the learned boilerplate
    lines they lost put back: where per-site boilerplate is learned."""
    rows = connection.execute(
        select(articles.c.text, articles.c.boilerplate_removed)
        .where(articles.c.feed_id == feed_id, articles.c.status.in_(("extracted", "deduped")),
               articles.c.text.is_not(None))
        .order_by(articles.c.id.desc()).limit(limit))
    return [f"{text}\n{removed}" if removed else text for text, removed in rows]


def mark_failed(connection: Connection, article_id: int, error: str, *,
                from_status: str = "extracted") -> None:
    """One article's failure; the default is the dedup stage's (its only caller): a text
    without words, on an article still `extracted`."""
    mark_all_failed(connection, [(article_id, error)], from_status=from_status)


def mark_all_failed(connection: Connection, failures: Sequence[tuple[int, str]], *,
                    from_status: str = "fetched") -> None:
    """Record each article's failure with its reason, one statement for all. Only articles
    still in `from_status` (the failing stage's input: `fetched` for extraction) change: a
    late outcome, from a retried task or an overlapping run, must not fail an article that
    another run extracted or placed in its story meanwhile (a story member marked failed)."""
    if failures:
        connection.execute(
            update(articles)
            .where(articles.c.id == bindparam("_id"), articles.c.status == from_status)
            .values(status="failed", error=bindparam("_error"), updated_at=utcnow()),
            [{"_id": article_id, "_error": error} for article_id, error in failures])


def article_text(connection: Connection, article_id: int) -> str | None:
    return connection.scalar(select(articles.c.text).where(articles.c.id == article_id))


def article_texts(connection: Connection, article_ids: Sequence[int]) -> dict[int, str | None]:
    return dict(connection.execute(
        select(articles.c.id, articles.c.text).where(articles.c.id.in_(article_ids))).all())


def insert_extracted_articles(connection: Connection, rows: Iterable[dict]) -> list[int]:
    """Store texts that come without a feed (a corpus to de-duplicate) as extracted
    articles, keyed by `key`; a key already stored keeps its article. Rows: `key`, `text`,
    optional `url`, `title`, `source`, `role`, `published_at` (aware datetime)."""
    ids = []
    now = utcnow()
    for row in rows:
        canonical = f"urn:newspipe:corpus:{row['key']}"
        known = article_id_by_url(connection, canonical)
        if known is None:
            known = connection.execute(insert(articles).values(
                url=row.get("url") or canonical, canonical_url=canonical,
                source=row.get("source"), role=row.get("role") or "outlet",
                status="extracted", title=row.get("title"), text=row["text"],
                published_at=row.get("published_at"), first_seen_at=now, updated_at=now,
            )).inserted_primary_key[0]
        ids.append(known)
    return ids


def articles_fetched_between(connection: Connection, since: datetime,
                             until: datetime) -> list[int]:
    """Articles whose page was fetched in [since, until): what a backfill can reprocess."""
    return list(connection.scalars(
        select(articles.c.id).where(articles.c.fetched_at >= since, articles.c.fetched_at < until)
        .order_by(articles.c.id)))


def requeue_for_extraction(connection: Connection, article_ids: Sequence[int]) -> None:
    connection.execute(update(articles).where(articles.c.id.in_(article_ids)).values(
        status="fetched", error=None, updated_at=utcnow()))


def stored_robots_txt(connection: Connection, url: str) -> tuple[int, str] | None:
    """(status, body) of a robots.txt fetched before and not yet expired."""
    row = connection.execute(select(robots_txt.c.status, robots_txt.c.body).where(
        robots_txt.c.url == url, robots_txt.c.expires_at > utcnow())).first()
    return (row.status, row.body) if row else None


def store_robots_txt(connection: Connection, url: str, status: int, body: str,
                     expires_at: datetime) -> None:
    connection.execute(delete(robots_txt).where(robots_txt.c.url == url))
    connection.execute(insert(robots_txt).values(url=url, status=status, body=body,
                                                 fetched_at=utcnow(), expires_at=expires_at))
