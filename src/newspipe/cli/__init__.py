"""The command line. Every command calls the same stage functions as the Airflow DAGs.

This module holds the app, its shared options and helpers; each group of commands lives in
its own module, registered at the bottom. Commands import the pipeline, the store and the
extraction stack when they run, not when the command line loads (~3 s of imports: `--help`
and a command that needs none of them start at once).
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from newspipe.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from newspipe.store import Store

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False,
                  help="News feeds in, one canonical record per story out.")
db_app = typer.Typer(no_args_is_help=True, help="The store's schema.")
app.add_typer(db_app, name="db")
console = Console(stderr=True)
out = Console()

DbOption = Annotated[str | None, typer.Option(
    "--db", help="Store URL (default: $NEWSPIPE_DATABASE_URL, else sqlite:///newspipe.db).")]


class UserError(Exception):
    """An error whose message is all the user needs: printed as one line, exit 1."""


def settings_for(config: Path | None, db: str | None) -> Settings:
    return load_settings(config, database_url=db)


@contextmanager
def progress_reporter():
    """A rich progress bar per stage on a terminal; silent otherwise."""
    if not console.is_terminal:
        yield lambda stage, done, total: None
        return
    columns = (TextColumn("{task.description:>8}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        tasks: dict[str, int] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        yield report


def print_summary(store: Store) -> None:
    from newspipe.store.read import summary

    counts = summary(store)
    table = Table(title="newspipe store")
    for name in counts:
        table.add_column(name, justify="right")
    table.add_row(*(str(v) for v in counts.values()))
    out.print(table)


def print_stories(store: Store) -> None:
    from newspipe.store.read import canonical_records

    table = Table(title="canonical records", show_lines=True)
    table.add_column("story", justify="right")
    table.add_column("canonical")
    table.add_column("copies (similarity)")
    for record in canonical_records(store):
        copies = "\n".join(f"{d['source']} ({d['similarity']:.2f})" for d in record["duplicates"])
        table.add_row(str(record["cluster_id"]),
                      f"[bold]{record['title']}[/bold]\n{record['source']} · {record['url']}",
                      copies or "-")
    out.print(table)


def main() -> None:
    """Entry point: known errors become one line on stderr and exit status 1."""
    try:
        app(standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (UserError, ConfigError, FileNotFoundError, PermissionError) as exc:
        _fail(exc)
    except typer.Abort:
        console.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # the last line of defence: still one line, unless debugging
        from newspipe.store import StoreError

        if isinstance(exc, StoreError):
            _fail(exc)
        if os.environ.get("NEWSPIPE_DEBUG"):
            raise
        console.print(f"[red]error:[/red] {type(exc).__name__}: {escape(str(exc))} "
                      "(set NEWSPIPE_DEBUG=1 for a traceback)", highlight=False, soft_wrap=True)
        sys.exit(1)


def _fail(error: Exception) -> None:
    """A known error: its message on one line, exit status 1."""
    console.print(f"[red]error:[/red] {escape(str(error))}", highlight=False, soft_wrap=True)
    sys.exit(1)


# Command modules register themselves on `app` when imported.
import newspipe.cli.backfill  # noqa: E402,F401  (newspipe backfill)
import newspipe.cli.fixture  # noqa: E402,F401  (newspipe serve-fixture, for make airflow)
from newspipe.cli import commands, feeds  # noqa: E402,F401
from newspipe.cli import dedup as dedup_commands  # noqa: E402,F401
from newspipe.cli import extract as extract_commands  # noqa: E402,F401
