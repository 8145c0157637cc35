"""`newspipe backfill`: WARC files, a list of URLs, or a date range to reprocess; the same
stage functions as the Airflow DAG `newspipe_backfill`, without Airflow."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from newspipe.cli import (
    DbOption,
    UserError,
    app,
    console,
    print_summary,
    progress_reporter,
    settings_for,
)
from newspipe.dates import parse_utc

if TYPE_CHECKING:
    from newspipe import pipeline


def parse_day_or_time(value: str) -> datetime:
    """`2025-01-31` or an ISO 8601 time; naive values are UTC."""
    parsed = parse_utc(value)
    if parsed is None:
        raise UserError(f"not a date or ISO 8601 time: {value!r}")
    return parsed


def read_url_list(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


@app.command()
def backfill(
    warc: Annotated[list[Path] | None, typer.Option(
        "--warc", help="WARC file(s) to import (e.g. CC-NEWS); repeat for several.")] = None,
    urls: Annotated[Path | None, typer.Option(
        "--urls", help="Text file with one article URL per line to fetch.")] = None,
    since: Annotated[str | None, typer.Option(
        "--from", help="Reprocess pages fetched from this date/time (UTC)...")] = None,
    until: Annotated[str | None, typer.Option(
        "--to", help="...up to (excluding) this date/time.")] = None,
    extract: Annotated[bool, typer.Option(
        help="Re-extract the text from the raw pages (with --from/--to).")] = True,
    dedup: Annotated[bool, typer.Option(
        help="Place the articles in their stories again (with --from/--to).")] = True,
    config: Annotated[Path | None, typer.Option("--config", "-c",
                                                help="TOML file with settings.")] = None,
    db: DbOption = None,
) -> None:
    """Import WARC files, fetch a list of URLs, or reprocess a date range; then extract and
    deduplicate everything pending."""
    from newspipe import pipeline
    from newspipe.store import open_store

    modes = [bool(warc), urls is not None, since is not None or until is not None]
    if sum(modes) != 1:
        raise UserError("give exactly one of --warc FILE..., --urls FILE, --from DATE --to DATE")
    settings = settings_for(config, db)
    store = open_store(settings.database_url)
    with progress_reporter() as report:
        if since is not None or until is not None:
            if since is None or until is None:
                raise UserError("--from and --to go together")
            _reprocess(store, settings, parse_day_or_time(since), parse_day_or_time(until),
                       extract, dedup, report)
        elif urls is not None:
            _print_backfill(pipeline.backfill_urls(store, settings, read_url_list(urls),
                                                   report))
        else:
            for path in warc or []:
                if not path.is_file():
                    raise UserError(f"WARC file not found: {path}")
            _print_backfill(pipeline.backfill_warc(store, settings, warc or [], report))
    print_summary(store)


def _print_backfill(result: pipeline.BackfillResult) -> None:
    imported, placed = result.imported, result.dedup
    for error in imported.errors:
        console.print(f"[yellow]warning:[/yellow] {error}", highlight=False)
    console.print(
        f"{imported.records} records, {len(imported.article_ids)} new articles, "
        f"{imported.skipped} skipped, extracted {len(result.extracted)}, "
        f"new stories {placed.new_stories}, new duplicates {placed.new_duplicates}")


def _reprocess(store, settings, since: datetime, until: datetime, extract: bool, dedup: bool,
               report) -> None:
    if since >= until:
        raise UserError(f"--from {since.isoformat()} is not before --to {until.isoformat()}")
    if not (extract or dedup):
        raise UserError("--no-extract with --no-dedup leaves nothing to do")
    from newspipe import pipeline

    result = pipeline.reprocess(store, settings, since, until, extract=extract, dedup=dedup,
                                report=report)
    console.print(f"reprocessed {result.articles} articles: re-extracted "
                  f"{len(result.extracted)}, new stories {result.dedup.new_stories}, "
                  f"duplicates {result.dedup.new_duplicates}")
