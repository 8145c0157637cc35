"""The stage functions. The CLI and the Airflow DAGs both call these, and only these.

Each stage takes ids (or None for "everything pending"), works in small transactions and
returns ids or small summaries, so it is idempotent and safe to re-run after a crash:
  poll_feeds -> fetch_articles -> extract_articles -> deduplicate_articles
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import queue
import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from itertools import chain, islice
from typing import TypeVar
from urllib.parse import urlsplit

from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError

from newspipe import extract
from newspipe.config import ConfigError, Settings
from newspipe.dedup import Deduplicator, DedupSettings, index
from newspipe.dedup.engine import Fingerprint, placed_members
from newspipe.extract import cleanup
from newspipe.extract.pool import ExtractionPool, Job, Outcome
from newspipe.fetch import archive, health, http, warc_import
from newspipe.fetch.feeds import FeedError, entry_canonical_url, parse_feed
from newspipe.fetch.urls import BadURL, canonical_url, declared_canonical
from newspipe.models import DedupOutcome, FeedSpec, ParsedEntry
from newspipe.store import Store, repo
from newspipe.store.schema import utcnow

T = TypeVar("T")

# Articles de-duplicated per transaction: lookups and writes are batched.
DEDUP_BATCH_SIZE = 200

# Called as report(stage, done, total) after each item, for progress bars.
Reporter = Callable[[str, int, int], None]


def _no_report(stage: str, done: int, total: int) -> None:
    pass


@dataclass
class PollResult:
    feeds: int = 0
    failed: int = 0
    new_entry_ids: list[int] = field(default_factory=list)
    unchanged: int = 0  # 304 Not Modified, or the same body as last time
    skipped: int = 0  # paused, or backing off after failures


@dataclass
class DedupResult:
    articles: int = 0
    new_stories: int = 0
    new_duplicates: int = 0
    changed_canonicals: int = 0
    cluster_ids: list[int] = field(default_factory=list)

    def merge(self, other: DedupResult) -> None:
        self.articles += other.articles
        self.new_stories += other.new_stories
        self.new_duplicates += other.new_duplicates
        self.changed_canonicals += other.changed_canonicals
        self.cluster_ids = sorted({*self.cluster_ids, *other.cluster_ids})


@dataclass
class CycleResult:
    poll: PollResult
    fetched: list[int]
    extracted: list[int]
    dedup: DedupResult

    def as_dict(self) -> dict:
        return asdict(self)


def register_feeds(store: Store, specs: Iterable[FeedSpec]) -> list[int]:
    with store.begin() as connection:
        return repo.upsert_feeds(connection, specs)


def poll_feeds(store: Store, settings: Settings, feed_ids: Sequence[int] | None = None,
               report: Reporter = _no_report) -> PollResult:
    """Fetch and parse each due feed; store entries not seen before. Paused feeds, and
    feeds backing off after failures (next_poll_at in the future), are skipped. A failing
    feed is recorded against that feed and the others go on."""
    with store.connect() as connection:
        rows = repo.feed_rows(connection, feed_ids)
    now = utcnow()
    due = [f for f in rows if not f.paused_reason and not (f.next_poll_at and f.next_poll_at > now)]
    result = PollResult(feeds=len(due), skipped=len(rows) - len(due))
    run_async(_poll_all(store, settings, due, result, report))
    result.new_entry_ids.sort()
    return result


def run_async(coroutine: Coroutine[object, object, T]) -> T:
    """Run the fetch side's event loop from synchronous stage functions; from a thread of
    its own when the caller already runs a loop (a notebook, an async host)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class StoredRobots:
    """robots.txt answers kept in the store, so the next stage run (another process, in
    Airflow) does not ask the site again before they expire. See fetch/robots.py."""

    def __init__(self, store: Store):
        self.store = store

    async def load(self, url: str) -> tuple[int, str] | None:
        return await asyncio.to_thread(self._load, url)

    async def save(self, url: str, status: int, body: str, ttl: float) -> None:
        await asyncio.to_thread(self._save, url, status, body, ttl)

    def _load(self, url: str) -> tuple[int, str] | None:
        with self.store.connect() as connection:
            return repo.stored_robots_txt(connection, url)

    def _save(self, url: str, status: int, body: str, ttl: float) -> None:
        try:
            with self.store.begin() as connection:
                repo.store_robots_txt(connection, url, status, body.replace("\x00", ""),
                                      utcnow() + timedelta(seconds=ttl))
        except IntegrityError:
            pass  # another worker stored it meanwhile: theirs is as good


