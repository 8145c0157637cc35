"""The persistent LSH index as written by a batch (PostgreSQL writes it by binary COPY)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from dedup_corpus import story, text
from newspipe.store.schema import lsh_buckets, utcnow
from test_dedup_engine import place, row


def test_index_rows_hold_each_bucket_once_with_the_time_written(store):
    before = utcnow()
    place(store, [row("a", text(story(21))), row("b", text(story(22)))])
    with store.connect() as connection:
        rows = connection.execute(select(lsh_buckets)).all()
    assert len({(r.bucket, r.article_id) for r in rows}) == len(rows)
    assert len({r.article_id for r in rows}) == 2
    assert all(before - timedelta(seconds=1) <= r.indexed_at <= utcnow() for r in rows)
