"""`newspipe extract`: saved pages in, one JSON line per page out (no store involved)."""

from __future__ import annotations

import gzip
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer

from newspipe.cli import UserError, app, console, progress_reporter
from newspipe.dates import format_utc

if TYPE_CHECKING:
    from newspipe.extract.pool import Job, Outcome

PAGE_SUFFIXES = (".html", ".htm", ".html.gz", ".htm.gz")


def page_files(paths: list[Path]) -> list[Path]:
    """The files named, and the pages found under the directories named, in order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*")
                            if p.is_file() and p.name.lower().endswith(PAGE_SUFFIXES))
        elif path.is_file():
            found.append(path)
        else:
            raise UserError(f"{path}: no such file or directory")
    return found


def read_page(path: Path, max_bytes: int) -> bytes:
    """The page's bytes, gunzipped; reads at most one byte past the limit so a huge page
    (or a gzip bomb) is refused by the size guard without filling memory."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as stream:
        return stream.read(max_bytes + 1)


def page_jobs(files: list[Path], url: str | None) -> Iterator[Job]:
    from newspipe.extract import DEFAULT_LIMITS
    from newspipe.extract.pool import Job

    for path in files:
        try:
            content = read_page(path, DEFAULT_LIMITS.max_bytes)
        except (OSError, EOFError) as exc:
            yield Job(path, b"", url, refused=f"cannot read page: {exc}")
        else:
            yield Job(path, content, url)


def record(outcome: Outcome, url: str | None) -> dict:
    """One output line: the fields of the README's `newspipe extract` table."""
    article = outcome.article
    return {
        "path": str(outcome.key),
        "url": url or (article.canonical_url if article else None),
        "title": article.title if article else None,
        "author": article.author if article else None,
        "published_at": format_utc(article.published_at) if article else None,
        "language": article.language if article else None,
        "sitename": article.sitename if article else None,
        "text": article.text if article else None,
        "error": outcome.error,
    }


def write_records(outcomes: Iterator[Outcome], url: str | None, stream: TextIO,
                  total: int) -> int:
    failed = 0
    with progress_reporter() as report:
        for done, outcome in enumerate(outcomes, start=1):
            stream.write(json.dumps(record(outcome, url), ensure_ascii=False) + "\n")
            failed += outcome.error is not None
            report("extract", done, total)
    return failed


@app.command("extract")
def extract_pages(
    paths: Annotated[list[Path], typer.Argument(
        help="Pages (.html, .html.gz) or directories to search for them.")],
    url: Annotated[str | None, typer.Option(
        "--url", help="The pages' address (dates, links and the site name use it).")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="JSON Lines file to write (default: stdout).")] = None,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", "-j", min=1, help="Worker processes (default: all cores).")] = None,
) -> None:
    """Extract article text and metadata from saved pages, one JSON line per page; a page
    that cannot be extracted gets a line with its `error`."""
    from newspipe.extract.pool import ExtractionPool

    files = page_files(paths)
    if not files:
        raise UserError("no .html or .html.gz pages found")
    stream = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        with ExtractionPool(jobs) as pool:
            failed = write_records(pool.extract(page_jobs(files, url)), url, stream, len(files))
    finally:
        if output:
            stream.close()
    console.print(f"extracted {len(files) - failed} of {len(files)} pages"
                  + (f" ({failed} failed: see their `error`)" if failed else ""))
