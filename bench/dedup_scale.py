"""De-duplication at scale: insert-and-query throughput and lookup latency with N synthetic
articles (400-800 words) already indexed, on SQLite and PostgreSQL, beside datasketch's
in-memory MinHashLSH (default settings) in the same run, signatures included in the cost.

    .venv/bin/python bench/dedup_scale.py [--quick] [--sizes 100000 1000000]
                                          [--backends sqlite postgresql] [--measure 2000]
                                          [--growth ROUNDS]

For each size the store is pre-filled in bulk (fingerprints from the engine, rows written
straight into the tables: set-up, not measured), then `--measure` new articles (one in ten
a near copy of an indexed one) go through the real stage function
`pipeline.deduplicate_articles`, timed as a whole (articles/s; per CPU-second of this
process, and of this process and the PostgreSQL server's processes, "+server") and per lookup
(`Deduplicator.find_match` of one article: p50/p99). PostgreSQL needs the server on 127.0.0.1:5432
(a database is made and dropped per run). Prints figures; asserts nothing."""

from __future__ import annotations

import argparse
import os
import random
import resource
import signal
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime

import numpy as np
import psutil
import xxhash
from datasketch import MinHash, MinHashLSH
from sqlalchemy import create_engine, insert, text, update

from newspipe import pipeline
from newspipe.dedup import Deduplicator
from newspipe.dedup.normalize import tokens
from newspipe.dedup.shingles import shingle_hashes
from newspipe.dedup.signature import minhash
from newspipe.store import open_store, repo
from newspipe.store.schema import articles, clusters, lsh_buckets