async def _poll_all(store: Store, settings: Settings, feeds: list, result: PollResult,
                    report: Reporter) -> None:
    async with http.Fetcher(settings, StoredRobots(store)) as fetcher:
        with archive.ArchiveWriter(settings.archive_dir, settings.archive_max_bytes) as warc:
            tasks = [_poll_one(store, settings, fetcher, warc, feed, result) for feed in feeds]
            for done, task in enumerate(asyncio.as_completed(tasks), start=1):
                await task
                report("poll", done, len(feeds))


async def _poll_one(store: Store, settings: Settings, fetcher: http.Fetcher,
                    warc: archive.ArchiveWriter, feed, result: PollResult) -> None:
    try:
        page = await fetcher.fetch(feed.url, headers=conditional_headers(feed),
                                   accept=http.acceptable_feed_type)
        warc.write(page)
        # Parsing and the store's I/O run in a worker thread, so that the event loop keeps
        # the other feeds' requests moving meanwhile (writers are serialised by the store).
        outcome = await asyncio.to_thread(_store_feed_response, store, feed, page)
    except (http.FetchError, FeedError) as exc:
        result.failed += 1
        await asyncio.to_thread(_record_feed_failure, store, settings, feed, exc)
        return
    if outcome is None:
        result.unchanged += 1
    else:
        result.new_entry_ids += outcome


def conditional_headers(feed) -> dict[str, str]:
    """Validators from the last poll: the server may answer 304 Not Modified."""
    headers = {"Accept": http.FEED_ACCEPT}
    if feed.etag:
        headers["If-None-Match"] = feed.etag
    if feed.last_modified:
        headers["If-Modified-Since"] = feed.last_modified
    return headers


def _store_feed_response(store: Store, feed, page) -> list[int] | None:
    """New entry ids, or None when the feed is unchanged: a 304, or the same body as last
    time (feeds lie: many ignore validators, so the body's hash is compared too)."""
    validators = {"etag": page.headers.get("etag"),
                  "last_modified": page.headers.get("last-modified")}
    body_hash = hashlib.sha256(page.content).hexdigest() if page.status != 304 else None
    if page.status == 304 or body_hash == feed.content_hash:
        with store.begin() as connection:
            repo.record_feed_success(connection, feed.id, page.status, None,
                                     _kept_problems(feed), **validators)
        return None
    parsed = parse_feed(page.content, page.final_url, page.headers)
    try:
        return _save_entries(store, feed, page, parsed, body_hash, validators)
    except IntegrityError:
        # Another worker polled this feed at the same moment and stored the same entries
        # first: once more, and they are known.
        return _save_entries(store, feed, page, parsed, body_hash, validators)


def _save_entries(store: Store, feed, page, parsed, body_hash: str,
                  validators: dict[str, str | None]) -> list[int]:
    usable = [(e, c) for e in parsed.entries if (c := entry_canonical_url(e))]
    problems = parsed.problems + [f"entry with unusable link: {e.url[:200]}"
                                  for e in parsed.entries if not entry_canonical_url(e)]
    with store.begin() as connection:
        new_ids = repo.insert_new_entries(connection, feed.id, usable)
        repo.record_feed_success(connection, feed.id, page.status, parsed.title, problems,
                                 content_hash=body_hash, **validators)
    return new_ids


def _kept_problems(feed) -> list[str]:
    """An unchanged feed keeps the parse problems recorded when it last changed."""
    return [feed.last_error] if feed.last_error and not feed.consecutive_failures else []


def _record_feed_failure(store: Store, settings: Settings, feed, exc: Exception) -> None:
    failures = feed.consecutive_failures + 1
    delay = health.backoff_seconds(failures, settings, getattr(exc, "retry_after", None))
    with store.begin() as connection:
        repo.record_feed_failure(connection, feed.id, str(exc), getattr(exc, "status", None),
                                 next_poll_at=utcnow() + timedelta(seconds=delay),
                                 paused_reason=health.pause_reason(failures, settings, exc))


def fetch_articles(store: Store, settings: Settings, entry_ids: Sequence[int] | None = None,
                   report: Reporter = _no_report) -> list[int]:
    """Fetch the page of each entry that has no article yet, once per canonical URL.
    A URL already known (by its canonical form, or the page's own rel=canonical) is linked,
    not fetched again. Returns ids of newly fetched articles."""
    with store.connect() as connection:
        pending = repo.pending_entries(connection, entry_ids)
    by_url: dict[str, list] = {}
    for entry in pending:
        by_url.setdefault(entry.canonical_url, []).append(entry)
    fetched: list[int] = []
    run_async(_fetch_all(store, settings, list(by_url.values()), fetched, report))
    return sorted(fetched)


