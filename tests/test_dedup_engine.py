"""The de-duplication engine on hand-made copies: every edit family joins its story, every
trap stays apart (on SQLite and PostgreSQL, through the pipeline's stage function)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from dedup_corpus import (  # tests/dedup_corpus.py
    EARNINGS_TRAPS,
    EDIT_FAMILIES,
    FOOTER_TRAPS,
    WEATHER_TRAPS,
    story,
    text,
)
from newspipe import pipeline
from newspipe.dedup import Deduplicator
from newspipe.dedup.boilerplate import remove_boilerplate
from newspipe.dedup.normalize import normalize_lines, normalize_text
from newspipe.store import repo
from newspipe.store.schema import articles

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def place(store, rows: list[dict], deduplicator: Deduplicator | None = None,
          batch_size: int = pipeline.DEDUP_BATCH_SIZE) -> dict[str, int]:
    """Store rows as extracted articles, de-duplicate them; key -> cluster id."""
    with store.begin() as connection:
        ids = repo.insert_extracted_articles(connection, rows)
    pipeline.deduplicate_articles(store, ids, deduplicator, batch_size=batch_size)
    with store.connect() as connection:
        cluster_of = dict(connection.execute(
            select(articles.c.id, articles.c.cluster_id).where(articles.c.id.in_(ids))).all())
    return {row["key"]: cluster_of[i] for row, i in zip(rows, ids, strict=True)}


def row(key: str, body: str, minutes: int = 0, **extra) -> dict:
    return {"key": key, "text": body, "published_at": T0 + timedelta(minutes=minutes), **extra}


def test_normalisation_unifies_typography():
    fancy = "\u201cIt\u2019s\u00a0done\u201d \u2014 said the ma\u200byor &amp; the COUNCIL"
    assert normalize_text(fancy) == "\"it's done\" - said the mayor & the council"


def test_boilerplate_lines_are_dropped_and_the_story_kept():
    lines = normalize_lines("\n".join([
        "WASHINGTON (Reuters) - The council approved the budget on Monday evening.",
        "ANZEIGE", "Read more: Ferry timetable changes next week",
        "The vote was close, with eleven members in favour and nine against it.",
        "© 2024 Harbour Wire. All rights reserved.",
        "This article originally appeared on harbourwire.example.",
        "Sign up for our daily newsletter to get the latest headlines."]))
    assert remove_boilerplate(lines) == [
        "the council approved the budget on monday evening.",
        "the vote was close, with eleven members in favour and nine against it."]


@pytest.mark.parametrize("family", sorted(EDIT_FAMILIES))
def test_each_edit_family_joins_the_original(sqlite_url, family):
    from newspipe.store import open_store

    store = open_store(sqlite_url)
    original = story(1)
    clusters = place(store, [row("original", text(original)),
                             row("copy", text(EDIT_FAMILIES[family](original)), 30)])
    assert clusters["copy"] == clusters["original"], f"{family} copy started a new story"


def test_all_copies_one_story_distinct_stories_and_traps_apart(store):
    """Every family in one store with unrelated stories and the traps: one story for the
    copies, one story per trap document, on both backends."""
    original = story(1)
    rows = [row("original", text(original))]
    rows += [row(f"copy-{family}", text(edit(original)), minutes)
             for minutes, (family, edit) in enumerate(sorted(EDIT_FAMILIES.items()), start=1)]
    rows += [row(f"other-{seed}", text(story(seed)), 60 + seed) for seed in (2, 3)]
    traps = EARNINGS_TRAPS + WEATHER_TRAPS + FOOTER_TRAPS
    rows += [row(f"trap-{n}", body, 90 + n) for n, body in enumerate(traps)]
    clusters = place(store, rows)

    assert {clusters[k] for k in clusters if k.startswith("copy-")} == {clusters["original"]}
    others = [clusters[k] for k in clusters if not k.startswith(("copy-", "original"))]
    assert len(set(others)) == len(others), "distinct stories or traps were merged"
    assert clusters["original"] not in others


def test_batches_fingerprinted_ahead_place_copies_across_batches(store):
    """Batches of 2: each batch's fingerprints are computed while the one before is
    placed; copies in later batches still join the story an earlier batch started, and
    the stories are the same as with the whole corpus in one batch."""
    original = story(1)
    rows = [row("original", text(original)), row("other", text(story(2)), 1)]
    rows += [row(f"copy-{family}", text(edit(original)), minutes)
             for minutes, (family, edit) in enumerate(sorted(EDIT_FAMILIES.items()), start=2)]
    rows += [row(f"trap-{n}", body, 90 + n) for n, body in enumerate(EARNINGS_TRAPS)]
    clusters = place(store, rows, batch_size=2)

    assert {clusters[k] for k in clusters if k.startswith("copy-")} == {clusters["original"]}
    assert len({clusters[k] for k in clusters if not k.startswith("copy-")}) == 2 + len(
        EARNINGS_TRAPS)


class _CountingDeduplicator(Deduplicator):
    def __init__(self):
        super().__init__()
        self.verified = 0

    def verify(self, new, candidate):
        self.verified += 1
        return super().verify(new, candidate)


def test_a_story_of_many_copies_is_verified_against_a_few_of_them(store):
    """Every copy of a wire story is a candidate of the next: the next one is verified
    against the story's 3 best-agreeing members, in the store and in its own batch."""
    original = story(6)
    copies = [row(f"copy-{n}", text(EDIT_FAMILIES["copyedit"](original)[:10 - n % 3])
                  + f"\n\nCopy number {n} of the story, as one outlet ran it.", n + 1)
              for n in range(12)]
    placed = place(store, [row("original", text(original)), *copies[:8]])
    counting = _CountingDeduplicator()
    later = place(store, copies[8:10], counting) | place(store, copies[10:], counting,
                                                         batch_size=1)
    assert set(placed.values()) == set(later.values()) == {placed["original"]}
    # 4 later copies, each against at most 3 of the story's 9-12 members.
    assert 4 <= counting.verified <= 4 * 3


