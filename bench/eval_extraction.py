"""Extraction quality, throughput and memory: newspipe vs bare trafilatura and its presets.

    .venv/bin/python bench/eval_extraction.py [--quick] [--data DIR]

On ../shared/data/extraction-dev (gzipped pages + expected.json, see its README). Scoring is
trafilatura's own: each `with` snippet found in the whitespace-collapsed output is a true
positive, missing a false negative; each `without` snippet found a false positive. Metadata
accuracy: share of pages with a gold value whose extracted value matches it (title and
author by their words, date by its day). Throughput: pages per second on one core and on
all cores, and the ratio to bare `trafilatura.extract` (default settings) measured in the
same run, every system in child processes (bare trafilatura's spawned, newspipe's forked
from its warmed-up forkserver), taking turns every 60 pages (see `throughput`).
Memory: resident set of the whole extraction (parent + workers) after each pass over the
set, looped --loops times.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import multiprocessing
import multiprocessing.context
import os
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import trafilatura

from newspipe.extract.cleanup import normalized
from newspipe.extract.core import TRAFILATURA_OPTIONS, extract_article
from newspipe.extract.guard import ExtractionError
from newspipe.extract.pool import ExtractionPool, Job, default_jobs
from newspipe.workers import mp_context

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "extraction-dev"
PRESETS = {
    "trafilatura default": {},
    "trafilatura fast": {"fast": True},
    "trafilatura favor_precision": {"favor_precision": True},
    "trafilatura favor_recall": {"favor_recall": True},
    "trafilatura no comments": {"include_comments": False},
    "newspipe's preset (no cleanup)": TRAFILATURA_OPTIONS,
}


@dataclass
class Page:
    name: str
    url: str
    html: bytes
    expected: dict


@dataclass
class Extracted:
    text: str = ""
    title: str | None = None
    author: str | None = None
    date: str | None = None


@dataclass
class Score:
    tp: int = 0
    fn: int = 0
    fp: int = 0
    tn: int = 0
    meta_hits: dict[str, int] = field(default_factory=lambda: {"title": 0, "author": 0, "date": 0})
    meta_total: dict[str, int] = field(default_factory=lambda: {"title": 0, "author": 0, "date": 0})

    def add(self, page: Page, got: Extracted) -> None:
        text = " ".join(got.text.split())
        for snippet in page.expected["with"]:
            if " ".join(snippet.split()) in text:
                self.tp += 1
            else:
                self.fn += 1
        for snippet in page.expected["without"]:
            if " ".join(snippet.split()) in text:
                self.fp += 1
            else:
                self.tn += 1
        gold = page.expected.get("metadata", {})
        for name, value in (("title", got.title), ("author", got.author), ("date", got.date)):
            if gold.get(name):
                self.meta_total[name] += 1
                self.meta_hits[name] += _meta_match(name, gold[name], value)

    def row(self) -> list[str]:
        precision = self.tp / max(1, self.tp + self.fp)
        recall = self.tp / max(1, self.tp + self.fn)
        f1 = 2 * precision * recall / max(1e-9, precision + recall)
        meta = [self.meta_hits[n] / max(1, self.meta_total[n]) for n in ("title", "author", "date")]
        return [f"{v:.4f}" for v in (precision, recall, f1)] + [f"{v:.3f}" for v in meta]


def _meta_match(name: str, gold: str | list[str], value: str | None) -> bool:
    if isinstance(gold, list):  # several authors: trafilatura joins them with "; "
        gold = "; ".join(gold)
    if not value:
        return False
    if name == "date":
        return value[:10] == gold[:10]
    return normalized(value) == normalized(gold)


def load_pages(data: Path, limit: int | None) -> list[Page]:
    expected = json.loads((data / "expected.json").read_text(encoding="utf-8"))
    names = sorted(expected)[:limit]
    return [Page(n, expected[n]["url"], gzip.decompress((data / "html" / n).read_bytes()),
                 expected[n]) for n in names]


# --- the systems -------------------------------------------------------------------------

def bare_with_metadata(page: Page, options: dict) -> Extracted:
    document = trafilatura.bare_extraction(page.html, url=page.url, with_metadata=True,
                                           **options)
    if document is None:
        return Extracted()
    return Extracted(document.text or "", document.title, document.author, document.date)


def bare_extract(args: tuple[bytes, str]) -> str | None:
    """What a user of the library calls: trafilatura.extract with default settings."""
    html, url = args
    return trafilatura.extract(html, url=url)


def bare_extract_with_metadata(args: tuple[bytes, str]) -> str | None:
    """The same work as newspipe asks of the library: text and metadata, no comments."""
    html, url = args
    document = trafilatura.bare_extraction(html, url=url, with_metadata=True,
                                           **TRAFILATURA_OPTIONS)
    return document.text if document is not None else None


def newspipe_extracted(pages: list[Page], jobs: int) -> list[Extracted]:
    results = []
    with ExtractionPool(jobs) as pool:
        outcomes = list(pool.extract(_jobs(pages)))
    for outcome in outcomes:
        article = outcome.article
        results.append(Extracted() if article is None else Extracted(
            article.text, article.title, article.author,
            article.published_at.date().isoformat() if article.published_at else None))
    return results


# --- measurements ------------------------------------------------------------------------

def quality(pages: list[Page], jobs: int) -> list[tuple[str, Score]]:
    rows = []
    for name, options in PRESETS.items():
        score = Score()
        for page in pages:
            score.add(page, bare_with_metadata(page, options))
        rows.append((name, score))
    score = Score()
    for page, got in zip(pages, newspipe_extracted(pages, jobs), strict=True):
        score.add(page, got)
    rows.append(("newspipe", score))
    return rows


def _jobs(pages: list[Page]) -> list[Job]:
    return [Job(i, p.html, p.url) for i, p in enumerate(pages)]


def _cpu_seconds() -> float:
    """CPU time of this process and every live descendant (pool workers, forkserver)."""
    total = 0.0
    for process in [psutil.Process(), *psutil.Process().children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


@dataclass
class Speed:
    wall: float  # pages per second
    cpu: float  # pages per CPU-second: what a shared, loaded machine disturbs least


# Pages a system extracts before the next system takes its turn (see `throughput`).
CHUNK_PAGES = 60

Runner = Callable[[list[Page]], object]


def _process_runner(stack: contextlib.ExitStack, processes: int, function: Callable,
                    context: multiprocessing.context.BaseContext) -> Runner:
    """`function` on each page in a pool of plain processes: every system runs outside
    this process, which holds the pages and the other systems' pools and threads."""
    pool = stack.enter_context(context.Pool(processes))
    return lambda pages: pool.map(function, [(p.html, p.url) for p in pages], chunksize=4)