async def _fetch_all(store: Store, settings: Settings, groups: list[list], fetched: list[int],
                     report: Reporter) -> None:
    async with http.Fetcher(settings, StoredRobots(store)) as fetcher:
        with archive.ArchiveWriter(settings.archive_dir, settings.archive_max_bytes) as warc:
            tasks = [_fetch_one(store, fetcher, warc, group) for group in groups]
            for done, task in enumerate(asyncio.as_completed(tasks), start=1):
                if (article_id := await task) is not None:
                    fetched.append(article_id)
                report("fetch", done, len(groups))


async def _fetch_one(store: Store, fetcher: http.Fetcher, warc: archive.ArchiveWriter,
                     group: list) -> int | None:
    """Fetch one URL for the entries that share it; link them all to its article.
    Store I/O runs in worker threads, as in polling."""
    entry = group[0]
    if await asyncio.to_thread(_link_to_known, store, group, entry.canonical_url):
        return None
    try:
        page = await fetcher.fetch(entry.url)
        pointer, error = warc.write(page), None
    except http.FetchError as exc:
        page, pointer, error = None, None, f"fetch failed: {exc}"
    return await asyncio.to_thread(_store_article, store, group, page, pointer, error)


def _store_article(store: Store, group: list, page, pointer, error: str | None) -> int | None:
    """The new article's id; None when it failed, or is known under its page's canonical."""
    entry = group[0]
    canonical = _page_canonical(entry, page) if page is not None else entry.canonical_url
    if canonical != entry.canonical_url and _link_to_known(store, group, canonical):
        return None
    try:
        new = (repo.NewArticle(entry, canonical, "failed", error=error) if page is None
               else repo.NewArticle(entry, canonical, "fetched", http_status=page.status,
                                    page=page, pointer=pointer))
        with store.begin() as connection:
            (article_id,) = repo.create_articles(connection, [new])
            for other in group[1:]:
                repo.link_entry(connection, other.id, article_id)
    except IntegrityError:
        # Another worker stored the same URL meanwhile: link to its article.
        _link_to_known(store, group, canonical)
        return None
    return article_id if page is not None else None


def _link_to_known(store: Store, group: list, canonical: str) -> bool:
    with store.begin() as connection:
        known = repo.article_id_by_url(connection, canonical)
        if known is None:
            return False
        for entry in group:
            repo.link_entry(connection, entry.id, known)
    return True


def _page_canonical(entry, page) -> str:
    """Key the article by where the page really is: its own rel=canonical / og:url when on
    the same site, else the URL redirects landed on."""
    declared = declared_canonical(page.content, page.final_url)
    if declared:
        return declared
    try:
        return canonical_url(page.final_url)
    except BadURL:
        return entry.canonical_url


EXTRACT_BATCH = 64
SAVE_BATCH = 16


def extract_articles(store: Store, article_ids: Sequence[int] | None = None,
                     report: Reporter = _no_report, jobs: int | None = None,
                     limits: extract.Limits = extract.DEFAULT_LIMITS) -> list[int]:
    """Extract text and metadata of fetched articles on all cores (`jobs` worker processes),
    in batches; a page that fails, overruns its time limit or kills its worker is recorded
    as failed with the reason, and the others go on."""
    with store.connect() as connection:
        ids = repo.articles_with_status(connection, "fetched", article_ids)
    if not ids:
        return []  # no worker processes started for nothing
    with ExtractionPool(jobs, limits) as pool:
        return [article_id for done in _extract_batches(store, pool, [ids], report)
                for article_id in done]


def extract_and_deduplicate(store: Store, arrivals: Iterable[Sequence[int]],
                            deduplicator: Deduplicator | None = None,
                            report: Reporter = _no_report, jobs: int | None = None,
                            ) -> tuple[list[int], DedupResult]:
    """The extract and dedup stages side by side, on batches of fetched article ids as they
    arrive (from an import running meanwhile, say): the pool extracts the next batch while
    a thread places the last one's articles in their stories. Each stage commits its own
    batches, so an interrupted run is finished by any later one, as with the stages apart."""
    deduplicator = deduplicator or Deduplicator()
    extracted: list[int] = []
    placed = DedupResult()
    with ExtractionPool(jobs) as pool, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="newspipe-dedup") as placer:
        placing = []
        for done in _extract_batches(store, pool, arrivals, report):
            extracted += done
            placing.append(placer.submit(deduplicate_articles, store, done, deduplicator))
            for finished in [f for f in placing if f.done()]:  # errors surface early
                placed.merge(finished.result())
                placing.remove(finished)
        for future in placing:
            placed.merge(future.result())
    report("dedup", placed.articles, placed.articles)
    return extracted, placed


