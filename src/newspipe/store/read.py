"""The read API for consumers: canonical records (the export contract), stories, changes.

    from newspipe.store import open_store
    from newspipe.store.read import canonical_records
    store = open_store("sqlite:///newspipe.db", migrate=False)
    for record in canonical_records(store):
        print(record["title"], len(record["duplicates"]))
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from newspipe.dates import format_utc
from newspipe.store.engine import Store
from newspipe.store.schema import articles, changes, clusters, entries, feeds, store_identity

# The export contract: fields are only ever added (at the end), never renamed or removed.
RECORD_FIELDS = ("id", "cluster_id", "url", "canonical_url", "source", "title", "author",
                 "published_at", "language", "text", "first_seen_at", "updated_at",
                 "duplicates", "sitename", "description", "image", "modified_at")


def canonical_records(store: Store, *, updated_since: datetime | None = None,
                      story_ids: Collection[int] | None = None,
                      batch_size: int = 500) -> Iterator[dict[str, Any]]:
    """One record per story, oldest story first: the canonical article and its copies
    (optionally only stories updated since a time, or with the given ids)."""
    canonical = articles.alias("canonical")
    query = (select(canonical, clusters.c.id.label("story_id"),
                    clusters.c.created_at.label("story_first_seen"),
                    clusters.c.updated_at.label("story_updated"))
             .join(clusters, clusters.c.canonical_article_id == canonical.c.id)
             .order_by(clusters.c.id))
    if updated_since is not None:
        query = query.where(clusters.c.updated_at > updated_since)
    if story_ids is not None:
        query = query.where(clusters.c.id.in_(sorted(story_ids)))
    with store.connect() as connection:
        result = connection.execution_options(yield_per=batch_size).execute(query)
        for batch in result.partitions():
            copies = _duplicates(connection, [row.story_id for row in batch])
            for row in batch:
                yield _record(row, copies.get(row.story_id, []))


def _duplicates(connection, cluster_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    rows = connection.execute(
        select(articles.c.id, articles.c.url, articles.c.source, articles.c.similarity,
               articles.c.cluster_id)
        .join(clusters, clusters.c.id == articles.c.cluster_id)
        .where(articles.c.cluster_id.in_(cluster_ids),
               articles.c.id != clusters.c.canonical_article_id)
        .order_by(articles.c.id))
    copies: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        copies[row.cluster_id].append({"id": row.id, "url": row.url, "source": row.source,
                                       "similarity": round(row.similarity or 0.0, 4)})
    return copies


def _record(row, duplicates: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row.id,
        "cluster_id": row.story_id,
        "url": row.url,
        "canonical_url": row.canonical_url,
        "source": row.source,
        "title": row.title,
        "author": row.author,
        "published_at": format_utc(row.published_at),
        "language": row.language,
        "text": row.text,
        "first_seen_at": format_utc(row.story_first_seen),
        "updated_at": format_utc(row.story_updated),
        "duplicates": duplicates,
        "sitename": row.sitename,
        "description": row.description,
        "image": row.image,
        "modified_at": format_utc(row.modified_at),
    }


def changes_since(store: Store, cursor: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
    """Story changes after `cursor` (a change id); resume from the last id returned."""
    with store.connect() as connection:
        rows = connection.execute(select(changes).where(changes.c.id > cursor)
                                  .order_by(changes.c.id).limit(limit))
        return [{"id": r.id, "cluster_id": r.cluster_id, "article_id": r.article_id,
                 "kind": r.kind, "at": format_utc(r.at)} for r in rows]


def summary(store: Store) -> dict[str, int]:
    """Counts for dashboards and the CLI's summary table."""
    with store.connect() as connection:
        def count(table, *where) -> int:
            return connection.scalar(select(func.count()).select_from(table).where(*where)) or 0

        stories = count(clusters)
        clustered = count(articles, articles.c.cluster_id.is_not(None))
        return {
            "feeds": count(feeds),
            "entries": count(entries),
            "articles": count(articles),
            "failed": count(articles, articles.c.status == "failed"),
            "stories": stories,
            "duplicates": clustered - stories,
        }


def feed_health(store: Store) -> list[dict[str, Any]]:
    """Per-feed status for operators: last poll, failures, paused reason."""
    with store.connect() as connection:
        rows = connection.execute(select(feeds).order_by(feeds.c.id))
        return [{"id": r.id, "name": r.name, "url": r.url, "last_status": r.last_status,
                 "last_polled_at": format_utc(r.last_polled_at),
                 "consecutive_failures": r.consecutive_failures, "last_error": r.last_error,
                 "next_poll_at": format_utc(r.next_poll_at), "paused_reason": r.paused_reason}
                for r in rows]


def store_id(store: Store) -> str:
    """This store's identity (a UUID drawn when its schema was made): what tells its
    change ids from another store's."""
    with store.connect() as connection:
        return connection.scalar(select(store_identity.c.store_id))


def latest_change_id(store: Store) -> int:
    """The newest change id: a cursor for `changes_since` that skips the past."""
    with store.connect() as connection:
        return connection.scalar(select(func.max(changes.c.id))) or 0
