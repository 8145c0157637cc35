"""Stories over time: canonical switching and the change cursor, the canonical policy,
retention of the LSH index, and concurrent workers on PostgreSQL."""

from __future__ import annotations

import multiprocessing
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from dedup_corpus import EDIT_FAMILIES, story, text
from newspipe import pipeline
from newspipe.config import Settings
from newspipe.dedup import Deduplicator, DedupSettings
from newspipe.store import open_store, repo
from newspipe.store.read import canonical_records, changes_since
from newspipe.store.schema import articles, clusters, lsh_buckets, utcnow
from test_dedup_engine import place, row


def test_a_better_member_becomes_canonical_and_consumers_see_it(store):
    wire = story(11)
    first = place(store, [row("outlet", text(wire[:7]), 10, source="Outlet")])
    [record] = canonical_records(store)
    assert record["source"] == "Outlet" and record["duplicates"] == []
    cursor = changes_since(store)[-1]["id"]
    before = record["updated_at"]

    second = place(store, [row("wire", text(wire), 0, source="Wire", role="wire")])
    assert second["wire"] == first["outlet"]
    [record] = canonical_records(store)
    assert record["source"] == "Wire", "the wire's own text beats an outlet's earlier copy"
    assert record["cluster_id"] == first["outlet"], "the story keeps its id"
    assert record["updated_at"] > before
    [duplicate] = record["duplicates"]
    assert duplicate["source"] == "Outlet" and 0.3 < duplicate["similarity"] < 1.0
    kinds = [c["kind"] for c in changes_since(store, cursor)]
    assert kinds == ["duplicate_added", "canonical_changed"]


def test_earliest_published_then_most_complete_wins(store):
    base = story(12)
    place(store, [row("late-full", text(base), 60), row("early-short", text(base[:6]), 0),
                  row("same-time-longer", text(base[:8]), 0)])
    [record] = canonical_records(store)
    assert record["text"] == text(base[:8])


def _stories_and_similarities(store) -> tuple[list, list]:
    with store.connect() as connection:
        return (connection.execute(select(clusters.c.id, clusters.c.canonical_article_id,
                                          clusters.c.size).order_by(clusters.c.id)).all(),
                connection.execute(select(articles.c.id, articles.c.cluster_id,
                                          articles.c.similarity).order_by(articles.c.id)).all())


def test_a_growing_story_compared_with_its_canonical_only_ends_as_if_read_whole(store):
    """A story that grows reads its canonical and its new members, not every copy: its
    size, canonical and similarities are still those a reading of all members gives,
    through batches that keep the canonical and ones that change it."""
    wire = story(14)
    place(store, [row("first", text(wire[:8]), 30), row("second", text(wire[:9]), 35)])
    place(store, [row("wire", text(wire), 20, role="wire")])
    place(store, [row("earlier", text(EDIT_FAMILIES["copyedit"](wire)), 10)])
    place(store, [row("later", text(wire[:7]), 40), row("last", text(wire[:6]), 60)])
    grown = _stories_and_similarities(store)
    [(story_id, canonical, size)] = grown[0]
    assert size == 6 and canonical == _article_id(store, "wire")
    with store.begin() as connection:
        assert Deduplicator()._refresh_clusters(connection, [story_id]) == {story_id: False}
    assert _stories_and_similarities(store) == grown


def test_canonical_policy_is_configurable(store):
    base = story(13)
    longest_first = Deduplicator(DedupSettings(canonical_policy=("longest", "earliest")))
    place(store, [row("early-short", text(base[:6]), 0), row("late-full", text(base), 60)],
          longest_first)
    [record] = canonical_records(store)
    assert record["text"] == text(base)
    with pytest.raises(ValueError, match="unknown canonical criteria"):
        DedupSettings(canonical_policy=("loudest",))


def test_retention_prunes_the_index_and_old_stories_stop_matching(store):
    base = story(14)
    old = place(store, [row("old", text(base))])
    with store.begin() as connection:
        connection.execute(update(lsh_buckets).values(indexed_at=utcnow() - timedelta(days=40)))
    recent = place(store, [row("recent", text(story(15)))])
    settings = replace(Settings(), retention_days=30)
    assert pipeline.prune_index(store, settings) > 0
    with store.connect() as connection:
        indexed = set(connection.scalars(select(lsh_buckets.c.article_id).distinct()))
    assert indexed == {_article_id(store, "recent")}
    assert pipeline.prune_index(store, settings) == 0
    # A near copy of the pruned story starts a new one; the recent story still matches.
    again = place(store, [row("old-copy", text(base[:7])), row("recent-copy",
                                                                text(story(15)[:7]))])
    assert again["old-copy"] != old["old"]
    assert again["recent-copy"] == recent["recent"]


