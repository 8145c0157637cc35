"""The stage functions. The CLI and the Airflow DAGs both call these, and only these.

Each stage takes ids (or None for "everything pending"), works in small transactions and
returns ids or small summaries, so it is idempotent and safe to re-run after a crash:
  poll_feeds -> fetch_articles -> extract_articles -> deduplicate_articles
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from newspipe import extract
from newspipe.config import ConfigError, Settings
from newspipe.dedup import Deduplicator, DedupSettings, index
from newspipe.fetch import http
from newspipe.fetch.feeds import FeedError, entry_canonical_url, parse_feed
from newspipe.fetch.urls import BadURL, canonical_url
from newspipe.models import DedupOutcome, FeedSpec
from newspipe.store import Store, repo
from newspipe.store.schema import utcnow

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


@dataclass
class DedupResult:
    articles: int = 0
    new_stories: int = 0
    new_duplicates: int = 0
    changed_canonicals: int = 0
    cluster_ids: list[int] = field(default_factory=list)


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
    """Fetch and parse each feed; store entries not seen before. A failing feed is
    recorded against that feed and the others go on."""
    with store.connect() as connection:
        rows = repo.feed_rows(connection, feed_ids)
    result = PollResult(feeds=len(rows))
    with http.make_client(settings) as client:
        for done, feed in enumerate(rows, start=1):
            try:
                result.new_entry_ids += _poll_one(store, settings, client, feed)
            except (http.FetchError, FeedError) as exc:
                result.failed += 1
                with store.begin() as connection:
                    repo.record_feed_failure(connection, feed.id, str(exc))
            report("poll", done, len(rows))
    return result


def _poll_one(store: Store, settings: Settings, client, feed) -> list[int]:
    page = http.fetch(client, feed.url, max_bytes=settings.max_body_bytes)
    parsed = parse_feed(page.content, page.final_url, page.headers)
    usable = [(e, c) for e in parsed.entries if (c := entry_canonical_url(e))]
    problems = parsed.problems + [f"entry with unusable link: {e.url[:200]}"
                                  for e in parsed.entries if not entry_canonical_url(e)]
    with store.begin() as connection:
        new_ids = repo.insert_new_entries(connection, feed.id, usable)
        repo.record_feed_success(connection, feed.id, page.status, parsed.title, problems)
    return new_ids


def fetch_articles(store: Store, settings: Settings, entry_ids: Sequence[int] | None = None,
                   report: Reporter = _no_report) -> list[int]:
    """Fetch the page of each entry that has no article yet. A URL already known (by its
    canonical form) is linked, not fetched again. Returns ids of newly fetched articles."""
    with store.connect() as connection:
        pending = repo.pending_entries(connection, entry_ids)
    fetched = []
    with http.make_client(settings) as client:
        for done, entry in enumerate(pending, start=1):
            article_id = _fetch_one(store, settings, client, entry)
            if article_id is not None:
                fetched.append(article_id)
            report("fetch", done, len(pending))
    return fetched


def _fetch_one(store: Store, settings: Settings, client, entry) -> int | None:
    with store.begin() as connection:
        known = repo.article_id_by_url(connection, entry.canonical_url)
        if known is not None:
            repo.link_entry(connection, entry.id, known)
            return None
    try:
        page = http.fetch(client, entry.url, max_bytes=settings.max_body_bytes)
    except http.FetchError as exc:
        page, error = None, f"fetch failed: {exc}"
    else:
        error = None
    try:
        with store.begin() as connection:
            if page is None:
                repo.create_article(connection, entry, entry.canonical_url,
                                    status="failed", error=error)
                return None
            article_id = repo.create_article(connection, entry, _page_canonical(entry, page),
                                             status="fetched", http_status=page.status)
            repo.save_page(connection, article_id, page)
            return article_id
    except IntegrityError:
        # Another worker stored the same URL meanwhile: link to its article.
        with store.begin() as connection:
            known = repo.article_id_by_url(connection, entry.canonical_url)
            if known is not None:
                repo.link_entry(connection, entry.id, known)
        return None


def _page_canonical(entry, page) -> str:
    """Redirects can land on another URL: key the article by where the page really is."""
    try:
        return canonical_url(page.final_url)
    except BadURL:
        return entry.canonical_url


def extract_articles(store: Store, article_ids: Sequence[int] | None = None,
                     report: Reporter = _no_report) -> list[int]:
    """Extract text and metadata of fetched articles; failures are recorded per article."""
    with store.connect() as connection:
        ids = repo.articles_with_status(connection, "fetched", article_ids)
    extracted = []
    for done, article_id in enumerate(ids, start=1):
        with store.connect() as connection:
            loaded = repo.load_page(connection, article_id)
        with store.begin() as connection:
            if loaded is None:
                repo.mark_failed(connection, article_id, "no stored page to extract from")
            else:
                page, body = loaded
                try:
                    article = extract.extract_article(body, page.final_url, page.charset)
                except extract.ExtractionError as exc:
                    repo.mark_failed(connection, article_id, f"extraction failed: {exc}")
                else:
                    repo.save_extraction(connection, article_id, article)
                    extracted.append(article_id)
        report("extract", done, len(ids))
    return extracted


def deduplicator_for(settings: Settings) -> Deduplicator:
    """The engine with the dedup settings of the configuration."""
    try:
        return Deduplicator(DedupSettings(
            candidate_threshold=settings.dedup_candidate_threshold,
            jaccard_threshold=settings.dedup_jaccard_threshold,
            containment_threshold=settings.dedup_containment_threshold,
            false_positive_weight=settings.dedup_false_positive_weight,
            false_negative_weight=settings.dedup_false_negative_weight,
            canonical_policy=settings.canonical_policy))
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
    with store.connect() as connection:
        ids = repo.articles_with_status(connection, "extracted", article_ids)
    result = DedupResult(articles=len(ids))
    for start in range(0, len(ids), batch_size):
        for outcome in _deduplicate_batch(store, deduplicator, ids[start:start + batch_size]):
            result.new_stories += outcome.new_story
            result.new_duplicates += not outcome.new_story
            result.changed_canonicals += outcome.canonical_changed
            result.cluster_ids.append(outcome.cluster_id)
        report("dedup", min(start + batch_size, len(ids)), len(ids))
    result.cluster_ids = sorted(set(result.cluster_ids))
    return result


def _deduplicate_batch(store: Store, deduplicator: Deduplicator,
                       article_ids: Sequence[int]) -> list[DedupOutcome]:
    """Fingerprint outside the lock (the costly part), then look up and assign under it,
    skipping articles another worker placed meanwhile. A text without words fails."""
    with store.connect() as connection:
        texts = repo.article_texts(connection, article_ids)
    fingerprints = [(a, deduplicator.fingerprint(texts.get(a) or "")) for a in article_ids]
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
    for article_id in article_ids:
        with store.begin() as connection:
            _lock_cluster_assignment(store, connection)
            deduplicator.detach(connection, article_id)
    return deduplicate_articles(store, article_ids, deduplicator, report)


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
