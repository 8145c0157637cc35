"""The de-duplication engine: fingerprint an article, find its story through the
persistent LSH index, verify, then join that story or start a new one."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

import numpy as np
from sqlalchemy import (
    BigInteger,
    Connection,
    Text,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)

from newspipe.dedup import index
from newspipe.dedup.boilerplate import remove_boilerplate
from newspipe.dedup.canonical import DEFAULT_POLICY, Member, check_policy, pick_canonical
from newspipe.dedup.normalize import normalize_lines, text_fingerprint, tokens
from newspipe.dedup.shingles import set_containment, set_jaccard, shingle_hashes
from newspipe.dedup.signature import band_buckets, band_layout, from_bytes, jaccard, minhash_values
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
    # A story syndicated by many outlets is verified against its few members whose
    # signatures agree most with the new article's, not against every copy it has.
    verify_per_story: int = 3
    canonical_policy: tuple[str, ...] = DEFAULT_POLICY
    # How far back new articles are matched: the maintenance prune drops index rows older
    # than this, and a rebuild of a lost index (pipeline.restore_index) goes back as far.
    retention_days: int = 30

    def __post_init__(self) -> None:
        check_policy(self.canonical_policy)


@dataclass(frozen=True)
class Shingled:
    """A text as verification sees it: its words' shingle hashes, in text order; the
    sets are made only when a comparison needs them."""

    words: list[str]
    hashes: np.ndarray
    lead_count: int
    head_count: int

    @cached_property
    def shingles(self) -> set[int]:
        return set(self.hashes.tolist())

    @cached_property
    def lead(self) -> set[int]:
        return set(self.hashes[:self.lead_count].tolist())

    @cached_property
    def head(self) -> set[int]:
        return set(self.hashes[:self.head_count].tolist())


@dataclass(frozen=True)
class Fingerprint:
    text_hash: str
    hashvalues: np.ndarray
    shingled: Shingled
    buckets: list[int] = field(default_factory=list)

    @cached_property
    def shingle_count(self) -> int:
        """Distinct shingles, counted on the sorted array: most articles never need the
        set (and `np.unique` hashes, 15x slower on a few hundred values)."""
        ordered = np.sort(self.shingled.hashes)
        return int(np.count_nonzero(ordered[1:] != ordered[:-1])) + 1 if len(ordered) else 0


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
        s = self.settings

        def windows(first_words: int) -> int:  # shingles within the first words
            return max(1, min(first_words, len(words)) - s.shingle_size + 1)

        return Shingled(words, shingle_hashes(words, s.shingle_size),
                        windows(s.lead_words), windows(s.head_words))

    def fingerprint(self, text: str) -> Fingerprint:
        shingled = self.shingle(text)
        s = self.settings
        values = minhash_values(shingled.hashes, s.num_perm).astype("<u4")
        lead_values = minhash_values(shingled.hashes[:shingled.lead_count],
                                     s.lead_num_perm).astype("<u4")
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
        def found(head: set[int], text: set[int]) -> float:
            return len(head & text) / len(head) if head else 0.0

        return max(found(a.head, b.shingles), found(b.head, a.shingles)) \
            >= self.settings.head_anchor_threshold

    def find_match(self, connection: Connection, article_id: int,
                   fp: Fingerprint) -> Match | None:
        """The best verified story in the store for one article, or None."""
        return self._best_match(fp, self._placement(connection, [(article_id, fp)]))

    def _best_match(self, fp: Fingerprint, placement: _Placement) -> Match | None:
        """The exact duplicate, else the candidate that verification scores highest."""
        exact = placement.exact.get(fp.text_hash)
        if exact is not None:
            return Match(exact, placement.cluster_of[exact], 1.0)
        best = None
        for candidate in placement.to_verify(fp):
            score = self.verify(fp.shingled, placement.shingled(candidate))
            if score and (best is None or score > best.score):
                best = Match(candidate, placement.cluster_of[candidate], score)
        return best

    def _placement(self, connection: Connection,
                   batch: Sequence[tuple[int, Fingerprint]]) -> _Placement:
        return _Placement.load(connection, batch, self.shingle, self.settings.verify_per_story)

    def deduplicate(self, connection: Connection, article_id: int, text: str,
                    fp: Fingerprint | None = None) -> DedupOutcome:
        """Place one extracted article in its story (see deduplicate_batch)."""
        return self.deduplicate_batch(connection, [(article_id, fp or self.fingerprint(text))])[0]

    def deduplicate_batch(self, connection: Connection,
                          batch: Sequence[tuple[int, Fingerprint]]) -> list[DedupOutcome]:
        """Place extracted articles in their stories, in order: each joins the best
        verified story (in the store, or started earlier in the batch) or starts one.
        Runs inside the caller's transaction, which also writes the index rows, so index
        and stories never disagree. Lookups and writes take a few statements per batch,
        not per article: that is what makes a store-backed index fast."""
        placement = self._placement(connection, batch)
        for article_id, fp in batch:
            placement.add(article_id, fp, self._best_match(fp, placement))
        return self._write(connection, batch, placement)

    def _write(self, connection: Connection, batch: Sequence[tuple[int, Fingerprint]],
               placement: _Placement) -> list[DedupOutcome]:
        now = utcnow()
        ids = [article_id for article_id, _ in batch]
        founders = [a for a in ids if placement.cluster_of[a] == _NEW_STORY - a]
        if founders:
            new_ids = connection.scalars(
                insert(clusters).returning(clusters.c.id, sort_by_parameter_order=True),
                [{"canonical_article_id": a, "size": 1, "created_at": now, "updated_at": now}
                 for a in founders]).all()
            placement.name_new_stories(dict(zip(founders, new_ids, strict=True)))
        cluster_of = {a: placement.cluster_of[a] for a in ids}
        _record_placements(connection, [
            {"article_id": a, "text_hash": fp.text_hash, "minhash": fp.hashvalues.tobytes(),
             "shingle_count": fp.shingle_count, "cluster": cluster_of[a]} for a, fp in batch],
            now)
        new_story = set(founders)
        connection.execute(insert(changes), [
            {"cluster_id": cluster_of[a], "article_id": a, "at": now,
             "kind": "story_created" if a in new_story else "duplicate_added"} for a in ids])
        added = defaultdict(list)  # story -> its new members, founders aside
        for article_id in ids:
            if article_id not in new_story:
                added[cluster_of[article_id]].append(article_id)
        self._index_batch(connection, batch, placement, set(added))
        changed = self._refresh_clusters(connection, sorted(added), added)
        # A new story's founder keeps similarity 1.0; a story that grew refreshed its own.
        similarity = _similarities(connection, [a for a in ids if cluster_of[a] in changed])
        return [DedupOutcome(a, cluster_of[a], a in new_story, similarity.get(a, 1.0),
                             changed.get(cluster_of[a], False)) for a in ids]

    @staticmethod
    def _index_batch(connection: Connection, batch: Sequence[tuple[int, Fingerprint]],
                     placement: _Placement, grown: set[int]) -> None:
        """Index the batch: each story's buckets owned by its latest member (see index.py),
        the rows of stored members that the new ones take over deleted."""
        placed = [(a, placement.cluster_of[a], fp.buckets) for a, fp in batch]
        index.remove_rows(connection, sorted(placement.taken_over(placed, grown)))
        owned = index.story_owners(placed)
        index.add(connection, [(a, owned.get(a, [])) for a, _ in batch])

    def reindex(self, connection: Connection,
                placed: Sequence[tuple[int, int, datetime]]) -> None:
        """Index placed articles again from their stored texts: (article id, story id,
        time placed), whole stories in the order their members were placed, each row at
        the time its owner was placed (which the retention prune goes by)."""
        texts: dict[int, str | None] = {}
        for chunk in index.chunks([a for a, _, _ in placed]):
            texts.update(connection.execute(select(articles.c.id, articles.c.text).where(
                index.matching(connection, articles.c.id, chunk))).all())
        owned = index.story_owners((a, story, self.fingerprint(texts.get(a) or "").buckets)
                                   for a, story, _ in placed)
        index.add(connection, [(a, owned.get(a, [])) for a, _, _ in placed],
                  [at for _, _, at in placed])

    def detach(self, connection: Connection, article_ids: Sequence[int]) -> None:
        """Take articles out of their stories and the index (before re-deduplicating them).
        A story keeps its id while other members remain, and those placed within the
        retention window own its buckets again; an emptied story is deleted and its
        removal logged (consumers following `changes` drop it)."""
        stories = {}
        for chunk in index.chunks(list(article_ids)):
            stories.update(connection.execute(
                select(articles.c.id, articles.c.cluster_id)
                .where(index.matching(connection, articles.c.id, chunk),
                       articles.c.cluster_id.is_not(None))).all())
            index.remove(connection, chunk)
            connection.execute(update(articles)
                               .where(index.matching(connection, articles.c.id, chunk))
                               .values(cluster_id=None, similarity=None, status="extracted",
                                       updated_at=utcnow()))
        if not stories:
            return
        remaining = placed_members(connection, stories=sorted(set(stories.values())))
        left = {story for _, story, _ in remaining}
        emptied = {story: article_id for article_id, story in stories.items()
                   if story not in left}
        for story, article_id in emptied.items():
            connection.execute(delete(clusters).where(clusters.c.id == story))
            _log_change(connection, story, article_id, "story_removed")
        self._refresh_clusters(connection, sorted(left))
        recent = utcnow() - timedelta(days=self.settings.retention_days)
        self.reindex(connection, [member for member in remaining if member[2] >= recent])

    def _refresh_clusters(self, connection: Connection, cluster_ids: Sequence[int],
                          added: Mapping[int, Sequence[int]] | None = None) -> dict[int, bool]:
        """Re-pick each story's canonical, refresh its members' similarities, its size and
        updated_at (which moves consumers' `updated_since`); log a changed canonical.
        A few statements for all the stories. With `added` (story -> its new members),
        only the new members are compared with the canonical, and a story is read whole
        only when one of them becomes its canonical: a story of a hundred copies costs
        what a story of two does. (So a changed canonical policy applies to a story when
        it is next rechosen or reprocessed.) Returns, per story, whether its canonical
        changed."""
        if not cluster_ids:
            return {}
        current = {row.id: row for row in connection.execute(
            select(clusters.c.id, clusters.c.canonical_article_id, clusters.c.size)
            .where(index.matching(connection, clusters.c.id, cluster_ids)))}
        if added is None:
            members = _member_rows(connection, articles.c.cluster_id, cluster_ids)
        else:
            members = _member_rows(connection, articles.c.id, sorted(
                {current[c].canonical_article_id for c in cluster_ids}
                | {a for c in cluster_ids for a in added[c]}))
        stories, similarities, changed, rechosen = [], [], {}, []
        for cluster_id in cluster_ids:
            rows = members[cluster_id]
            canonical = pick_canonical([Member(r.id, r.role, r.published_at, r.text_length or 0)
                                        for r in rows], self.settings.canonical_policy)
            changed[cluster_id] = canonical.id != current[cluster_id].canonical_article_id
            if added is not None and changed[cluster_id]:
                rechosen.append(cluster_id)  # every member's similarity changes
                continue
            similarities += _similarity_updates(rows, canonical.id)
            size = len(rows) if added is None else current[cluster_id].size + len(added[cluster_id])
            stories.append({"cluster": cluster_id, "canonical": canonical.id, "size": size})
        if similarities:
            connection.execute(update(articles).where(articles.c.id == bindparam("article_id"))
                               .values(similarity=bindparam("new_similarity")), similarities)
        if stories:
            connection.execute(update(clusters).where(clusters.c.id == bindparam("cluster"))
                               .values(canonical_article_id=bindparam("canonical"),
                                       size=bindparam("size"), updated_at=utcnow()), stories)
        for story in stories:
            if changed[story["cluster"]]:
                _log_change(connection, story["cluster"], story["canonical"],
                            "canonical_changed")
        return changed | self._refresh_clusters(connection, rechosen)


# A story started in the current batch has no id until written: it is named by
# _NEW_STORY - (its first article's id) meanwhile.
_NEW_STORY = 0


class _BucketMembers:
    """The articles in each LSH bucket. Most buckets hold one article: it is kept as a
    plain int, a set only for a shared bucket (a batch would otherwise make ~10,000
    one-element sets, and the garbage collector's passes over them cost more than the
    lookups; ints are not tracked)."""

    def __init__(self) -> None:
        self._first: dict[int, int] = {}
        self._more: dict[int, set[int]] = {}

    def add(self, bucket: int, article_id: int) -> None:
        first = self._first.setdefault(bucket, article_id)
        if first != article_id:
            self._more.setdefault(bucket, set()).add(article_id)

    def members(self, buckets: list[int]) -> set[int]:
        found = {a for b in buckets if (a := self._first.get(b)) is not None}
        for bucket in self._more.keys() & buckets:
            found |= self._more[bucket]
        return found

    def articles(self) -> set[int]:
        return set(self._first.values()).union(*self._more.values())


class _Placement:
    """Where a batch's articles can go: what the store holds (four queries for the whole
    batch: exact duplicates by text hash, LSH bucket hits, the candidates' signatures, the
    texts of those worth verifying), plus the batch's articles already placed."""

    def __init__(self, shingle: Callable[[str], Shingled], per_story: int):
        self.exact: dict[str, int] = {}
        self.by_bucket = _BucketMembers()
        self.cluster_of: dict[int, int] = {}
        self._signatures: dict[int, np.ndarray] = {}
        self._texts: dict[int, str] = {}
        self._shingled: dict[int, Shingled] = {}
        self._shingle = shingle
        self._per_story = per_story

    @classmethod
    def load(cls, connection: Connection, batch: Sequence[tuple[int, Fingerprint]],
             shingle: Callable[[str], Shingled], per_story: int) -> _Placement:
        placement = cls(shingle, per_story)
        fps = [fp for _, fp in batch]
        excluded = {article_id for article_id, _ in batch}
        placed = articles.c.cluster_id.is_not(None)
        rows = connection.execute(
            select(articles.c.id, articles.c.cluster_id, articles.c.text_hash)
            .where(index.matching(connection, articles.c.text_hash,
                                  sorted({fp.text_hash for fp in fps})), placed)
            .order_by(articles.c.id))
        for row in rows:
            if row.id in excluded:
                continue
            placement.exact.setdefault(row.text_hash, row.id)
            placement.cluster_of[row.id] = row.cluster_id
        buckets = {b for fp in fps for b in fp.buckets}
        for bucket, article_id in index.lookup(connection, buckets, excluded):
            placement.by_bucket.add(bucket, article_id)
        for chunk in index.chunks(sorted(placement.by_bucket.articles())):
            for row in connection.execute(
                    select(articles.c.id, articles.c.cluster_id, articles.c.minhash)
                    .where(index.matching(connection, articles.c.id, chunk), placed)):
                placement.cluster_of[row.id] = row.cluster_id
                placement._signatures[row.id] = from_bytes(row.minhash or b"")
        # What the batch's articles will verify among the stored ones (an article placed
        # earlier in the batch can only push a stored member out of its story's few).
        wanted = sorted({a for fp in fps for a in placement.to_verify(fp)})
        for chunk in index.chunks(wanted):
            placement._texts.update(connection.execute(
                select(articles.c.id, articles.c.text)
                .where(index.matching(connection, articles.c.id, chunk))).all())
        return placement

    def to_verify(self, fp: Fingerprint) -> list[int]:
        """The candidates to verify: in each story, the `per_story` members whose MinHash
        signatures agree most with the article's (ties: the lower id)."""
        by_story = defaultdict(list)
        for article_id in sorted(self.ids_for(fp.buckets)):
            by_story[self.cluster_of[article_id]].append(article_id)
        chosen = []
        for members in by_story.values():
            if len(members) > self._per_story:
                agreement = [_agreement(self._signatures[a], fp.hashvalues) for a in members]
                order = np.argsort(-np.array(agreement), kind="stable")[:self._per_story]
                members = [members[i] for i in order]
            chosen += members
        return sorted(chosen)

    def ids_for(self, buckets: list[int]) -> set[int]:
        """Placed articles sharing a bucket."""
        found = self.by_bucket.members(buckets)
        return {a for a in found if a in self.cluster_of}

    def shingled(self, article_id: int) -> Shingled:
        if article_id not in self._shingled:
            self._shingled[article_id] = self._shingle(self._texts.pop(article_id) or "")
        return self._shingled[article_id]

    def add(self, article_id: int, fp: Fingerprint, match: Match | None) -> None:
        self.cluster_of[article_id] = match.cluster_id if match else _NEW_STORY - article_id
        self.exact.setdefault(fp.text_hash, article_id)
        self._signatures[article_id] = fp.hashvalues
        for bucket in fp.buckets:
            self.by_bucket.add(bucket, article_id)
        self._shingled[article_id] = fp.shingled

    def taken_over(self, placed: Sequence[tuple[int, int, list[int]]],
                   grown: set[int]) -> set[tuple[int, int]]:
        """(bucket, article id) rows of stored members of the `grown` stories that the
        batch's members of those stories now own (`placed`: article, story, buckets)."""
        batch = {article_id for article_id, _, _ in placed}
        rows = set()
        for _, story, buckets in placed:
            if story not in grown:
                continue
            for bucket in buckets:
                rows.update((bucket, member) for member in self.by_bucket.members([bucket])
                            if member not in batch and self.cluster_of.get(member) == story)
        return rows

    def name_new_stories(self, cluster_of_founder: dict[int, int]) -> None:
        named = {_NEW_STORY - a: cluster for a, cluster in cluster_of_founder.items()}
        self.cluster_of = {a: named.get(c, c) for a, c in self.cluster_of.items()}


