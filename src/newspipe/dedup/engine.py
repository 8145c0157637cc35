"""The de-duplication engine: fingerprint an article, find its story through the
persistent LSH index, verify, then join that story or start a new one."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import Connection, delete, func, insert, select, update

from newspipe.dedup import index
from newspipe.dedup.boilerplate import remove_boilerplate
from newspipe.dedup.canonical import DEFAULT_POLICY, Member, check_policy, pick_canonical
from newspipe.dedup.normalize import normalize_lines, text_fingerprint, tokens
from newspipe.dedup.shingles import set_containment, set_jaccard, shingles
from newspipe.dedup.signature import band_buckets, band_layout, from_bytes, jaccard, minhash
from newspipe.models import DedupOutcome
from newspipe.store.schema import articles, changes, clusters, utcnow

# Band sets share the lsh_buckets table; the salt keeps their keys apart.
_FULL_BANDS, _LEAD_BANDS = 0, 1


@dataclass(frozen=True)
class DedupSettings:
    num_perm: int = 128
    shingle_size: int = 5
    # LSH finds candidates at a lower similarity than a merge needs: verification decides.
    candidate_threshold: float = 0.3
    # datasketch's optimiser weighs missed candidates against useless ones.
    false_positive_weight: float = 0.5
    false_negative_weight: float = 0.5
    # The lead (first words) has bands of its own, so that a copy keeping only the first
    # paragraphs of a long story (tiny Jaccard, full containment) is still a candidate.
    lead_words: int = 50
    lead_num_perm: int = 32
    lead_candidate_threshold: float = 0.3
    # Verification, on the exact shingle sets of the article and each candidate.
    jaccard_threshold: float = 0.5
    containment_threshold: float = 0.7
    min_shingles_for_containment: int = 20
    # Guard against template briefs and short stories sharing a long standard footer: they
    # share many shingles, but each opens differently. A copy's opening (its first
    # `head_words`) is found in the other text, at least one way round (an update may put
    # new paragraphs above the original's opening, never both texts).
    head_words: int = 20
    head_anchor_threshold: float = 0.3
    canonical_policy: tuple[str, ...] = DEFAULT_POLICY

    def __post_init__(self) -> None:
        check_policy(self.canonical_policy)


@dataclass(frozen=True)
class Shingled:
    """A text as verification sees it: its shingles and its lead's shingles."""

    words: list[str]
    shingles: set[bytes]
    lead: set[bytes]
    head: set[bytes]


@dataclass(frozen=True)
class Fingerprint:
    text_hash: str
    hashvalues: np.ndarray
    shingled: Shingled
    buckets: list[int] = field(default_factory=list)

    @property
    def shingle_count(self) -> int:
        return len(self.shingled.shingles)


@dataclass(frozen=True)
class Match:
    article_id: int
    cluster_id: int
    score: float