def _extract_batches(store: Store, pool: ExtractionPool, arrivals: Iterable[Sequence[int]],
                     report: Reporter) -> Iterator[list[int]]:
    """Extract the `fetched` articles of each arriving id list and yield the ids extracted,
    EXTRACT_BATCH at a time. Pages stream through the pool across batches and come back as
    they complete (a slow page holds up no worker); feed hints and page locations are read
    once per batch of jobs, outcomes written SAVE_BATCH to a transaction."""
    done = known = 0
    feed_of: dict[int, int | None] = {}

    def jobs() -> Iterator[Job]:
        nonlocal done, known
        for arrived in arrivals:
            known += len(arrived)
            with store.connect() as connection:
                ids = repo.articles_with_status(connection, "fetched", arrived)
            done += len(arrived) - len(ids)  # extracted by an overlapping run
            for batch in _chunks(ids, EXTRACT_BATCH):
                with store.connect() as connection:
                    hints = repo.extraction_hints(connection, batch)
                    pages = repo.archived_pages(connection, batch)
                feed_of.update((article_id, hint.feed_id) for article_id, hint in hints.items())
                yield from _extraction_jobs(batch, pages, hints)

    boilerplate = _LearnedBoilerplate(store)
    outcomes: list[Outcome] = []

    def save() -> list[int]:
        nonlocal done
        saved = _save_outcomes(store, outcomes, boilerplate, feed_of)
        done += len(outcomes)
        outcomes.clear()
        report("extract", done, known)
        return saved

    extracted: list[int] = []
    for outcome in pool.extract(jobs(), ordered=False):
        outcomes.append(outcome)
        if len(outcomes) >= SAVE_BATCH:
            extracted += save()
        if len(extracted) >= EXTRACT_BATCH:
            yield extracted
            extracted = []
    extracted += save() if outcomes else []
    if extracted:
        yield extracted


def _save_outcomes(store: Store, outcomes: Sequence[Outcome], boilerplate: _LearnedBoilerplate,
                   feed_of: dict[int, int | None]) -> list[int]:
    """Write extracted articles (learned boilerplate lines removed) and failures in one
    transaction; the ids extracted (not those an overlapping run finished first)."""
    failures, saved = [], []
    for outcome in outcomes:
        feed_id = feed_of.pop(outcome.key, None)
        if outcome.error is not None:
            failures.append((outcome.key, f"extraction failed: {outcome.error}"))
            continue
        article = outcome.article
        article.text, article.boilerplate_removed = cleanup.remove_boilerplate(
            article.text, boilerplate.of_feed(feed_id))
        boilerplate.saved(feed_id)
        saved.append((outcome.key, article))
    with store.begin() as connection:
        # All the batch's rows locked first, in id order: two overlapping runs writing
        # failures and texts of the same articles in other orders would deadlock.
        repo.lock_articles(connection, [outcome.key for outcome in outcomes])
        repo.mark_all_failed(connection, failures)
        return repo.save_extractions(connection, saved)


def _extraction_jobs(batch: Sequence[int], pages: dict[int, Row],
                     hints: dict) -> Iterator[Job]:
    """Pages read from the archive one at a time, as the pool asks for them: memory holds
    only those in flight. A missing page is an error job the pool reports back like any
    other."""
    for article_id in batch:
        page = pages.get(article_id)
        body = repo.read_page_body(page) if page is not None else None
        if body is None:
            yield Job(article_id, b"", "", refused="no stored page to extract from")
            continue
        hint = hints.get(article_id)
        yield Job(article_id, body, page.final_url, page.charset,
                  extract.FeedHints(hint.title, hint.summary) if hint else None)


class _LearnedBoilerplate:
    """Per feed, the lines that recur across its latest texts as extracted
    (`cleanup.learn_boilerplate` over the last 200), learned again as this run saves more
    of the feed's articles: once as many again as it was learned from, at least 64 (a new
    feed: after 64, 128, 256 of them, then every 200), rather than before every batch
    (learning costs ~0.5 ms an article)."""

    def __init__(self, store: Store):
        self.store = store
        self.lines: dict[int, frozenset[str]] = {}
        self.due_in: dict[int, int] = {}

    def of_feed(self, feed_id: int | None) -> frozenset[str]:
        if feed_id is None:
            return frozenset()
        if self.due_in.get(feed_id, 0) <= 0:
            with self.store.connect() as connection:
                texts = repo.recent_feed_texts(connection, feed_id)
            self.lines[feed_id] = cleanup.learn_boilerplate(texts)
            self.due_in[feed_id] = max(EXTRACT_BATCH, len(texts))
        return self.lines[feed_id]

    def saved(self, feed_id: int | None) -> None:
        if feed_id in self.due_in:
            self.due_in[feed_id] -= 1