PG_ADMIN = os.environ.get("NEWSPIPE_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


class Corpus:
    """Deterministic synthetic news: Zipf-distributed pseudo-words, 400-800 per article;
    `near_copy` keeps a random 70-95% prefix of an article and changes a few words."""

    def __init__(self, seed: int = 7, vocabulary: int = 50_000):
        rng = random.Random(seed)
        letters = "abcdefghijklmnopqrstuvwxyz"
        self.words = ["".join(rng.choices(letters, k=rng.randint(2, 10)))
                      for _ in range(vocabulary)]
        weights = 1.0 / np.arange(1, vocabulary + 1)
        self.cumulative = list(np.cumsum(weights / weights.sum()))
        self.rng = rng

    def article(self) -> str:
        words = self.rng.choices(self.words, cum_weights=self.cumulative,
                                 k=self.rng.randint(400, 800))
        return "\n\n".join(" ".join(words[i:i + 60]) for i in range(0, len(words), 60))

    def near_copy(self, original: str) -> str:
        words = original.split()
        words = words[:int(len(words) * self.rng.uniform(0.7, 0.95))]
        for _ in range(len(words) // 80):
            words[self.rng.randrange(len(words))] = self.rng.choice(self.words)
        return "By Staff\n\n" + " ".join(words)


@contextmanager
def backend_url(name: str, tmp: str):
    if name == "sqlite":
        yield f"sqlite:///{tmp}/scale.db"
        return
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    database = f"newspipe_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{database}"'))
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{database}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


def prefill(store, deduplicator: Deduplicator, corpus: Corpus, size: int,
            keep: list[str], batch: int = 2000) -> float:
    """Bulk set-up: `size` articles, each its own story, indexed. Returns seconds."""
    start = time.perf_counter()
    now = datetime.now(UTC)
    next_id = 1
    while next_id <= size:
        ids = range(next_id, min(size, next_id + batch - 1) + 1)
        texts = [corpus.article() for _ in ids]
        if len(keep) < 200:
            keep.extend(texts[:10])
        prints = [deduplicator.fingerprint(t) for t in texts]
        with store.begin() as connection:
            connection.execute(insert(articles), [
                {"id": i, "url": f"https://bench.example/{i}",
                 "canonical_url": f"https://bench.example/{i}", "role": "outlet",
                 "status": "deduped", "text": t, "text_hash": fp.text_hash,
                 "minhash": fp.hashvalues.tobytes(), "shingle_count": fp.shingle_count,
                 "similarity": 1.0, "first_seen_at": now, "updated_at": now}
                for i, t, fp in zip(ids, texts, prints, strict=True)])
            connection.execute(insert(clusters), [
                {"id": i, "canonical_article_id": i, "size": 1, "created_at": now,
                 "updated_at": now} for i in ids])
            connection.execute(update(articles).where(articles.c.id.between(ids[0], ids[-1]))
                               .values(cluster_id=articles.c.id))
            write_buckets(store, connection, [(b, i, now) for i, fp in zip(ids, prints,
                                                                           strict=True)
                                              for b in sorted(set(fp.buckets))])
        next_id = ids[-1] + 1
        print(f"\r  prefill {ids[-1]:>9,}/{size:,}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    with store.begin() as connection:
        if store.dialect == "postgresql":
            for table in ("articles", "clusters"):  # ids were given explicitly
                connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {size})")
            connection.exec_driver_sql("ANALYZE")
    return time.perf_counter() - start


def write_buckets(store, connection, rows: list[tuple]) -> None:
    if store.dialect != "postgresql":
        connection.execute(insert(lsh_buckets), [
            {"bucket": b, "article_id": i, "indexed_at": at} for b, i, at in rows])
        return
    cursor = connection.connection.driver_connection.cursor()
    with cursor.copy("COPY lsh_buckets (bucket, article_id, indexed_at) FROM STDIN") as copy:
        for record in rows:
            copy.write_row(record)


def lookup_latencies(store, deduplicator: Deduplicator, texts: list[str]) -> list[float]:
    """Seconds per single-article lookup (exact hash, LSH buckets, verification), as a
    worker placing one article does it; the fingerprint is not included here."""
    prints = [deduplicator.fingerprint(t) for t in texts]
    seconds = []
    with store.connect() as connection:
        for fp in prints:
            start = time.perf_counter()
            deduplicator.find_match(connection, 0, fp)
            seconds.append(time.perf_counter() - start)
    return seconds


def server_cpu_seconds(url: str) -> float:
    """CPU time of the PostgreSQL server's processes on this machine when `url` is a
    PostgreSQL store (0 for SQLite, whose work is the client's own: a server running
    beside it for nothing must not count), so that articles per CPU-second can count the
    server's share of the same cores."""
    if not url.startswith("postgresql"):
        return 0.0
    total = 0.0
    for process in psutil.process_iter(["name", "cpu_times"]):
        if process.info["name"] == "postgres" and process.info["cpu_times"] is not None:
            total += process.info["cpu_times"].user + process.info["cpu_times"].system
    return total


def measure_newspipe(url: str, corpus: Corpus, size: int, measure: int) -> dict:
    store = open_store(url)
    setup = Deduplicator()
    originals: list[str] = []
    prefill_s = prefill(store, setup, corpus, size, originals)
    texts = [corpus.near_copy(random.Random(n).choice(originals)) if n % 10 == 0
             else corpus.article() for n in range(measure)]
    with store.begin() as connection:
        ids = repo.insert_extracted_articles(connection, [
            {"key": f"m{n}", "text": t} for n, t in enumerate(texts)])
    engine = Deduplicator()
    server, cpu, wall = server_cpu_seconds(url), time.process_time(), time.perf_counter()
    result = pipeline.deduplicate_articles(store, ids, engine)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    server = server_cpu_seconds(url) - server
    lookups = lookup_latencies(store, engine, [
        corpus.near_copy(random.Random(-n).choice(originals)) if n % 10 == 0
        else corpus.article() for n in range(min(measure, 1000))])
    store.dispose()
    return {"prefill_s": prefill_s, "rate": measure / wall, "cpu_rate": measure / cpu,
            "all_cpu_rate": measure / (cpu + server),
            "p50_ms": np.percentile(lookups, 50) * 1000,
            "p99_ms": np.percentile(lookups, 99) * 1000, "duplicates": result.new_duplicates}


def measure_growth(url: str, corpus: Corpus, size: int, measure: int, rounds: int,
                   stories: int = 20) -> list[float]:
    """Articles/s of `rounds` successive batches of `measure` articles, one in ten a near
    copy of one of the same `stories` stories: each story grows by `measure / 10 /
    stories` members a round, as a wire story does over a day. Its cost should not grow
    with the stories' sizes."""
    store = open_store(url)
    originals: list[str] = []
    prefill(store, Deduplicator(), corpus, size, originals)
    engine, rates = Deduplicator(), []
    for round_ in range(rounds):
        texts = [corpus.near_copy(originals[(n // 10) % stories]) if n % 10 == 0
                 else corpus.article() for n in range(measure)]
        with store.begin() as connection:
            ids = repo.insert_extracted_articles(connection, [
                {"key": f"g{round_}-{n}", "text": t} for n, t in enumerate(texts)])
        wall = time.perf_counter()
        pipeline.deduplicate_articles(store, ids, engine)
        rates.append(measure / (time.perf_counter() - wall))
    store.dispose()
    return rates


def measure_datasketch(corpus: Corpus, size: int, measure: int) -> dict:
    """In-memory MinHashLSH, default settings (threshold 0.5, 128 permutations, SHA-1),
    word 5-grams: pre-filled, then signature + query + insert per new article."""
    def signature(body: str) -> MinHash:
        m = MinHash(num_perm=128)
        m.update_batch(byte_shingles(body))
        return m

    lsh = MinHashLSH()
    originals: list[str] = []
    start = time.perf_counter()
    for n in range(size):
        body = corpus.article()
        if len(originals) < 200 and n % 10 == 0:
            originals.append(body)
        lsh.insert(n, signature(body))
    prefill_s = time.perf_counter() - start
    texts = [corpus.near_copy(random.Random(n).choice(originals)) if n % 10 == 0
             else corpus.article() for n in range(measure)]
    lookups, found = [], 0
    wall = time.perf_counter()
    for n, body in enumerate(texts):
        m = signature(body)
        start = time.perf_counter()
        found += bool(lsh.query(m))
        lookups.append(time.perf_counter() - start)
        lsh.insert(size + n, m)
    wall = time.perf_counter() - wall
    return {"prefill_s": prefill_s, "rate": measure / wall, "cpu_rate": float("nan"),
            "all_cpu_rate": float("nan"),
            "p50_ms": np.percentile(lookups, 50) * 1000,
            "p99_ms": np.percentile(lookups, 99) * 1000, "duplicates": found}


def byte_shingles(body: str) -> list[bytes]:
    """Word 5-grams as datasketch's examples make them: joined and encoded."""
    words = tokens(body.lower())
    return list({" ".join(words[i:i + 5]).encode() for i in range(max(1, len(words) - 4))})


def hash_functions(corpus: Corpus, docs: int = 300) -> None:
    """The hot spot, per article of 400-800 words: shingle hashing + MinHash, datasketch's
    default (SHA-1 of each joined 5-gram), xxh32 of each joined 5-gram, and newspipe's
    (words hashed once with xxh64, 5-grams combined in numpy: shingles.py)."""
    texts = [corpus.article() for _ in range(docs)]

    def rate(make) -> float:
        start = time.perf_counter()
        for body in texts:
            make(body)
        return docs / (time.perf_counter() - start)

    def sha1(body):
        MinHash(num_perm=128).update_batch(byte_shingles(body))

    def xxh32(body):
        MinHash(num_perm=128, hashfunc=xxhash.xxh32_intdigest).update_batch(byte_shingles(body))

    def ours(body):
        minhash(shingle_hashes(tokens(body.lower())), 128)

    rates = {"datasketch default SHA-1": rate(sha1), "xxh32 per 5-gram": rate(xxh32),
             "newspipe (xxh64 words, numpy 5-grams)": rate(ours)}
    print("shingles + MinHash(128), docs/s: " + ", ".join(
        f"{name} {value:,.0f}" for name, value in rates.items()))
    print(f"full fingerprint (normalise, boilerplate, shingles, 2 signatures, bands): "
          f"{rate(Deduplicator().fingerprint):,.0f} docs/s")


def growth(args: argparse.Namespace) -> int:
    for size in args.sizes:
        for name in args.backends:
            with tempfile.TemporaryDirectory() as tmp, backend_url(name, tmp) as url:
                rates = measure_growth(url, Corpus(), size, args.measure, args.growth)
            print(f"{size:>9,} {name:<11} art/s per round: "
                  + " ".join(f"{rate:.0f}" for rate in rates))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k indexed, 500 measured")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--measure", type=int, default=2000)
    parser.add_argument("--growth", type=int, metavar="ROUNDS",
                        help="instead: art/s of ROUNDS batches that keep adding copies to the "
                             "same 20 stories")
    args = parser.parse_args()
    # A stopped run still drops its PostgreSQL database (the finally clauses run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.quick:
        args.sizes, args.measure = [10_000], 500
    print(f"load: {os.getloadavg()}, cpus: {os.cpu_count()}")
    if args.growth:
        return growth(args)
    hash_functions(Corpus(seed=1))
    print(f"{'indexed':>9} {'backend':<22} {'prefill s':>9} {'art/s':>7} {'art/cpu-s':>9} "
          f"{'+server':>8} {'p50 ms':>7} {'p99 ms':>7} {'dups':>5}")
    for size in args.sizes:
        rows = {}
        for name in args.backends:
            with tempfile.TemporaryDirectory() as tmp, backend_url(name, tmp) as url:
                rows[name] = measure_newspipe(url, Corpus(), size, args.measure)
        rows["datasketch in memory"] = measure_datasketch(Corpus(), size, args.measure)
        for name, r in rows.items():
            print(f"{size:>9,} {name:<22} {r['prefill_s']:>9.0f} {r['rate']:>7.0f} "
                  f"{r['cpu_rate']:>9.0f} {r['all_cpu_rate']:>8.0f} {r['p50_ms']:>7.2f} "
                  f"{r['p99_ms']:>7.2f} {r['duplicates']:>5}")
        base = rows["datasketch in memory"]["rate"]
        print("  throughput vs in-memory: " + ", ".join(
            f"{n} {r['rate'] / base:.2f}x" for n, r in rows.items() if n in args.backends))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process: {peak:.0f} MB; load: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