class Deduplicator:
    def __init__(self, settings: DedupSettings | None = None):
        self.settings = s = settings or DedupSettings()
        self.bands, self.rows = band_layout(s.candidate_threshold, s.num_perm,
                                            s.false_positive_weight, s.false_negative_weight)
        self.lead_bands, self.lead_rows = band_layout(
            s.lead_candidate_threshold, s.lead_num_perm,
            s.false_positive_weight, s.false_negative_weight)

    def shingle(self, text: str) -> Shingled:
        """Normalise, drop syndication boilerplate, cut into word shingles."""
        words = tokens(" ".join(remove_boilerplate(normalize_lines(text))))
        size = self.settings.shingle_size
        return Shingled(words, shingles(words, size),
                        shingles(words[:self.settings.lead_words], size),
                        shingles(words[:self.settings.head_words], size))

    def fingerprint(self, text: str) -> Fingerprint:
        shingled = self.shingle(text)
        s = self.settings
        values = minhash(shingled.shingles, s.num_perm).hashvalues.astype("<u4")
        lead_values = minhash(shingled.lead, s.lead_num_perm).hashvalues.astype("<u4")
        buckets = (band_buckets(values, self.bands, self.rows, _FULL_BANDS)
                   + band_buckets(lead_values, self.lead_bands, self.lead_rows, _LEAD_BANDS))
        return Fingerprint(text_fingerprint(shingled.words), values, shingled, buckets)

    def verify(self, new: Shingled, candidate: Shingled) -> float:
        """Score of a candidate (0.0: not the same story): the Jaccard similarity, or the
        containment of the shorter text in the longer one; either only when one text's
        opening is found in the other."""
        s = self.settings
        if not self.anchored(new, candidate):
            return 0.0
        similarity = set_jaccard(new.shingles, candidate.shingles)
        if similarity >= s.jaccard_threshold:
            return similarity
        if min(len(new.shingles), len(candidate.shingles)) < s.min_shingles_for_containment:
            return 0.0
        contained = set_containment(new.shingles, candidate.shingles)
        return contained if contained >= s.containment_threshold else 0.0

    def anchored(self, a: Shingled, b: Shingled) -> bool:
        """Is the opening of one text found in the other?"""
        def found(head: set[bytes], text: set[bytes]) -> float:
            return len(head & text) / len(head) if head else 0.0

        return max(found(a.head, b.shingles), found(b.head, a.shingles)) \
            >= self.settings.head_anchor_threshold

    def find_match(self, connection: Connection, article_id: int,
                   fp: Fingerprint) -> Match | None:
        """The best verified story for the article, or None."""
        exact = connection.execute(
            select(articles.c.id, articles.c.cluster_id)
            .where(articles.c.text_hash == fp.text_hash, articles.c.cluster_id.is_not(None),
                   articles.c.id != article_id)
            .order_by(articles.c.id).limit(1)
        ).first()
        if exact:
            return Match(exact.id, exact.cluster_id, 1.0)
        ids = index.candidates(connection, fp.buckets, exclude=article_id)
        if not ids:
            return None
        rows = connection.execute(
            select(articles.c.id, articles.c.cluster_id, articles.c.text)
            .where(articles.c.id.in_(ids), articles.c.cluster_id.is_not(None))
            .order_by(articles.c.id))
        best = None
        for row in rows:
            score = self.verify(fp.shingled, self.shingle(row.text or ""))
            if score and (best is None or score > best.score):
                best = Match(row.id, row.cluster_id, score)
        return best

    def deduplicate(self, connection: Connection, article_id: int, text: str,
                    fp: Fingerprint | None = None) -> DedupOutcome:
        """Place one extracted article in its story. Run inside the caller's transaction,
        which also holds the index rows, so index and clusters never disagree. `fp` may
        be computed beforehand, outside the transaction and its lock."""
        fp = fp or self.fingerprint(text)
        match = self.find_match(connection, article_id, fp)
        connection.execute(
            update(articles).where(articles.c.id == article_id).values(
                text_hash=fp.text_hash, minhash=fp.hashvalues.tobytes(),
                shingle_count=fp.shingle_count, status="deduped", error=None,
                updated_at=utcnow()))
        index.add(connection, article_id, fp.buckets)
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
        if not _members(connection, cluster_id):
            connection.execute(delete(clusters).where(clusters.c.id == cluster_id))
            return
        self._refresh_cluster(connection, cluster_id)

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
        """Add the article to the cluster; returns whether the canonical changed."""
        connection.execute(update(articles).where(articles.c.id == article_id)
                           .values(cluster_id=cluster_id))
        _log_change(connection, cluster_id, article_id, "duplicate_added")
        return self._refresh_cluster(connection, cluster_id)

    def _refresh_cluster(self, connection: Connection, cluster_id: int) -> bool:
        """Re-pick the canonical, refresh similarities, size and updated_at (which moves
        consumers' `updated_since`); log a changed canonical. Returns whether it changed."""
        members = _members(connection, cluster_id)
        old_canonical = connection.scalar(
            select(clusters.c.canonical_article_id).where(clusters.c.id == cluster_id))
        canonical = pick_canonical(members, self.settings.canonical_policy)
        _refresh_similarities(connection, cluster_id, canonical.id)
        connection.execute(update(clusters).where(clusters.c.id == cluster_id).values(
            canonical_article_id=canonical.id, size=len(members), updated_at=utcnow()))
        if canonical.id == old_canonical:
            return False
        _log_change(connection, cluster_id, canonical.id, "canonical_changed")
        return True


def _members(connection: Connection, cluster_id: int) -> list[Member]:
    rows = connection.execute(
        select(articles.c.id, articles.c.role, articles.c.published_at,
               func.length(articles.c.text).label("text_length"))
        .where(articles.c.cluster_id == cluster_id))
    return [Member(r.id, r.role, r.published_at, r.text_length or 0) for r in rows]


def _refresh_similarities(connection: Connection, cluster_id: int, canonical_id: int) -> None:
    """Every member keeps its similarity to the canonical (MinHash Jaccard estimate)."""
    rows = connection.execute(select(articles.c.id, articles.c.minhash, articles.c.similarity)
                              .where(articles.c.cluster_id == cluster_id)).all()
    canonical_values = next(from_bytes(r.minhash) for r in rows if r.id == canonical_id)
    for row in rows:
        similarity = jaccard(from_bytes(row.minhash), canonical_values)
        if similarity != row.similarity:
            connection.execute(update(articles).where(articles.c.id == row.id)
                               .values(similarity=similarity))



def _log_change(connection: Connection, cluster_id: int, article_id: int, kind: str) -> None:
    connection.execute(insert(changes).values(cluster_id=cluster_id, article_id=article_id,
                                              kind=kind, at=utcnow()))