def deduplicator_for(settings: Settings) -> Deduplicator:
    """The engine with the dedup settings of the configuration."""
    try:
        return Deduplicator(DedupSettings(
            candidate_threshold=settings.dedup_candidate_threshold,
            jaccard_threshold=settings.dedup_jaccard_threshold,
            containment_threshold=settings.dedup_containment_threshold,
            false_positive_weight=settings.dedup_false_positive_weight,
            false_negative_weight=settings.dedup_false_negative_weight,
            canonical_policy=settings.canonical_policy,
            retention_days=settings.retention_days))
    except ValueError as exc:
        raise ConfigError(f"dedup settings: {exc}") from None


def _lock_cluster_assignment(store: Store, connection) -> None:
    """Serialise cluster assignment: two workers never start one story twice. (SQLite
    write transactions already hold the database's write lock: see store.engine.)"""
    if store.dialect == "postgresql":
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7420002)")


def deduplicate_articles(store: Store, article_ids: Sequence[int] | None = None,
                         deduplicator: Deduplicator | None = None,
                         report: Reporter = _no_report,
                         batch_size: int = DEDUP_BATCH_SIZE) -> DedupResult:
    """Place each extracted article in its story and publish: the canonical records change
    in the same transaction as the LSH index. Workers may run side by side."""
    deduplicator = deduplicator or Deduplicator()
    restore_index(store, deduplicator, report)
    with store.connect() as connection:
        ids = repo.articles_with_status(connection, "extracted", article_ids)
    result = DedupResult(articles=len(ids))
    done = 0
    for fingerprints in _fingerprinted_batches(store, deduplicator, _chunks(ids, batch_size)):
        for outcome in _place_batch(store, deduplicator, fingerprints):
            result.new_stories += outcome.new_story
            result.new_duplicates += not outcome.new_story
            result.changed_canonicals += outcome.canonical_changed
            result.cluster_ids.append(outcome.cluster_id)
        done += len(fingerprints)
        report("dedup", done, len(ids))
    result.cluster_ids = sorted(set(result.cluster_ids))
    return result


def restore_index(store: Store, deduplicator: Deduplicator,
                  report: Reporter = _no_report) -> int:
    """Rebuild the LSH index if PostgreSQL's crash recovery emptied it (its tables are
    unlogged: see store.schema.lsh_index_state), before anything is placed against it:
    the articles placed within the retention window are fingerprinted again from their
    stored texts and indexed at the times they were placed. Under the assignment lock, so
    other workers wait for the index rather than miss their stories. Returns the number of
    articles indexed again (0 when the index is complete, the usual case: one query)."""
    with store.connect() as connection:
        if index.is_complete(connection):
            return 0
    with store.begin() as connection:
        _lock_cluster_assignment(store, connection)
        if index.is_complete(connection):  # another worker rebuilt it meanwhile
            return 0
        since = utcnow() - timedelta(days=deduplicator.settings.retention_days)
        placed = placed_members(connection, since=since)
        done = 0
        for chunk in _whole_stories(placed, DEDUP_BATCH_SIZE):
            deduplicator.reindex(connection, chunk)
            done += len(chunk)
            report("reindex", done, len(placed))
        index.mark_complete(connection)
    return len(placed)


Fingerprinted = list[tuple[int, Fingerprint]]


def _fingerprinted_batches(store: Store, deduplicator: Deduplicator,
                           batches: Iterable[Sequence[int]]) -> Iterator[Fingerprinted]:
    """Each batch of ids with its texts' fingerprints (the costly part, done outside the
    assignment lock). The next batch's are computed in a thread while the caller places
    this one: placing mostly waits on the database, which releases the interpreter. Texts
    are read here, so the thread never touches the store."""
    def fingerprints(article_ids: Sequence[int], texts: dict[int, str | None]) -> Fingerprinted:
        return [(a, deduplicator.fingerprint(texts.get(a) or "")) for a in article_ids]

    def submit(article_ids: Sequence[int]) -> Future[Fingerprinted]:
        with store.connect() as connection:
            texts = repo.article_texts(connection, article_ids)
        return ahead.submit(fingerprints, article_ids, texts)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="newspipe-fingerprint") as ahead:
        upcoming = None
        for article_ids in batches:
            current, upcoming = upcoming, submit(article_ids)
            if current is not None:
                yield current.result()
        if upcoming is not None:
            yield upcoming.result()