def _article_id(store, key: str) -> int:
    with store.connect() as connection:
        return connection.scalar(select(articles.c.id).where(
            articles.c.canonical_url == f"urn:newspipe:corpus:{key}"))


def _worker(url: str, ids: list[int], start) -> None:
    store = open_store(url, migrate=False)
    start.wait()
    pipeline.deduplicate_articles(store, ids)
    store.dispose()


@pytest.mark.postgres
def test_concurrent_workers_never_start_one_story_twice(pg_url):
    """Four processes place copies of the same stories at the same time."""
    store = open_store(pg_url)
    stories = {seed: story(seed) for seed in (21, 22, 23)}
    # Copies that all match each other: stories are never merged afterwards, so a copy
    # that matched only a later one would rightly start a story of its own.
    variants = [lambda p: p, lambda p: p[:9], lambda p: p[:8], lambda p: p[:7],
                EDIT_FAMILIES["boilerplate"], EDIT_FAMILIES["typography"]]
    rows = [row(f"{seed}-{n}", text(variant(paragraphs)), n)
            for seed, paragraphs in stories.items() for n, variant in enumerate(variants)]
    with store.begin() as connection:
        ids = repo.insert_extracted_articles(connection, rows)
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(4)
    workers = [context.Process(target=_worker, args=(pg_url, ids[n::4], start))
               for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0

    with store.connect() as connection:
        cluster_of = dict(connection.execute(select(articles.c.id, articles.c.cluster_id)).all())
        assert connection.scalar(select(func.count()).select_from(clusters)) == 3
        sizes = dict(connection.execute(select(clusters.c.id, clusters.c.size)).all())
    for seed in stories:
        placed = {cluster_of[i] for r, i in zip(rows, ids, strict=True)
                  if r["key"].startswith(f"{seed}-")}
        assert len(placed) == 1, f"story {seed} was split over {placed}"
    assert sorted(sizes.values()) == [6, 6, 6]
    store.dispose()


def _lose_the_index(store) -> None:
    """What PostgreSQL's crash recovery does to the unlogged index tables: empties them."""
    with store.begin() as connection:
        for table in ("lsh_buckets", "lsh_index_state"):
            connection.exec_driver_sql(f"DELETE FROM {table}")


def test_an_index_lost_in_a_crash_is_rebuilt_before_anything_is_placed(store):
    """Stories placed within the retention window match again, indexed at the times they
    were placed; older ones are not brought back; a complete index is left alone."""
    old, recent = story(31), story(32)
    first = place(store, [row("old", text(old)), row("recent", text(recent))])
    long_ago = utcnow() - timedelta(days=40)
    with store.begin() as connection:
        connection.execute(update(articles).where(articles.c.id == _article_id(store, "old"))
                           .values(updated_at=long_ago))
        placed_at = connection.scalar(select(articles.c.updated_at).where(
            articles.c.id == _article_id(store, "recent")))
    _lose_the_index(store)

    again = place(store, [row("old-copy", text(old[:7])), row("recent-copy", text(recent[:7]))])
    assert again["recent-copy"] == first["recent"]
    assert again["old-copy"] != first["old"]  # outside the 30-day window: not re-indexed
    with store.connect() as connection:
        times = dict(connection.execute(
            select(lsh_buckets.c.article_id, func.min(lsh_buckets.c.indexed_at))
            .group_by(lsh_buckets.c.article_id)).all())
    assert _article_id(store, "old") not in times
    assert times[_article_id(store, "recent")] == placed_at
    assert pipeline.restore_index(store, Deduplicator()) == 0


@pytest.mark.postgres
def test_two_workers_finding_the_index_lost_rebuild_it_once(pg_url):
    import threading

    store = open_store(pg_url)
    place(store, [row(f"s{seed}", text(story(seed))) for seed in (41, 42, 43)])
    with store.connect() as connection:
        rows_before = connection.scalar(select(func.count()).select_from(lsh_buckets))
    _lose_the_index(store)
    barrier, restored = threading.Barrier(2), []

    def worker():
        barrier.wait()
        restored.append(pipeline.restore_index(store, Deduplicator()))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(restored) == [0, 3]
    with store.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(lsh_buckets)) == rows_before
    store.dispose()
