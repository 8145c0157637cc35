"""Benchmark: a WARC of real-looking news pages through `newspipe backfill --warc` into the
embedded (SQLite) store, against bare one-core `trafilatura.extract` on the same pages.

    .venv/bin/python bench/backfill.py            # >= 500 pages
    .venv/bin/python bench/backfill.py --quick    # 150 pages, well under 2 minutes
    .venv/bin/python bench/backfill.py --breakdown  # also time import / extract / dedup apart

Pages: the 300 real pages of ../shared/data/extraction-dev plus article pages rendered from
../shared/data/dedup-dev texts (real articles and their syndicated copies, so dedup has
work), when that folder is present; otherwise the seed fixture's pages under many URLs.
Prints pages/s, peak memory (the whole process tree), CPU use, the speed-up over the bare
extraction baseline (target on 2 cores: >= 1.7x), and the machine's load.
"""

from __future__ import annotations

import argparse
import gzip
import html
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import psutil
import trafilatura

from newspipe.demo import seeds_dir
from newspipe.fetch.warc_import import write_html_warc

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
NEWSPIPE = [sys.executable, "-c", "from newspipe.workers import main; main()"]
TEMPLATE = """<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">
<title>{title} | {site}</title><meta property="og:title" content="{title}">
<meta name="author" content="{site} staff"><meta property="article:published_time" content="{date}">
</head><body><header><nav><a href="/">Home</a> <a href="/world">World</a>
<a href="/business">Business</a> <a href="/sport">Sport</a></nav></header>
<main><article><h1>{title}</h1><p class="byline">By {site} staff, {date}</p>
{paragraphs}</article>
<aside><h3>Most read</h3><ul><li><a href="/a">Markets rally as rates hold</a></li>
<li><a href="/b">Ten things to do this weekend</a></li></ul></aside></main>
<footer><p>&copy; {site}. All rights reserved. <a href="/privacy">Privacy</a></p></footer>
</body></html>"""


def extraction_dev_pages() -> list[tuple[str, bytes]]:
    folder = SHARED / "extraction-dev"
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    # Some pages have no real address (`hard::...`): a WARC record needs an http(s) one.
    return [(meta["url"], gzip.decompress((folder / "html" / name).read_bytes()))
            for name, meta in sorted(expected.items())
            if (folder / "html" / name).is_file() and meta["url"].startswith("http")]