def _place_batch(store: Store, deduplicator: Deduplicator,
                 fingerprints: Fingerprinted) -> list[DedupOutcome]:
    """Look up and assign under the assignment lock, skipping articles another worker
    placed meanwhile. A text without words fails."""
    article_ids = [article_id for article_id, _ in fingerprints]
    with store.begin() as connection:
        _lock_cluster_assignment(store, connection)
        pending = set(repo.articles_with_status(connection, "extracted", article_ids))
        batch = []
        for article_id, fingerprint in fingerprints:
            if article_id not in pending:
                continue
            if not fingerprint.shingle_count:
                repo.mark_failed(connection, article_id, "dedup failed: the text has no words")
            else:
                batch.append((article_id, fingerprint))
        return deduplicator.deduplicate_batch(connection, batch) if batch else []


def rededuplicate_articles(store: Store, article_ids: Sequence[int],
                           deduplicator: Deduplicator | None = None,
                           report: Reporter = _no_report) -> DedupResult:
    """Backfill: take already-placed articles out of their stories, then place them again
    (after a re-extraction or a change of dedup settings)."""
    deduplicator = deduplicator or Deduplicator()
    _detach(store, deduplicator, article_ids)
    return deduplicate_articles(store, article_ids, deduplicator, report)


def _detach(store: Store, deduplicator: Deduplicator, article_ids: Sequence[int],
            requeue_for_extraction: bool = False) -> None:
    """Take articles out of their stories, a batch per transaction under the assignment
    lock (and send them back to extraction)."""
    for chunk in _chunks(article_ids, DEDUP_BATCH_SIZE):
        with store.begin() as connection:
            _lock_cluster_assignment(store, connection)
            deduplicator.detach(connection, chunk)
            if requeue_for_extraction:
                repo.requeue_for_extraction(connection, chunk)


def run_cycle(store: Store, settings: Settings, report: Reporter = _no_report) -> CycleResult:
    """One full pass: register the configured feeds, then every stage on what is pending."""
    if settings.feeds:
        register_feeds(store, settings.feeds)
    poll = poll_feeds(store, settings, report=report)
    fetched = fetch_articles(store, settings, report=report)
    extracted = extract_articles(store, report=report)
    dedup = deduplicate_articles(store, deduplicator=deduplicator_for(settings), report=report)
    return CycleResult(poll, fetched, extracted, dedup)


def prune_index(store: Store, settings: Settings) -> int:
    """Maintenance: drop LSH index rows older than the retention window. Stories and
    articles stay; only their matching against new arrivals ends."""
    with store.begin() as connection:
        return index.prune(connection, utcnow() - timedelta(days=settings.retention_days))


# --- Planning: what is pending, for front ends that split the work (the Airflow DAGs) ---

def pollable_feed_ids(store: Store) -> list[int]:
    with store.connect() as connection:
        return [row.id for row in repo.feed_rows(connection)]


def pending_entry_ids(store: Store) -> list[int]:
    """Entries waiting for their page, including any left by an interrupted run."""
    with store.connect() as connection:
        return [row.id for row in repo.pending_entries(connection)]


def fetched_article_ids(store: Store) -> list[int]:
    """Articles waiting for extraction, including any left by an interrupted run."""
    with store.connect() as connection:
        return repo.articles_with_status(connection, "fetched")


# --- Backfills: import WARC files, ingest a list of URLs, reprocess a date range ---
# Imports bring pages into the store as `fetched` articles; the usual extract and dedup
# stages then finish them, so an interrupted backfill is finished by any later run.

WARC_FEED = FeedSpec(url="manual:warc", name="WARC import")
URL_LIST_FEED = FeedSpec(url="manual:urls", name="URL list")


@dataclass
class ImportResult:
    records: int = 0
    skipped: int = 0
    article_ids: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def import_warc(store: Store, settings: Settings, paths: Sequence[str | os.PathLike],
                report: Reporter = _no_report, batch_size: int = 100,
                on_batch: Callable[[list[int]], None] | None = None) -> ImportResult:
    """Store the HTML responses of WARC files (e.g. Common Crawl's CC-NEWS) as fetched
    articles, one entry per record of a manual feed. A file that cannot be read is recorded
    against that feed and the other files go on; records already imported are skipped.
    Pages are stored `batch_size` to a transaction: a crash loses at most one batch.
    `on_batch` gets the new article ids of each committed batch."""
    (feed_id,) = register_feeds(store, [WARC_FEED])
    result = ImportResult()
    with archive.ArchiveWriter(settings.archive_dir, settings.archive_max_bytes) as warc:
        for path in paths:
            try:
                for batch in _chunks(warc_import.read_html_responses(path), batch_size):
                    with store.begin() as connection:
                        new = _store_pages(connection, warc, feed_id, batch, settings)
                    result.records += len(batch)
                    result.article_ids += new
                    result.skipped += len(batch) - len(new)
                    report("import", result.records, 0)
                    if on_batch is not None:
                        on_batch(new)
            except warc_import.WarcError as exc:
                result.errors.append(str(exc))
    with store.begin() as connection:
        repo.record_feed_success(connection, feed_id, 200, None, result.errors)
    return result


