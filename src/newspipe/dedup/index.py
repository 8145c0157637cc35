"""The persistent LSH index: band buckets in the `lsh_buckets` table, looked up by an
indexed query, written in the caller's transaction together with the article."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from newspipe.store.schema import lsh_buckets, utcnow


def candidates(connection: Connection, buckets: list[int], exclude: int | None = None) -> list[int]:
    """Ids of indexed articles sharing at least one band bucket."""
    query = select(lsh_buckets.c.article_id).where(lsh_buckets.c.bucket.in_(buckets)).distinct()
    if exclude is not None:
        query = query.where(lsh_buckets.c.article_id != exclude)
    return list(connection.scalars(query))


def add(connection: Connection, article_id: int, buckets: list[int]) -> None:
    """Index an article (idempotent: its old buckets are replaced)."""
    remove(connection, article_id)
    now = utcnow()
    connection.execute(insert(lsh_buckets), [
        {"bucket": bucket, "article_id": article_id, "indexed_at": now}
        for bucket in sorted(set(buckets))
    ])


def remove(connection: Connection, article_id: int) -> None:
    connection.execute(delete(lsh_buckets).where(lsh_buckets.c.article_id == article_id))


def prune(connection: Connection, older_than: datetime) -> int:
    """Drop index entries older than the retention window; returns rows removed."""
    result = connection.execute(delete(lsh_buckets).where(lsh_buckets.c.indexed_at < older_than))
    return result.rowcount or 0
