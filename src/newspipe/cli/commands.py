"""The core commands: demo, run, export, maintenance, db upgrade."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from newspipe.cli import (
    DbOption,
    UserError,
    app,
    console,
    db_app,
    print_stories,
    print_summary,
    progress_reporter,
    settings_for,
)


@app.command()
def demo(
    db: DbOption = None,
    port: Annotated[int, typer.Option(help="Port of the fixture server on 127.0.0.1.")] = 8765,
) -> None:
    """Serve the seed fixture on 127.0.0.1 and run the whole pipeline on it."""
    from newspipe import pipeline
    from newspipe.demo import FixtureServer
    from newspipe.store import open_store

    with FixtureServer(port=port) as server:
        if port and not server.base_url.endswith(f":{port}"):
            console.print(f"[yellow]port {port} is taken[/yellow]: a re-run over the same store "
                          "will see the fixture as new feeds")
        settings = server.settings(database_url=db)
        store = open_store(settings.database_url)
        console.print(f"seed fixture on {server.base_url}, store {store.safe_url}")
        with progress_reporter() as report:
            pipeline.run_cycle(store, settings, report=report)
    print_summary(store)
    print_stories(store)


@app.command()
def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="TOML file with [[feeds]].")],
    db: DbOption = None,
) -> None:
    """One cycle over the feeds of a configuration file: poll, fetch, extract, dedup."""
    from newspipe import pipeline
    from newspipe.store import open_store

    settings = settings_for(config, db)
    if not settings.feeds:
        raise UserError(f"{config} lists no [[feeds]]")
    store = open_store(settings.database_url)
    with progress_reporter() as report:
        result = pipeline.run_cycle(store, settings, report=report)
    console.print(
        f"polled {result.poll.feeds} feeds ({result.poll.failed} failed), "
        f"{len(result.poll.new_entry_ids)} new entries, fetched {len(result.fetched)}, "
        f"extracted {len(result.extracted)}, new stories {result.dedup.new_stories}, "
        f"new duplicates {result.dedup.new_duplicates}")
    print_summary(store)


@app.command()
def export(
    db: DbOption = None,
    output: Annotated[Path | None, typer.Option("--output", "-o",
                                                help="File to write (default: stdout).")] = None,
) -> None:
    """Canonical records as JSON Lines, one per story (see README: export schema)."""
    from newspipe.store import open_store
    from newspipe.store.read import canonical_records

    store = open_store(settings_for(None, db).database_url, migrate=False)
    stream = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        count = 0
        for record in canonical_records(store):
            stream.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    finally:
        if output:
            stream.close()
    if output:
        console.print(f"wrote {count} stories to {output}")


@app.command()
def maintenance(
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="TOML file (for retention_days).")] = None,
    db: DbOption = None,
) -> None:
    """What the daily Airflow maintenance does, for stores run from the command line (cron):
    prune the LSH index outside retention_days, report feed health, tidy the database.
    Exit status 1 when every feed is failing."""
    from newspipe import pipeline
    from newspipe.store import open_store

    settings = settings_for(config, db)
    result = pipeline.maintain(open_store(settings.database_url), settings)
    console.print(f"pruned {result.pruned} LSH index rows older than "
                  f"{settings.retention_days} days; {result.health.feeds} feeds, "
                  f"{len(result.health.unhealthy)} failing or paused")
    for problem in result.health.problems():
        console.print(escape(f"  {problem}"), highlight=False, soft_wrap=True)
    if result.health.all_failing:
        raise UserError(result.health.all_failing_message())


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Create or migrate the store's schema to the newest revision."""
    from newspipe.store import open_store

    store = open_store(settings_for(None, db).database_url)
    console.print(f"store at {store.safe_url} is up to date")