@dataclass
class BackfillResult:
    imported: ImportResult
    extracted: list[int]
    dedup: DedupResult


class _Stopped(Exception):
    """The import thread is told to stop: the extraction side failed or was interrupted."""


def backfill_warc(store: Store, settings: Settings, paths: Sequence[str | os.PathLike],
                  report: Reporter = _no_report, jobs: int | None = None) -> BackfillResult:
    """Import WARC files, then extract and place their pages, the three side by side: a
    thread imports batch after batch while the pool extracts those already stored and
    another thread places them in their stories (see `extract_and_deduplicate`). Articles
    an interrupted earlier run left `fetched` or `extracted` are finished too."""
    arrivals: queue.SimpleQueue[list[int] | None] = queue.SimpleQueue()
    stop = threading.Event()

    def hand_over(article_ids: list[int]) -> None:
        if stop.is_set():
            raise _Stopped
        arrivals.put(article_ids)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="newspipe-import") as importer:
        importing = importer.submit(import_warc, store, settings, paths, report,
                                    on_batch=hand_over)
        importing.add_done_callback(lambda _: arrivals.put(None))
        try:
            extracted, placed = _finish_pending(store, settings, iter(arrivals.get, None),
                                                report, jobs)
        except BaseException:
            stop.set()
            raise
        return BackfillResult(importing.result(), extracted, placed)


def backfill_urls(store: Store, settings: Settings, urls: Iterable[str],
                  report: Reporter = _no_report, jobs: int | None = None) -> BackfillResult:
    """Fetch a list of URLs (`ingest_urls`), then extract and place them and whatever an
    interrupted earlier run left behind."""
    imported = ingest_urls(store, settings, urls, report)
    return BackfillResult(imported, *_finish_pending(store, settings, [], report, jobs))


def _finish_pending(store: Store, settings: Settings, arrivals: Iterable[Sequence[int]],
                    report: Reporter, jobs: int | None) -> tuple[list[int], DedupResult]:
    """Extract and place the articles waiting now, then those of `arrivals` as they come;
    last, place any article left `extracted` by an earlier run."""
    deduplicator = deduplicator_for(settings)
    extracted, placed = extract_and_deduplicate(
        store, chain([fetched_article_ids(store)], arrivals), deduplicator, report, jobs)
    placed.merge(deduplicate_articles(store, deduplicator=deduplicator))
    return extracted, placed


def _whole_stories(placed: Sequence[tuple[int, int, datetime]], size: int) -> Iterator[list]:
    """Chunks of about `size` (article, story, time) rows, never splitting a story."""
    chunk: list = []
    for row in placed:
        if len(chunk) >= size and row[1] != chunk[-1][1]:
            yield chunk
            chunk = []
        chunk.append(row)
    if chunk:
        yield chunk


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _store_pages(connection, warc: archive.ArchiveWriter, feed_id: int, pages: Sequence,
                 settings: Settings) -> list[int]:
    """Imported pages -> entries + fetched articles, each response copied into newspipe's
    own raw archive (the imported file may go); the new article ids. A page is skipped when
    its URL is unusable, its body too large, or its URL already known (or met earlier in
    the batch). A few statements for the whole batch, not a few per page."""
    wanted: dict[str, tuple[str, object]] = {}  # entry key -> (canonical URL, page)
    for page in pages:
        try:
            canonical = canonical_url(page.url)
        except BadURL:
            continue
        if len(page.content) <= settings.max_body_bytes:
            wanted.setdefault(page.url, (canonical, page))
    known = set(repo.article_ids_by_url(
        connection, [canonical for canonical, _ in wanted.values()]))
    fresh: dict[str, tuple[str, object]] = {}
    for key, (canonical, page) in wanted.items():
        if canonical not in known:
            known.add(canonical)
            fresh[key] = (canonical, page)
    new = repo.insert_new_entries(connection, feed_id, [
        (ParsedEntry(key=key, url=key), canonical) for key, (canonical, _) in fresh.items()])
    created = []
    for entry in repo.pending_entries(connection, new):
        canonical, page = fresh[entry.key]
        created.append(repo.NewArticle(entry, canonical, "fetched", http_status=page.status,
                                       source=urlsplit(page.url).hostname, page=page,
                                       pointer=warc.write(page)))
    return repo.create_articles(connection, created)