def dedup_dev_pages(count: int) -> list[tuple[str, bytes]]:
    pages = []
    with (SHARED / "dedup-dev" / "docs.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            if len(pages) >= count:
                break
            doc = json.loads(line)
            paragraphs = "\n".join(f"<p>{html.escape(p.strip())}</p>"
                                   for p in doc["text"].split("\n") if p.strip())
            page = TEMPLATE.format(lang="en", title=html.escape(doc["title"] or ""),
                                   site=html.escape(doc["source"]), paragraphs=paragraphs,
                                   date=doc.get("published_at") or "")
            pages.append((doc["url"], page.encode("utf-8")))
    return pages


def seed_pages(count: int) -> list[tuple[str, bytes]]:
    manifest = json.loads((seeds_dir() / "manifest.json").read_text(encoding="utf-8"))
    bodies = [(p["path"], (seeds_dir() / "site" / p["path"]).read_bytes()) for p in manifest]
    return [(f"https://site{n}.example.org/{path}",
             body.replace(b"{{base}}", f"https://site{n}.example.org".encode()))
            for n in range(count // len(bodies) + 1) for path, body in bodies][:count]


def build_pages(count: int) -> tuple[list[tuple[str, bytes]], str]:
    if (SHARED / "extraction-dev").is_dir() and (SHARED / "dedup-dev").is_dir():
        real = extraction_dev_pages()[:(count + 1) // 2]  # half real pages, half copies
        return real + dedup_dev_pages(count - len(real)), "shared/data (extraction-dev + dedup-dev)"
    return seed_pages(count), "seed fixture pages under many URLs"


def bare_extraction_seconds(pages: list[tuple[str, bytes]]) -> float:
    """The baseline: trafilatura.extract, one page after another, on one core."""
    start = time.perf_counter()
    for url, body in pages:
        trafilatura.extract(body, url=url)
    return time.perf_counter() - start


def run_measured(command: list[str],
                 cwd: Path) -> tuple[float, int, float, subprocess.CompletedProcess]:
    """Wall seconds, peak RSS of the whole process tree (sampled), CPU seconds."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    root, peak, cpu = psutil.Process(process.pid), 0, {}
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree))
            for p in tree:  # each process's own time (children's would count twice)
                times = p.cpu_times()
                cpu[p.pid] = times.user + times.system
        except psutil.Error:
            pass
        time.sleep(0.05)
    wall = time.perf_counter() - start
    stdout, stderr = process.communicate()
    return wall, peak, sum(cpu.values()), subprocess.CompletedProcess(
        command, process.returncode, stdout, stderr)


def _start_workers() -> float:
    """Seconds until the pool has extracted a first page: the forkserver's warm-up, timed
    apart so that the extract stage is the extraction itself (the forkserver stays up)."""
    from newspipe.extract.pool import ExtractionPool, Job
    from newspipe.workers import start_forkserver

    start = time.perf_counter()
    start_forkserver()
    with ExtractionPool() as pool:
        list(pool.extract([Job(0, b"<html><body><p>A first page.</p></body></html>", None)]))
    return time.perf_counter() - start


def stage_breakdown(warc: Path, workdir: Path) -> dict[str, float]:
    """The same backfill in this process, stage by stage."""
    from newspipe import pipeline
    from newspipe.config import load_settings
    from newspipe.store import open_store

    url = f"sqlite:///{workdir / 'breakdown.db'}"
    store = open_store(url)
    settings = replace(load_settings(None, database_url=url), archive_dir=str(workdir / "archive"))
    times = {"start the extraction workers (warm-up, once per run)": _start_workers()}
    for name, stage in (("import (read WARC + store pages)",
                         lambda: pipeline.import_warc(store, settings, [warc])),
                        ("extract", lambda: pipeline.extract_articles(store)),
                        ("dedup + publish", lambda: pipeline.deduplicate_articles(store))):
        start = time.perf_counter()
        stage()
        times[name] = time.perf_counter() - start
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="150 pages instead of 600")
    parser.add_argument("--pages", type=int, help="number of pages (default 600, quick 150)")
    parser.add_argument("--breakdown", action="store_true", help="also time each stage")
    args = parser.parse_args()
    count = args.pages or (150 if args.quick else 600)

    pages, origin = build_pages(count)
    workdir = Path(tempfile.mkdtemp(prefix="newspipe-bench-"))
    warc = workdir / "pages.warc.gz"
    write_html_warc(warc, pages)
    megabytes = sum(len(body) for _, body in pages) / 1e6
    print(f"pages: {len(pages)} ({megabytes:.1f} MB of HTML) from {origin}; WARC {warc}")
    print(f"machine: {os.cpu_count()} cores; load before: {os.getloadavg()}")

    baseline = bare_extraction_seconds(pages)
    print(f"baseline, bare trafilatura.extract on one core: {baseline:.1f} s, "
          f"{len(pages) / baseline:.1f} pages/s")

    command = [*NEWSPIPE, "backfill", "--warc", str(warc), "--db",
               f"sqlite:///{workdir / 'newspipe.db'}"]
    wall, peak, cpu, result = run_measured(command, workdir)
    if result.returncode != 0:
        sys.exit(f"newspipe backfill failed: {result.stderr.strip()[-2000:]}")
    print(f"newspipe backfill --warc: {wall:.1f} s, {len(pages) / wall:.1f} pages/s, "
          f"peak memory {peak / 2**20:.0f} MiB (process tree), "
          f"CPU {cpu:.1f} s = {cpu / wall:.2f} cores busy on average")
    print(f"  the command said: {' '.join(result.stderr.split())[-200:]}")
    print(f"speed-up over the bare one-core baseline: {baseline / wall:.2f}x (target >= 1.7x)")
    if args.breakdown:
        times = stage_breakdown(warc, workdir)
        for name, seconds in times.items():
            print(f"  in-process {name}: {seconds:.1f} s")
        others = times["import (read WARC + store pages)"] + times["dedup + publish"]
        print(f"  import + dedup + store = {100 * others / times['extract']:.1f}% of extraction "
              "time (target < 10%; the warm-up, which the command overlaps with its imports, "
              "not counted)")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
