"""Issue 2's contract: the seed article from feed to ONE canonical record, on SQLite and
on PostgreSQL, with the seed fixture served by a real HTTP server."""

from __future__ import annotations

import re
from collections import Counter

from sqlalchemy import select

from newspipe import pipeline
from newspipe.store.read import canonical_records, summary
from newspipe.store.schema import articles, clusters, entries, lsh_buckets


def token_f1(predicted: str, gold: str) -> float:
    pred = Counter(re.findall(r"\w+", predicted.lower()))
    ref = Counter(re.findall(r"\w+", gold.lower()))
    common = sum((pred & ref).values())
    if not common:
        return 0.0
    precision, recall = common / sum(pred.values()), common / sum(ref.values())
    return 2 * precision * recall / (precision + recall)


def seed_body(seed_text: str) -> str:
    """The body paragraphs: from the lead paragraph on (title, standfirst, date and caption
    come before it)."""
    caption_end = seed_text.index("via Getty Images]") + len("via Getty Images]")
    return seed_text[caption_end:]


def stories_by_story_name(records, manifest, base_url):
    """Map each manifest story name to the set of cluster ids its pages landed in."""
    cluster_of_url = {}
    for record in records:
        cluster_of_url[record["url"]] = record["cluster_id"]
        for copy in record["duplicates"]:
            cluster_of_url[copy["url"]] = record["cluster_id"]
    found: dict[str, set[int]] = {}
    for page in manifest:
        url = f"{base_url}/{page['path']}"
        matches = {c for u, c in cluster_of_url.items() if u.split("?")[0] == url}
        found.setdefault(page["story"], set()).update(matches)
    return found


def snapshot(store):
    """Everything a re-run could change, in a comparable form."""
    with store.connect() as connection:
        return {
            "entries": connection.execute(select(entries.c.id, entries.c.article_id)
                                          .order_by(entries.c.id)).all(),
            "articles": connection.execute(
                select(articles.c.id, articles.c.status, articles.c.cluster_id,
                       articles.c.similarity, articles.c.text_hash, articles.c.updated_at)
                .order_by(articles.c.id)).all(),
            "clusters": connection.execute(select(clusters).order_by(clusters.c.id)).all(),
            "lsh": connection.execute(select(lsh_buckets.c.bucket, lsh_buckets.c.article_id)
                                      .order_by(lsh_buckets.c.bucket,
                                                lsh_buckets.c.article_id)).all(),
        }


def test_seed_story_becomes_one_canonical_record(store, seed_server, manifest, seed_text):
    settings = seed_server.settings(database_url=store.url)
    result = pipeline.run_cycle(store, settings)
    assert result.poll.failed == 0

    records = list(canonical_records(store))
    found = stories_by_story_name(records, manifest, seed_server.base_url)
    seed_pages = [p for p in manifest if p["story"] == "seed"]
    assert len(seed_pages) >= 5
    assert len(found["seed"]) == 1, f"seed story split over clusters {found['seed']}"
    seed_record = next(r for r in records if r["cluster_id"] in found["seed"])
    assert len(seed_record["duplicates"]) == len(seed_pages) - 1
    original = next(p for p in seed_pages if p["kind"] == "original")
    assert seed_record["url"] == f"{seed_server.base_url}/{original['path']}"
    assert all(0.0 < d["similarity"] <= 1.0 for d in seed_record["duplicates"])

    for story, clusters_found in found.items():
        if story != "seed":
            assert len(clusters_found) == 1
            assert clusters_found.isdisjoint(found["seed"]), f"{story} merged into the seed story"

    assert token_f1(seed_record["text"], seed_body(seed_text)) >= 0.95
    assert seed_record["published_at"].startswith("2021-06-17")
    counts = summary(store)
    assert counts["failed"] == 0
    assert counts["stories"] == len({p["story"] for p in manifest})


def test_second_run_changes_nothing(store, seed_server):
    settings = seed_server.settings(database_url=store.url)
    pipeline.run_cycle(store, settings)
    before = snapshot(store)
    again = pipeline.run_cycle(store, settings)
    assert again.poll.new_entry_ids == [] and again.fetched == [] and again.extracted == []
    assert again.dedup.articles == 0
    assert snapshot(store) == before


def test_rededuplicating_everything_rebuilds_the_same_stories(store, seed_server):
    pipeline.run_cycle(store, seed_server.settings(database_url=store.url))

    def stories():
        return sorted((r["url"], sorted(d["url"] for d in r["duplicates"]))
                      for r in canonical_records(store))

    before = stories()
    with store.connect() as connection:
        ids = list(connection.scalars(select(articles.c.id).order_by(articles.c.id)))
    result = pipeline.rededuplicate_articles(store, ids)
    assert result.articles == len(ids)
    assert stories() == before


def test_a_story_removed_by_a_backfill_keeps_its_history(store, seed_server):
    from newspipe.store.read import changes_since

    pipeline.run_cycle(store, seed_server.settings(database_url=store.url))
    before = changes_since(store)
    singles = [r for r in canonical_records(store) if not r["duplicates"]]
    pipeline.rededuplicate_articles(store, [r["id"] for r in singles])
    after = changes_since(store)
    assert after[:len(before)] == before  # nothing of the log is lost
    new = after[len(before):]
    removed = {c["cluster_id"] for c in new if c["kind"] == "story_removed"}
    assert removed == {r["cluster_id"] for r in singles}
    assert sum(c["kind"] == "story_created" for c in new) == len(singles)
