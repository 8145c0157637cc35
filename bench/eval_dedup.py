"""Quality of de-duplication on ../shared/data/dedup-dev (see its README), for newspipe and,
in the same run, for plain datasketch MinHashLSH (128 permutations, word 5-grams, threshold
0.8, connected components of the query results).

    .venv/bin/python bench/eval_dedup.py [--quick] [--data DIR] [--db URL]

newspipe runs its real engine and store: the documents are stored as extracted articles
(in publication order, as a feed would bring them) and pipeline.deduplicate_articles places
them, on a temporary SQLite store unless --db is given. Prints pairwise precision/recall/F1,
the Adjusted Rand Index, trap false merges and recall per edit family."""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import datetime
from math import comb
from pathlib import Path

from datasketch import MinHash, MinHashLSH
from sqlalchemy import select

from newspipe import pipeline
from newspipe.store import open_store, repo
from newspipe.store.schema import articles

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "dedup-dev"


def load(data: Path, quick: bool) -> tuple[list[dict], dict[str, str], dict[str, dict]]:
    docs = [json.loads(line) for line in (data / "docs.jsonl").open(encoding="utf-8")]
    gold = {r["id"]: r["cluster"] for r in map(json.loads, (data / "gold.jsonl").open())}
    meta = {r["id"]: r for r in map(json.loads, (data / "meta.jsonl").open())}
    if quick:  # every third gold cluster: same families, a third of the work
        keep = sorted(set(gold.values()))[::3]
        docs = [d for d in docs if gold[d["id"]] in set(keep)]
    docs.sort(key=lambda d: (d.get("published_at") or "", d["id"]))
    return docs, gold, meta


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def run_newspipe(docs: list[dict], url: str) -> dict[str, int]:
    store = open_store(url)
    with store.begin() as connection:
        ids = repo.insert_extracted_articles(connection, (
            {"key": d["id"], "text": d["text"], "url": d.get("url"), "title": d.get("title"),
             "source": d.get("source"), "published_at": parse_time(d.get("published_at"))}
            for d in docs))
    pipeline.deduplicate_articles(store, ids)
    with store.connect() as connection:
        cluster_of = dict(connection.execute(
            select(articles.c.id, articles.c.cluster_id).where(articles.c.id.in_(ids))).all())
    store.dispose()
    return {d["id"]: cluster_of[i] for d, i in zip(docs, ids, strict=True)}


def run_datasketch(docs: list[dict]) -> dict[str, int]:
    """The plain baseline: MinHashLSH query then insert, connected components."""
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    parent = list(range(len(docs)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for number, doc in enumerate(docs):
        words = re.findall(r"\w+", doc["text"].lower())
        grams = {" ".join(words[i:i + 5]).encode() for i in range(max(1, len(words) - 4))}
        signature = MinHash(num_perm=128)
        signature.update_batch(list(grams))
        for other in lsh.query(signature):
            parent[find(number)] = find(other)
        lsh.insert(number, signature)
    return {doc["id"]: find(number) for number, doc in enumerate(docs)}


def pair_scores(gold: dict[str, str], predicted: dict[str, int]) -> dict[str, float]:
    """Pairwise precision, recall, F1 and the Adjusted Rand Index."""
    ids = list(predicted)
    both = Counter((gold[i], predicted[i]) for i in ids)
    true_pairs = sum(comb(n, 2) for n in both.values())
    gold_pairs = sum(comb(n, 2) for n in Counter(gold[i] for i in ids).values())
    pred_pairs = sum(comb(n, 2) for n in Counter(predicted.values()).values())
    precision = true_pairs / pred_pairs if pred_pairs else 1.0
    recall = true_pairs / gold_pairs if gold_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    expected = gold_pairs * pred_pairs / comb(len(ids), 2)
    ari = (true_pairs - expected) / ((gold_pairs + pred_pairs) / 2 - expected)
    return {"precision": precision, "recall": recall, "f1": f1, "ari": ari}


def trap_false_merges(gold: dict[str, str], predicted: dict[str, int],
                      meta: dict[str, dict]) -> int:
    members = defaultdict(set)
    for doc_id, cluster in predicted.items():
        members[cluster].add(doc_id)
    return sum(1 for doc_id, cluster in predicted.items()
               if meta[doc_id]["family"].startswith("trap")
               and any(gold[other] != gold[doc_id] for other in members[cluster]))


def family_recall(predicted: dict[str, int], meta: dict[str, dict]) -> dict[str, float]:
    """Per edit family: the share of copies placed with the document they were made from."""
    hits, totals = Counter(), Counter()
    for doc_id, cluster in predicted.items():
        m = meta[doc_id]
        if m["family"] != "copy" or m["copy_of"] not in predicted:
            continue
        for family in {edit.split(":")[0] for edit in m["edits"]}:
            totals[family] += 1
            hits[family] += predicted[m["copy_of"]] == cluster
    return {family: hits[family] / totals[family] for family in sorted(totals)}


def report(name: str, seconds: float, docs: int, gold, predicted, meta) -> dict:
    scores = pair_scores(gold, predicted)
    scores["trap_false_merges"] = trap_false_merges(gold, predicted, meta)
    scores["docs_per_s"] = docs / seconds
    print(f"\n== {name}: {docs} docs in {seconds:.1f}s ({docs / seconds:.0f} docs/s), "
          f"{len(set(predicted.values()))} clusters")
    print(f"pairwise precision {scores['precision']:.4f}  recall {scores['recall']:.4f}  "
          f"F1 {scores['f1']:.4f}  ARI {scores['ari']:.4f}  "
          f"trap false merges {scores['trap_false_merges']}")
    print("recall per edit family: " + ", ".join(
        f"{f} {r:.3f}" for f, r in family_recall(predicted, meta).items()))
    return scores


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--db", help="store URL (default: a temporary SQLite file)")
    parser.add_argument("--quick", action="store_true", help="a third of the clusters")
    args = parser.parse_args()
    if not (args.data / "docs.jsonl").is_file():
        print(f"no data at {args.data}", file=sys.stderr)
        return 2
    docs, gold, meta = load(args.data, args.quick)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        ours = run_newspipe(docs, args.db or f"sqlite:///{tmp}/eval.db")
        ours_seconds = time.perf_counter() - start
    start = time.perf_counter()
    baseline = run_datasketch(docs)
    baseline_seconds = time.perf_counter() - start
    report("newspipe", ours_seconds, len(docs), gold, ours, meta)
    report("datasketch MinHashLSH (128 perms, 5-grams, t=0.8, components)",
           baseline_seconds, len(docs), gold, baseline, meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
