"""The de-duplication engine: fingerprint an article, find its story through the
persistent LSH index, verify, then join that story or start a new one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, delete, func, insert, select, update

from newspipe.dedup import index
from newspipe.dedup.canonical import Member, pick_canonical
from newspipe.dedup.normalize import normalize_text, text_fingerprint, tokens
from newspipe.dedup.shingles import shingles
from newspipe.dedup.signature import (
    band_buckets,
    band_layout,
    containment,
    from_bytes,
    jaccard,
    minhash,
)
from newspipe.models import DedupOutcome
from newspipe.store.schema import articles, changes, clusters, utcnow


@dataclass(frozen=True)
class DedupSettings:
    num_perm: int = 128
    shingle_size: int = 5
    # LSH is tuned low so truncated copies (low Jaccard, high containment) become candidates;
    # verification below decides.
    candidate_threshold: float = 0.3
    jaccard_threshold: float = 0.5
    containment_threshold: float = 0.8
    # Containment alone merges only texts long enough not to share just a footer.
    min_shingles_for_containment: int = 40


@dataclass(frozen=True)
class Fingerprint:
    text_hash: str
    hashvalues: np.ndarray
    shingle_count: int


@dataclass(frozen=True)
class Match:
    article_id: int
    cluster_id: int
    score: float


class Deduplicator:
    def __init__(self, settings: DedupSettings | None = None):
        self.settings = settings or DedupSettings()
        self.bands, self.rows = band_layout(self.settings.candidate_threshold,
                                            self.settings.num_perm)

    def fingerprint(self, text: str) -> Fingerprint:
        normalized = normalize_text(text)
        shingle_set = shingles(tokens(normalized), self.settings.shingle_size)
        signature = minhash(shingle_set, self.settings.num_perm)
        return Fingerprint(text_fingerprint(normalized), signature.hashvalues.astype("<u4"),
                           len(shingle_set))

    def buckets(self, fingerprint: Fingerprint) -> list[int]:
        return band_buckets(fingerprint.hashvalues, self.bands, self.rows)

    def is_match(self, fp: Fingerprint, other_values: np.ndarray, other_count: int) -> float:
        """Verification score of a candidate, 0.0 when it is not the same story."""
        similarity = jaccard(fp.hashvalues, other_values)
        if similarity >= self.settings.jaccard_threshold:
            return similarity
        smaller = min(fp.shingle_count, other_count)
        if smaller < self.settings.min_shingles_for_containment:
            return 0.0
        contained = max(containment(similarity, fp.shingle_count, other_count),
                        containment(similarity, other_count, fp.shingle_count))
        return contained if contained >= self.settings.containment_threshold else 0.0

    def find_match(self, connection: Connection, article_id: int,
                   fp: Fingerprint) -> Match | None:
        exact = connection.execute(
            select(articles.c.id, articles.c.cluster_id)
            .where(articles.c.text_hash == fp.text_hash, articles.c.cluster_id.is_not(None),
                   articles.c.id != article_id)
            .limit(1)
        ).first()
        if exact:
            return Match(exact.id, exact.cluster_id, 1.0)
        ids = index.candidates(connection, self.buckets(fp), exclude=article_id)
        if not ids:
            return None
        rows = connection.execute(
            select(articles.c.id, articles.c.cluster_id, articles.c.minhash,
                   articles.c.shingle_count)
            .where(articles.c.id.in_(ids), articles.c.cluster_id.is_not(None))
        )
        best = None
        for row in rows:
            score = self.is_match(fp, from_bytes(row.minhash), row.shingle_count)
            if score and (best is None or score > best.score):
                best = Match(row.id, row.cluster_id, score)
        return best

    def deduplicate(self, connection: Connection, article_id: int, text: str) -> DedupOutcome:
        """Place one extracted article in its story. Run inside the caller's transaction,
        which also holds the index rows, so index and clusters never disagree."""
        fp = self.fingerprint(text)
        match = self.find_match(connection, article_id, fp)
        connection.execute(
            update(articles).where(articles.c.id == article_id).values(
                text_hash=fp.text_hash, minhash=fp.hashvalues.tobytes(),
                shingle_count=fp.shingle_count, status="deduped", error=None,
                updated_at=utcnow()))
        index.add(connection, article_id, self.buckets(fp))
        if match is None:
            cluster_id = self._new_cluster(connection, article_id)
            return DedupOutcome(article_id, cluster_id, True, 1.0, False)
        changed = self._join_cluster(connection, article_id, match.cluster_id)
        similarity = connection.scalar(
            select(articles.c.similarity).where(articles.c.id == article_id))
        return DedupOutcome(article_id, match.cluster_id, False, similarity or 0.0, changed)

    def detach(self, connection: Connection, article_id: int) -> None:
        """Take an article out of its story and the index (before re-deduplicating it).
        The story keeps its id while other members remain; an emptied story is deleted."""
        cluster_id = connection.scalar(
            select(articles.c.cluster_id).where(articles.c.id == article_id))
        index.remove(connection, article_id)
        connection.execute(update(articles).where(articles.c.id == article_id).values(
            cluster_id=None, similarity=None, status="extracted", updated_at=utcnow()))
        if cluster_id is None:
            return
        members = _members(connection, cluster_id)
        if not members:
            connection.execute(delete(clusters).where(clusters.c.id == cluster_id))
            return
        canonical = pick_canonical(members)
        _refresh_similarities(connection, cluster_id, canonical.id)
        old_canonical = connection.scalar(
            select(clusters.c.canonical_article_id).where(clusters.c.id == cluster_id))
        connection.execute(update(clusters).where(clusters.c.id == cluster_id).values(
            canonical_article_id=canonical.id, size=len(members), updated_at=utcnow()))
        if canonical.id != old_canonical:
            _log_change(connection, cluster_id, canonical.id, "canonical_changed")

    def _new_cluster(self, connection: Connection, article_id: int) -> int:
        now = utcnow()
        cluster_id = connection.execute(
            insert(clusters).values(canonical_article_id=article_id, size=1,
                                    created_at=now, updated_at=now)
        ).inserted_primary_key[0]
        connection.execute(update(articles).where(articles.c.id == article_id)
                           .values(cluster_id=cluster_id, similarity=1.0))
        _log_change(connection, cluster_id, article_id, "story_created")
        return cluster_id

    def _join_cluster(self, connection: Connection, article_id: int, cluster_id: int) -> bool:
        """Add the article to the cluster, re-pick the canonical, refresh similarities.
        Returns whether the canonical changed."""
        connection.execute(update(articles).where(articles.c.id == article_id)
                           .values(cluster_id=cluster_id))
        members = _members(connection, cluster_id)
        old_canonical = connection.scalar(
            select(clusters.c.canonical_article_id).where(clusters.c.id == cluster_id))
        canonical = pick_canonical(members)
        _refresh_similarities(connection, cluster_id, canonical.id)
        connection.execute(update(clusters).where(clusters.c.id == cluster_id).values(
            canonical_article_id=canonical.id, size=len(members), updated_at=utcnow()))
        _log_change(connection, cluster_id, article_id, "duplicate_added")
        if canonical.id != old_canonical:
            _log_change(connection, cluster_id, canonical.id, "canonical_changed")
            return True
        return False


def _members(connection: Connection, cluster_id: int) -> list[Member]:
    rows = connection.execute(
        select(articles.c.id, articles.c.role, articles.c.published_at,
               func.length(articles.c.text).label("text_length"))
        .where(articles.c.cluster_id == cluster_id))
    return [Member(r.id, r.role, r.published_at, r.text_length or 0) for r in rows]


def _refresh_similarities(connection: Connection, cluster_id: int, canonical_id: int) -> None:
    rows = connection.execute(select(articles.c.id, articles.c.minhash)
                              .where(articles.c.cluster_id == cluster_id)).all()
    canonical_values = next(from_bytes(r.minhash) for r in rows if r.id == canonical_id)
    for row in rows:
        connection.execute(update(articles).where(articles.c.id == row.id).values(
            similarity=jaccard(from_bytes(row.minhash), canonical_values)))


def _log_change(connection: Connection, cluster_id: int, article_id: int, kind: str) -> None:
    connection.execute(insert(changes).values(cluster_id=cluster_id, article_id=article_id,
                                              kind=kind, at=utcnow()))
