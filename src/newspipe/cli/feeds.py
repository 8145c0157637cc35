"""Feed commands: `newspipe feeds add|list|remove|resume|check` and `newspipe poll`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from newspipe.cli import DbOption, UserError, app, console, out, progress_reporter, settings_for
from newspipe.config import Settings
from newspipe.dates import format_utc
from newspipe.models import FeedRole, FeedSpec, ParsedFeed

if TYPE_CHECKING:
    from sqlalchemy import Connection

feeds_app = typer.Typer(no_args_is_help=True, help="The feeds the store polls, and their health.")
app.add_typer(feeds_app, name="feeds")

ConfigOption = Annotated[Path | None, typer.Option(
    "--config", "-c", help="TOML file with [newspipe] settings (User-Agent, timeouts...).")]


@feeds_app.command("add")
def feeds_add(
    url: str,
    name: Annotated[str | None, typer.Option(help="Display name (default: the URL).")] = None,
    role: Annotated[FeedRole, typer.Option(help="Trust as a story's origin.")] = FeedRole.OUTLET,
    db: DbOption = None,
) -> None:
    """Add a feed (or update its name and role)."""
    from newspipe import pipeline
    from newspipe.store import open_store

    if not url.lower().startswith(("http://", "https://")):
        raise UserError(f"not an http(s) URL: {url}")
    store = open_store(settings_for(None, db).database_url)
    [feed_id] = pipeline.register_feeds(store, [FeedSpec(url=url, name=name or url, role=role)])
    console.print(f"feed {feed_id}: {escape(url)}")


@feeds_app.command("remove")
def feeds_remove(url_or_id: str, db: DbOption = None) -> None:
    """Remove a feed and its entries (articles already fetched stay)."""
    from newspipe.store import repo

    console.print(f"removed feed {_change_feed(url_or_id, db, repo.remove_feed)}")


@feeds_app.command("resume")
def feeds_resume(url_or_id: str, db: DbOption = None) -> None:
    """Un-pause a feed and forget its failures: it is polled at the next run."""
    from newspipe.store import repo

    console.print(f"resumed feed {_change_feed(url_or_id, db, repo.resume_feed)}")


def _change_feed(url_or_id: str, db: str | None,
                 change: Callable[[Connection, int], None]) -> int:
    """Apply `change` (connection, feed id) to the feed named by URL or id, in one
    transaction; returns its id. An unknown feed is one clear error."""
    from newspipe.store import open_store, repo

    store = open_store(settings_for(None, db).database_url)
    with store.begin() as connection:
        feed_id = repo.feed_id_by_url_or_id(connection, url_or_id)
        if feed_id is None:
            raise UserError(f"no feed {url_or_id!r} in the store (see `newspipe feeds list`)")
        change(connection, feed_id)
    return feed_id


@feeds_app.command("list")
def feeds_list(
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per feed.")] = False,
) -> None:
    """Every feed with its health: last status, failures, last error, next poll, pause."""
    from newspipe.store import open_store, repo

    store = open_store(settings_for(None, db).database_url, migrate=False)
    with store.connect() as connection:
        rows = repo.feed_rows(connection)
    if as_json:
        for row in rows:
            typer.echo(json.dumps(_feed_health(row), ensure_ascii=False))
        return
    table = Table(title="feeds")
    for column in ("id", "name", "status", "failures", "next poll", "problem"):
        table.add_column(column)
    for row in rows:
        health = _feed_health(row)
        state = "paused" if row.paused_reason else str(row.last_status or "-")
        problem = row.paused_reason or row.last_error or ""
        table.add_row(str(row.id), f"{escape(row.name)}\n{escape(row.url)}", state,
                      str(row.consecutive_failures), health["next_poll_at"] or "now",
                      escape(problem[:300]))
    out.print(table)


def _feed_health(row) -> dict:
    return {"id": row.id, "url": row.url, "name": row.name, "role": row.role,
            "title": row.title, "last_status": row.last_status,
            "consecutive_failures": row.consecutive_failures, "last_error": row.last_error,
            "last_polled_at": format_utc(row.last_polled_at),
            "next_poll_at": format_utc(row.next_poll_at),
            "paused_reason": row.paused_reason}


@feeds_app.command("check")
def feeds_check(
    path_or_url: str,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Parse a feed file or URL and print its entries; exit 1 when it is unusable.
    A URL the store polls also shows its health there."""
    from newspipe.fetch import http
    from newspipe.fetch.feeds import FeedError

    settings = settings_for(config, db)
    health = _stored_health(path_or_url, settings.database_url)
    try:
        feed = _parse_path_or_url(path_or_url, settings)
    except (http.FetchError, FeedError) as exc:
        raise UserError(f"{path_or_url}: {exc}") from None
    if as_json:
        data = _feed_as_json(feed)
        if health is not None:
            data["health"] = health
        typer.echo(json.dumps(data, ensure_ascii=False))
        return
    if health is not None:
        state = f"paused: {health['paused_reason']}" if health["paused_reason"] else \
            f"last status {health['last_status']}, {health['consecutive_failures']} failures"
        console.print(f"in the store as feed {health['id']}: {escape(state)}", highlight=False)
    table = Table(title=f"{escape(feed.title or '(untitled)')} · {feed.format} · "
                        f"{len(feed.entries)} entries")
    for column in ("published (UTC)", "title", "url"):
        table.add_column(column)
    for entry in feed.entries:
        table.add_row(entry.published_at.isoformat() if entry.published_at else "-",
                      escape(entry.title or ""), escape(entry.url))
    out.print(table)
    for problem in feed.problems:
        console.print(f"[yellow]problem:[/yellow] {escape(problem)}", highlight=False)