def _bare_runner(stack: contextlib.ExitStack, processes: int, function: Callable) -> Runner:
    """Bare trafilatura in spawned processes: what a user of the library runs, none of
    the set-up newspipe's forkserver gives its workers (see newspipe.extract._warm)."""
    return _process_runner(stack, processes, function, multiprocessing.get_context("spawn"))


def newspipe_extract(args: tuple[bytes, str]) -> object:
    """newspipe's extraction alone, without its guarding pool."""
    html, url = args
    try:
        return extract_article(html, url)
    except ExtractionError as exc:
        return str(exc)


def _newspipe_runner(stack: contextlib.ExitStack, jobs: int) -> Runner:
    pool = stack.enter_context(ExtractionPool(jobs))
    return lambda pages: list(pool.extract(_jobs(pages)))


def _runners(stack: contextlib.ExitStack, jobs: int) -> dict[str, Runner]:
    # The spawned pools first: a spawned process finds the systems by running this script
    # again, which it cannot while one of newspipe's pools hides the main script (see
    # newspipe.workers.parent_main_hidden).
    bare = {
        "bare trafilatura.extract, 1 core": _bare_runner(stack, 1, bare_extract),
        "bare trafilatura + metadata, 1 core":
            _bare_runner(stack, 1, bare_extract_with_metadata),
        f"bare trafilatura.extract, {jobs} processes": _bare_runner(stack, jobs, bare_extract),
    }
    return {
        **bare,
        "newspipe without its pool, 1 core":
            _process_runner(stack, 1, newspipe_extract, mp_context()),
        "newspipe, 1 worker": _newspipe_runner(stack, 1),
        f"newspipe, {jobs} workers": _newspipe_runner(stack, jobs),
    }


