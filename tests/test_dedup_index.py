"""The persistent LSH index as written by a batch (PostgreSQL writes it by binary COPY)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from dedup_corpus import EDIT_FAMILIES, story, text
from newspipe.dedup import Deduplicator
from newspipe.store.schema import articles, lsh_buckets, utcnow
from test_dedup_engine import place, row


def test_index_rows_hold_each_bucket_once_with_the_time_written(store):
    before = utcnow()
    place(store, [row("a", text(story(21))), row("b", text(story(22)))])
    with store.connect() as connection:
        rows = connection.execute(select(lsh_buckets)).all()
    assert len({(r.bucket, r.article_id) for r in rows}) == len(rows)
    assert len({r.article_id for r in rows}) == 2
    assert all(before - timedelta(seconds=1) <= r.indexed_at <= utcnow() for r in rows)


def _story_rows(store) -> dict[tuple[int, int], list[int]]:
    """(story, bucket) -> the articles holding that index row."""
    rows: dict[tuple[int, int], list[int]] = {}
    with store.connect() as connection:
        for bucket, article_id, story_id in connection.execute(
                select(lsh_buckets.c.bucket, lsh_buckets.c.article_id, articles.c.cluster_id)
                .join(articles, articles.c.id == lsh_buckets.c.article_id)):
            rows.setdefault((story_id, bucket), []).append(article_id)
    return rows


def _placed(store, keys: list[str]) -> list[tuple[int, str]]:
    """(article id, text) of the articles stored under `keys`, in the order placed."""
    with store.connect() as connection:
        found = dict(connection.execute(select(articles.c.url, articles.c.id)).all())
        texts = dict(connection.execute(select(articles.c.id, articles.c.text)).all())
    ids = [found[f"urn:newspipe:corpus:{key}"] for key in keys]
    return [(i, texts[i]) for i in ids]


def _expected_rows(placed: list[tuple[int, str]], story_id: int) -> dict:
    """One row per bucket of any member, owned by the last member placed with it."""
    owners = {}
    for article_id, body in placed:
        for bucket in Deduplicator().fingerprint(body).buckets:
            owners[story_id, bucket] = [article_id]
    return owners


def test_a_story_keeps_one_index_row_per_bucket_owned_by_its_latest_member(store):
    """A wire story copied again and again does not fill its buckets with copies: each
    bucket any member has is indexed once, by the latest member with it, so a copy's
    lookup costs the same however many copies came before."""
    wire = story(23)
    copies = [text(wire)] + [text(edit(wire)) for edit in EDIT_FAMILIES.values()]
    keys = [f"copy-{n}" for n in range(len(copies))]
    first = place(store, [row(keys[0], copies[0])])
    for key, body in zip(keys[1:3], copies[1:3], strict=True):  # one batch each
        place(store, [row(key, body)])
    placed = place(store, [row(k, b) for k, b in zip(keys[3:], copies[3:], strict=True)])
    assert set(placed.values()) == {first[keys[0]]}
    assert _story_rows(store) == _expected_rows(_placed(store, keys), first[keys[0]])

    late = place(store, [row("late", text(EDIT_FAMILIES["truncate"](wire)))])
    assert late["late"] == first[keys[0]]


def test_a_story_stays_indexed_by_its_other_members_when_one_leaves(store):
    """Reprocessing takes an article out of its story: the members left own all of their
    buckets again, so the story is still found."""
    wire = story(24)
    keys = ["original", "edited", "latest"]
    bodies = [text(wire), text(EDIT_FAMILIES["copyedit"](wire)), text(wire[:8])]
    first = place(store, [row(keys[0], bodies[0])])
    place(store, [row(keys[1], bodies[1])])
    place(store, [row(keys[2], bodies[2])])
    placed = _placed(store, keys)
    with store.begin() as connection:
        Deduplicator().detach(connection, [placed[2][0]])
    assert _story_rows(store) == _expected_rows(placed[:2], first["original"])
    assert place(store, [row("again", text(wire[:6]))])["again"] == first["original"]
