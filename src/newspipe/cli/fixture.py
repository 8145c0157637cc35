"""`newspipe serve-fixture`: the seed fixture on 127.0.0.1 until interrupted, and a feeds
file pointing at it (for `make airflow`: DAGs to trigger with something to ingest)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

import typer

from newspipe.cli import app, console


@app.command("serve-fixture")
def serve_fixture(
    config: Annotated[Path, typer.Option(
        "--config", help="Feeds file to write, for NEWSPIPE_CONFIG.")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free one).")] = 0,
) -> None:
    """Serve the seed fixture's feeds and pages on 127.0.0.1 until interrupted."""
    from newspipe.demo import FixtureServer, seeds_dir

    with FixtureServer(port=port) as server:
        feeds = (seeds_dir() / "feeds.toml").read_text(encoding="utf-8")
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text('[newspipe]\nallow_private_hosts = ["127.0.0.1"]\n\n'
                          + feeds.replace("{{base}}", server.base_url), encoding="utf-8")
        console.print(f"seed fixture on {server.base_url}; feeds in {config}")
        threading.Event().wait()  # until Ctrl-C / SIGTERM