def _timed(run: Runner, pages: list[Page]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and its descendants) of one run."""
    cpu, start = _cpu_seconds(), time.perf_counter()
    run(pages)
    return time.perf_counter() - start, _cpu_seconds() - cpu


def throughput(pages: list[Page], jobs: int, repeats: int) -> dict[str, Speed]:
    """Steady pages per second (pools started and warm, one pass done), the median of
    `repeats` passes. The systems take turns every CHUNK_PAGES pages, so that each sees
    the same share of the machine's slow and fast moments: this machine's CPU speed drifts
    by 15-30 % over seconds (the same 100 pages in 3.3 to 4.4 CPU-s, one run after another),
    and a system measured over a whole pass of its own would carry whichever it got. The
    pools' short drain at the end of each chunk counts against the multi-process systems."""
    chunks = [pages[i:i + CHUNK_PAGES] for i in range(0, len(pages), CHUNK_PAGES)]
    with contextlib.ExitStack() as stack:
        runners = _runners(stack, jobs)
        for run in runners.values():
            run(pages)  # warm, as newspipe's workers start warm
        passes: dict[str, list[Speed]] = {name: [] for name in runners}
        for _ in range(repeats):
            totals = dict.fromkeys(runners, (0.0, 0.0))
            for chunk in chunks:
                for name, run in runners.items():
                    wall, cpu = _timed(run, chunk)
                    totals[name] = (totals[name][0] + wall, totals[name][1] + cpu)
            for name, (wall, cpu) in totals.items():
                passes[name].append(Speed(len(pages) / wall, len(pages) / cpu))
    return {name: Speed(statistics.median(s.wall for s in values),
                        statistics.median(s.cpu for s in values))
            for name, values in passes.items()}


def _tree_rss(process: psutil.Process) -> int:
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += child.memory_info().rss
    return total


def memory_over_loops(pages: list[Page], jobs: int, loops: int) -> list[tuple[int, float, int]]:
    """(pass, pages/s, resident bytes of parent + workers) after each pass over the set,
    all passes streamed through one pool."""
    me = psutil.Process()
    samples = []
    with ExtractionPool(jobs) as pool:
        for loop in range(1, loops + 1):
            start = time.perf_counter()
            for _ in pool.extract(_jobs(pages)):
                pass
            samples.append((loop, len(pages) / (time.perf_counter() - start), _tree_rss(me)))
    return samples


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for index, row in enumerate([header, *rows]):
        print("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if index == 0:
            print("  ".join("-" * w for w in widths))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="100 pages, 1 timing run, 3 memory loops (about two minutes)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--jobs", type=int, default=default_jobs())
    args = parser.parse_args()
    if not (args.data / "expected.json").is_file():
        raise SystemExit(f"no extraction dev set at {args.data}")
    pages = load_pages(args.data, 100 if args.quick else None)
    repeats, loops = (1, 3) if args.quick else (3, 10)
    print(f"{len(pages)} pages from {args.data}, {args.jobs} cores, "
          f"trafilatura {trafilatura.__version__}")
    print("load before:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())

    print("\n## Quality (snippets: precision / recall / F1; metadata accuracy)\n")
    rows = quality(pages, args.jobs)
    print_table(["system", "precision", "recall", "F1", "title", "author", "date"],
                [[name, *score.row()] for name, score in rows])
    best_preset = max(rows[:-1], key=lambda r: float(r[1].row()[2]))
    gain = float(rows[-1][1].row()[2]) - float(best_preset[1].row()[2])
    print(f"\nnewspipe F1 minus best preset ({best_preset[0]}): {gain:+.4f}")

    print(f"\n## Throughput (pages/s, median of {repeats})\n")
    speeds = throughput(pages, args.jobs, repeats)
    base = speeds["bare trafilatura.extract, 1 core"]
    meta = speeds["bare trafilatura + metadata, 1 core"]
    print_table(["system", "pages/s", "x bare extract", "x bare + metadata",
                 "pages/CPU-s", "x bare extract (CPU)", "x bare + metadata (CPU)"],
                [[name, f"{v.wall:.1f}", f"{v.wall / base.wall:.2f}", f"{v.wall / meta.wall:.2f}",
                  f"{v.cpu:.1f}", f"{v.cpu / base.cpu:.2f}", f"{v.cpu / meta.cpu:.2f}"]
                 for name, v in speeds.items()])
    scaling = speeds[f"newspipe, {args.jobs} workers"].wall / speeds["newspipe, 1 worker"].wall
    print(f"\nwall-clock ratios are against bare trafilatura.extract on 1 core; newspipe "
          f"scaling, {args.jobs} workers / 1 worker: {scaling:.2f}")

    print(f"\n## Memory over {loops} passes ({loops * len(pages)} pages, {args.jobs} workers)\n")
    samples = memory_over_loops(pages, args.jobs, loops)
    print_table(["pass", "pages/s", "RSS parent+workers (MB)"],
                [[str(n), f"{s:.1f}", f"{rss / 2**20:.0f}"] for n, s, rss in samples])
    first, last = samples[0][2], samples[-1][2]
    peak = max(rss for _, _, rss in samples)
    print(f"\nRSS last/first pass: {last / first:.2f}; peak {peak / 2**20:.0f} MB; "
          f"peak of this process (ru_maxrss): "
          f"{__import__('resource').getrusage(0).ru_maxrss / 1024:.0f} MB")
    print("load after:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
