"""Backfills without Airflow: WARC import, a URL list through the fetch stage, reprocessing
a date range; and `newspipe backfill` as users run it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from newspipe import pipeline
from newspipe.config import Settings
from newspipe.store.read import canonical_records, feed_health, summary
from test_cli import newspipe
from test_dag_recovery import store_contents


def finish(store) -> pipeline.DedupResult:
    pipeline.extract_articles(store)
    return pipeline.deduplicate_articles(store)


def stories(store) -> list:
    return sorted((r["url"], sorted(d["url"] for d in r["duplicates"]))
                  for r in canonical_records(store))


def test_warc_import_makes_the_stories_and_is_idempotent(store, seed_warc, manifest):
    imported = pipeline.import_warc(store, Settings(), [seed_warc])
    assert (imported.records, len(imported.article_ids), imported.errors) == \
        (len(manifest), len(manifest), [])
    placed = finish(store)
    assert placed.new_stories == len({p["story"] for p in manifest})
    assert {r["source"] for r in canonical_records(store)} == {"seed.example.org"}
    before = store_contents(store.url)

    again = pipeline.import_warc(store, Settings(), [seed_warc])
    assert (again.records, again.article_ids, again.skipped) == (len(manifest), [], len(manifest))
    assert finish(store).articles == 0
    assert store_contents(store.url) == before


def test_an_unreadable_warc_is_recorded_and_the_others_go_on(store, seed_warc, tmp_path):
    broken = tmp_path / "broken.warc.gz"
    broken.write_bytes(b"<html>not a WARC file</html>\n")
    imported = pipeline.import_warc(store, Settings(), [broken, seed_warc])
    assert len(imported.errors) == 1 and "broken.warc.gz" in imported.errors[0]
    assert imported.article_ids
    (warc_feed,) = [f for f in feed_health(store) if f["url"] == "manual:warc"]
    assert "broken.warc.gz" in warc_feed["last_error"]


def test_a_url_list_goes_through_the_fetch_stage(store, seed_server, manifest):
    settings = seed_server.settings(database_url=store.url)
    urls = [f"{seed_server.base_url}/{page['path']}" for page in manifest]
    imported = pipeline.ingest_urls(store, settings, [*urls, "# a comment", "", "ftp://x/y"])
    assert len(imported.article_ids) == len(manifest)
    assert imported.errors == ["not an http(s) URL: 'ftp://x/y'"]
    assert finish(store).new_stories == len({p["story"] for p in manifest})
    assert pipeline.pollable_feed_ids(store) == [], "manual feeds are never polled"
    assert pipeline.ingest_urls(store, settings, urls).article_ids == []


def test_reprocessing_a_date_range_rebuilds_the_same_stories(store, seed_server):
    pipeline.run_cycle(store, seed_server.settings(database_url=store.url))
    before = stories(store)
    now = datetime.now(UTC)
    settings = Settings(database_url=store.url)

    nothing = pipeline.reprocess(store, settings, now - timedelta(days=9),
                                 now - timedelta(days=8))
    assert nothing.articles == 0

    everything = pipeline.reprocess(store, settings, now - timedelta(hours=1),
                                    now + timedelta(hours=1))
    assert everything.articles == len(everything.extracted) == summary(store)["articles"]
    assert stories(store) == before

    dedup_only = pipeline.reprocess(store, settings, now - timedelta(hours=1),
                                    now + timedelta(hours=1), extract=False)
    assert dedup_only.dedup.articles == everything.articles
    assert stories(store) == before


def test_reprocessing_places_with_the_configured_dedup_settings(sqlite_url, seed_server):
    """A backfill re-places articles as the configuration says, not with the defaults:
    thresholds only identical texts reach split the stories of edited renditions."""
    from newspipe.store import open_store

    store = open_store(sqlite_url)
    pipeline.run_cycle(store, seed_server.settings(database_url=store.url))
    before = len(stories(store))
    now = datetime.now(UTC)
    strict = Settings(database_url=store.url, dedup_jaccard_threshold=1.0,
                      dedup_containment_threshold=1.0)
    pipeline.reprocess(store, strict, now - timedelta(hours=1), now + timedelta(hours=1),
                       extract=False)
    assert len(stories(store)) > before
    store.dispose()


def test_newspipe_backfill_on_the_command_line(tmp_path, seed_warc):
    result = newspipe("backfill", "--warc", str(seed_warc), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "8 new articles" in result.stderr and "new stories 4" in result.stderr
    again = newspipe("backfill", "--from", "2000-01-01", "--to", "2100-01-01", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "reprocessed 8 articles" in again.stderr


@pytest.mark.parametrize("args, message", [
    ((), "give exactly one of"),
    (("--warc", "missing.warc.gz"), "WARC file not found: missing.warc.gz"),
    (("--from", "2025-01-01"), "--from and --to go together"),
    (("--from", "2025-02-01", "--to", "2025-01-01"), "is not before"),
    (("--from", "yesterday", "--to", "2025-01-01"), "not a date"),
    (("--urls", "missing.txt"), "missing.txt"),
])
def test_backfill_errors_are_one_line(tmp_path, args, message):
    result = newspipe("backfill", *args, cwd=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_overlapped_backfill_makes_the_stories_of_the_stages_apart(store, seed_warc, tmp_path):
    """Import, extraction and dedup side by side give what the stages one after the other
    give; articles an interrupted run left behind are finished too."""
    from newspipe.store import open_store

    apart = open_store(f"sqlite:///{tmp_path / 'apart.db'}")
    pipeline.import_warc(apart, Settings(), [seed_warc])
    finish(apart)

    leftover = pipeline.import_warc(store, Settings(), [seed_warc], batch_size=2)
    assert leftover.article_ids  # a run that died after importing: all still `fetched`
    result = pipeline.backfill_warc(store, Settings(), [seed_warc], jobs=2)
    assert result.imported.article_ids == [] and result.imported.skipped == len(
        leftover.article_ids)
    assert sorted(result.extracted) == sorted(leftover.article_ids)
    assert result.dedup.articles == len(leftover.article_ids)
    assert stories(store) == stories(apart)
    assert summary(store) == summary(apart)


def test_an_error_placing_articles_stops_the_overlapped_backfill(store, seed_warc,
                                                                 monkeypatch):
    from newspipe.store import StoreError

    def broken(*args, **kwargs):
        raise StoreError("cannot use the store at test: disk full")

    monkeypatch.setattr(pipeline, "deduplicate_articles", broken)
    with pytest.raises(StoreError, match="disk full"):
        pipeline.backfill_warc(store, Settings(), [seed_warc], jobs=1)
    assert summary(store)["stories"] == 0


def test_a_url_backfill_finishes_what_an_interrupted_run_left(store, seed_server, manifest):
    settings = seed_server.settings(database_url=store.url)
    urls = [f"{seed_server.base_url}/{page['path']}" for page in manifest]
    pipeline.ingest_urls(store, settings, urls)
    pipeline.extract_articles(store)  # died before placing them in their stories
    result = pipeline.backfill_urls(store, settings, urls)
    assert result.imported.article_ids == [] and result.extracted == []
    assert result.dedup.new_stories == len({p["story"] for p in manifest})
    assert summary(store)["stories"] == len({p["story"] for p in manifest})


def test_an_import_batch_skips_repeats_unusable_urls_and_oversized_pages(store, tmp_path):
    """A batch is stored in a few statements for all its pages: the same rules as one page
    at a time (a URL met earlier in the batch or known from a former import is skipped, by
    its canonical form; an unusable URL or a body over the limit is skipped)."""
    from newspipe.fetch.warc_import import write_html_warc
    from newspipe.store import repo

    page = b"<html><body><p>" + b"words " * 50 + b"</p></body></html>"
    first, second = tmp_path / "first.warc.gz", tmp_path / "second.warc.gz"
    write_html_warc(first, [
        ("https://news.example.org/a", page),
        ("https://news.example.org/a?utm_source=feed", page),  # the same article
        ("https://news.example.org/a", page),  # the same record again
        ("http://[news.example.org/b", page),  # an unusable URL
        ("https://news.example.org/big", page * 100),  # over max_body_bytes
        ("https://news.example.org/c", page),
    ])
    write_html_warc(second, [("https://news.example.org/c#comments", page),
                             ("https://news.example.org/d", page)])
    settings = Settings(max_body_bytes=10 * len(page))

    imported = pipeline.import_warc(store, settings, [first], batch_size=100)
    assert (imported.records, len(imported.article_ids), imported.skipped) == (6, 2, 4)
    again = pipeline.import_warc(store, settings, [second], batch_size=100)
    assert (again.records, len(again.article_ids), again.skipped) == (2, 1, 1)

    with store.connect() as connection:
        loaded = {row.url: repo.read_page_body(row) for row in repo.archived_pages(
            connection, imported.article_ids + again.article_ids).values()}
    assert loaded == {f"https://news.example.org/{name}": page for name in "acd"}


def test_imported_pages_keep_their_crawl_date(store, tmp_path):
    """A WARC record's WARC-Date is when the page was fetched: it dates the article (so a
    date-range reprocessing of CC-NEWS takes the days crawled, not the day imported) and
    the record copied into the raw archive."""
    from warcio.archiveiterator import ArchiveIterator

    from newspipe.fetch.warc_import import write_html_warc
    from newspipe.store import repo

    crawled = datetime(2021, 6, 17, 10, 30, tzinfo=UTC)
    page = b"<html><body><p>" + b"words " * 50 + b"</p></body></html>"
    warc = tmp_path / "crawl.warc.gz"
    write_html_warc(warc, [("https://news.example.org/a", page),
                           ("https://news.example.org/b", page)], crawled_at=crawled)
    imported = pipeline.import_warc(store, Settings(), [warc])
    with store.connect() as connection:
        rows = repo.archived_pages(connection, imported.article_ids).values()
    for row in rows:
        with open(row.warc_file, "rb") as stream:
            stream.seek(row.warc_offset)
            record = next(iter(ArchiveIterator(stream)))
        assert record.rec_headers.get_header("WARC-Date") == "2021-06-17T10:30:00Z"
    day = pipeline.reprocess(store, Settings(), crawled.replace(hour=0),
                             crawled.replace(hour=0) + timedelta(days=1))
    assert day.articles == 2
    today = datetime.now(UTC)
    assert pipeline.reprocess(store, Settings(), today - timedelta(hours=1),
                              today + timedelta(hours=1)).articles == 0