def ingest_urls(store: Store, settings: Settings, urls: Iterable[str],
                report: Reporter = _no_report) -> ImportResult:
    """Fetch a list of article URLs through the usual fetch stage, as entries of a manual
    feed. Unusable URLs are recorded against that feed; known URLs are not fetched again."""
    (feed_id,) = register_feeds(store, [URL_LIST_FEED])
    result = ImportResult()
    usable = []
    for url in (u.strip() for u in urls):
        if not url or url.startswith("#"):
            continue
        result.records += 1
        try:
            usable.append((ParsedEntry(key=url, url=url), canonical_url(url)))
        except BadURL as exc:
            result.errors.append(str(exc))
    with store.begin() as connection:
        entry_ids = repo.insert_new_entries(connection, feed_id, usable)
        repo.record_feed_success(connection, feed_id, 200, None, result.errors)
    result.skipped = result.records - len(entry_ids)
    result.article_ids = fetch_articles(store, settings, entry_ids, report=report)
    return result


@dataclass
class ReprocessResult:
    articles: int = 0
    extracted: list[int] = field(default_factory=list)
    dedup: DedupResult = field(default_factory=DedupResult)


def reprocess(store: Store, settings: Settings, since: datetime, until: datetime, *,
              extract: bool = True, dedup: bool = True,
              report: Reporter = _no_report) -> ReprocessResult:
    """Backfill over pages fetched in [since, until): re-extract them from the raw archive
    and/or place them in their stories again. Re-extracted articles leave their stories
    first; with `dedup=False` they wait as `extracted` for the next dedup stage."""
    with store.connect() as connection:
        ids = repo.articles_fetched_between(connection, since, until)
    result = ReprocessResult(articles=len(ids))
    deduplicator = deduplicator_for(settings)
    if extract:
        _detach(store, deduplicator, ids, requeue_for_extraction=True)
        result.extracted = extract_articles(store, ids, report=report)
        if dedup:
            result.dedup = deduplicate_articles(store, result.extracted, deduplicator, report)
    elif dedup:
        with store.connect() as connection:
            placed = repo.articles_with_status(connection, "deduped", ids)
        result.dedup = rededuplicate_articles(store, placed, deduplicator, report)
    return result


# --- Maintenance ---

@dataclass
class FeedHealth:
    """The polled feeds (manual ones, never polled, left out) and those failing or paused."""

    feeds: int
    unhealthy: list[dict]

    @property
    def all_failing(self) -> bool:
        """Every feed failing at once: more likely the network than the feeds."""
        return self.feeds > 0 and len(self.unhealthy) == self.feeds

    def problems(self) -> list[str]:
        """A line per unhealthy feed, for operators (the DAG's log, the command's output)."""
        return [f"feed {f['name']} ({f['url']}): {f['consecutive_failures']} consecutive "
                f"failures, last error: {f['last_error']}"
                + (f", paused: {f['paused_reason']}" if f["paused_reason"] else "")
                for f in self.unhealthy]

    def all_failing_message(self) -> str:
        return f"all {self.feeds} feeds are failing: check the network"


def feed_health_report(store: Store) -> FeedHealth:
    from newspipe.store.read import feed_health

    polled = [f for f in feed_health(store) if not f["url"].startswith("manual:")]
    return FeedHealth(len(polled), [f for f in polled
                                    if f["consecutive_failures"] or f["paused_reason"]])


@dataclass
class MaintenanceResult:
    pruned: int
    health: FeedHealth


def maintain(store: Store, settings: Settings) -> MaintenanceResult:
    """What the daily maintenance does, in one call for the command line: prune the index
    outside the retention window, report feed health, tidy the database."""
    pruned = prune_index(store, settings)
    health = feed_health_report(store)
    tidy_store(store)
    return MaintenanceResult(pruned, health)


def tidy_store(store: Store) -> None:
    """Refresh the planner's statistics; on PostgreSQL also make the space of pruned rows
    reusable. (SQLite checkpoints its WAL by itself.)"""
    with store.engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        statement = "VACUUM (ANALYZE)" if store.dialect == "postgresql" else "PRAGMA optimize"
        connection.exec_driver_sql(statement).close()