def _stored_health(url: str, database_url: str) -> dict | None:
    """The feed's health when the store (if there is one) polls this URL."""
    from newspipe.store import StoreError, open_store, repo

    if database_url.startswith("sqlite:///") and not Path(database_url[10:]).is_file():
        return None  # do not create an empty store just to look
    try:
        store = open_store(database_url, migrate=False)
        with store.connect() as connection:
            feed_id = repo.feed_id_by_url_or_id(connection, url)
            rows = repo.feed_rows(connection, [feed_id]) if feed_id is not None else []
    except StoreError:
        return None
    return _feed_health(rows[0]) if rows else None


def _parse_path_or_url(path_or_url: str, settings: Settings) -> ParsedFeed:
    from newspipe.fetch.feeds import parse_feed

    if path_or_url.lower().startswith(("http://", "https://")):
        page = asyncio.run(_fetch_feed(path_or_url, settings))
        return parse_feed(page.content, page.final_url, page.headers)
    path = Path(path_or_url)
    if not path.is_file():
        raise UserError(f"{path_or_url}: no such file (give a path or an http(s) URL)")
    return parse_feed(path.read_bytes(), path.resolve().as_uri())


async def _fetch_feed(url: str, settings: Settings):
    from newspipe.fetch import http

    async with http.Fetcher(settings) as fetcher:
        return await fetcher.fetch(url, headers={"Accept": http.FEED_ACCEPT},
                                   accept=http.acceptable_feed_type)


def _feed_as_json(feed: ParsedFeed) -> dict:
    return {
        "title": feed.title,
        "format": feed.format,
        "entries": [{"key": e.key, "url": e.url, "title": e.title,
                     "published_at": format_utc(e.published_at)} for e in feed.entries],
        "problems": feed.problems,
    }


@app.command()
def poll(
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Poll every due feed of the store once (feeds from --config are added first)."""
    from newspipe import pipeline
    from newspipe.store import open_store

    settings = settings_for(config, db)
    store = open_store(settings.database_url)
    if settings.feeds:
        pipeline.register_feeds(store, settings.feeds)
    with progress_reporter() as report:
        result = pipeline.poll_feeds(store, settings, report=report)
    console.print(f"polled {result.feeds} feeds: {len(result.new_entry_ids)} new entries, "
                  f"{result.unchanged} unchanged, {result.failed} failed, "
                  f"{result.skipped} skipped (paused or backing off)")