def _agreement(signature: np.ndarray, values: np.ndarray) -> int:
    """How many MinHash values two signatures share (0 for signatures of another size)."""
    return int(np.count_nonzero(signature == values)) if len(signature) == len(values) else 0


def placed_members(connection: Connection, *, since: datetime | None = None,
                   stories: Sequence[int] | None = None) -> list[tuple[int, int, datetime]]:
    """(article id, story id, time placed) of the articles placed in their stories (since
    `since`, of `stories`), story by story in the order placed: a placed article's
    `updated_at` is the time it was placed (and indexed)."""
    query = (select(articles.c.id, articles.c.cluster_id, articles.c.updated_at)
             .where(articles.c.status == "deduped", articles.c.cluster_id.is_not(None))
             .order_by(articles.c.cluster_id, articles.c.updated_at, articles.c.id))
    if since is not None:
        query = query.where(articles.c.updated_at >= since)
    if stories is not None:
        query = query.where(index.matching(connection, articles.c.cluster_id, stories))
    return [tuple(row) for row in connection.execute(query)]


def _member_rows(connection: Connection, column, values: Sequence[int]) -> dict[int, list]:
    """story id -> the rows canonical choice and similarities need, of the articles whose
    `column` (id or story id) is in `values`."""
    members = defaultdict(list)
    for row in connection.execute(
            select(articles.c.id, articles.c.cluster_id, articles.c.role,
                   articles.c.published_at, articles.c.minhash, articles.c.similarity,
                   func.length(articles.c.text).label("text_length"))
            .where(index.matching(connection, column, values))):
        members[row.cluster_id].append(row)
    return members