def test_shingle_count_counts_distinct_shingles():
    deduplicator = Deduplicator()
    for body in (text(story(3)), "one two three four five " * 40, "a few words", ""):
        fp = deduplicator.fingerprint(body)
        assert fp.shingle_count == len(set(fp.shingled.hashes.tolist()))


def test_a_syndicated_copy_of_a_trap_joins_only_that_trap(store):
    copy = EARNINGS_TRAPS[1].replace("Thursday", "Thursday, the company said")
    clusters = place(store, [row(f"brief-{n}", body, n) for n, body in enumerate(EARNINGS_TRAPS)]
                     + [row("copy", "By Wire Staff\n\n" + copy, 10)])
    assert clusters["copy"] == clusters["brief-1"]
    assert len({clusters[f"brief-{n}"] for n in range(len(EARNINGS_TRAPS))}) == 4


def test_exact_duplicates_take_the_fast_path(store):
    body = text(story(5))
    with store.begin() as connection:
        first, second = repo.insert_extracted_articles(connection, [
            row("a", body), row("b", body.upper().replace(".", " !"), 5)])
    deduplicator = Deduplicator()
    pipeline.deduplicate_articles(store, [first], deduplicator)
    with store.begin() as connection:
        match = deduplicator.find_match(connection, second, deduplicator.fingerprint(
            repo.article_text(connection, second)))
    assert match is not None and match.article_id == first and match.score == 1.0


def test_dedup_is_idempotent(store):
    rows = [row("original", text(story(1))), row("copy", text(story(1)[:6]), 5)]
    first = place(store, rows)
    assert place(store, rows) == first
    assert pipeline.deduplicate_articles(store).articles == 0


def test_dedup_settings_come_from_the_configuration(tmp_path):
    from newspipe.config import ConfigError, load_settings

    config = tmp_path / "newspipe.toml"
    config.write_text('[newspipe]\ndedup_jaccard_threshold = 0.7\n'
                      'canonical_policy = ["earliest", "longest"]\n')
    engine = pipeline.deduplicator_for(load_settings(config, env={}))
    assert engine.settings.jaccard_threshold == 0.7
    assert engine.settings.canonical_policy == ("earliest", "longest")
    env = {"NEWSPIPE_CANONICAL_POLICY": "role,loudest"}
    with pytest.raises(ConfigError, match="unknown canonical criteria"):
        pipeline.deduplicator_for(load_settings(config, env=env))


def test_an_article_without_words_fails_clearly_and_the_run_goes_on(store):
    clusters = place(store, [row("empty", " \n ... \n"), row("fine", text(story(8)))])
    assert clusters["empty"] is None and clusters["fine"] is not None
    with store.connect() as connection:
        status, error = connection.execute(select(articles.c.status, articles.c.error).where(
            articles.c.canonical_url == "urn:newspipe:corpus:empty")).one()
    assert status == "failed" and error == "dedup failed: the text has no words"