def _similarity_updates(rows: Sequence, canonical_id: int) -> list[dict]:
    """Every member keeps its similarity to the canonical (MinHash Jaccard estimate):
    the members whose similarity changed, as update parameters."""
    canonical_values = next(from_bytes(r.minhash) for r in rows if r.id == canonical_id)
    updates = []
    for row in rows:
        similarity = jaccard(from_bytes(row.minhash), canonical_values)
        if similarity != row.similarity:
            updates.append({"article_id": row.id, "new_similarity": similarity})
    return updates


def _similarities(connection: Connection, article_ids: Sequence[int]) -> dict[int, float]:
    if not article_ids:
        return {}
    return {a: similarity or 0.0 for a, similarity in connection.execute(
        select(articles.c.id, articles.c.similarity)
        .where(index.matching(connection, articles.c.id, article_ids))).all()}


def _record_placements(connection: Connection, placements: list[dict], now) -> None:
    """Write each article's fingerprint and story. On PostgreSQL one set-based UPDATE
    joined to arrays (an executemany costs a parameter set per row in the client)."""
    values = {"similarity": 1.0, "status": "deduped", "error": None, "updated_at": now}
    if connection.dialect.name != "postgresql":
        connection.execute(update(articles).where(articles.c.id == bindparam("article_id"))
                           .values(text_hash=bindparam("text_hash"),
                                   minhash=bindparam("minhash"),
                                   shingle_count=bindparam("shingle_count"),
                                   cluster_id=bindparam("cluster"), **values), placements)
        return
    columns = {"article_id": BigInteger, "text_hash": Text, "minhash": Text,
               "shingle_count": BigInteger, "cluster": BigInteger}
    rows = [{**p, "minhash": p["minhash"].hex()} for p in placements]
    placed = select(*(func.unnest(index.array_param([r[name] for r in rows], kind)).label(name)
                      for name, kind in columns.items())).subquery()
    connection.execute(update(articles).where(articles.c.id == placed.c.article_id).values(
        text_hash=placed.c.text_hash, minhash=func.decode(placed.c.minhash, "hex"),
        shingle_count=placed.c.shingle_count, cluster_id=placed.c.cluster, **values))


def _log_change(connection: Connection, cluster_id: int, article_id: int, kind: str) -> None:
    connection.execute(insert(changes).values(cluster_id=cluster_id, article_id=article_id,
                                              kind=kind, at=utcnow()))
