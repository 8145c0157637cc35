"""Maintenance stages on both backends (pruning the LSH index, tidying the database) and
`newspipe maintenance`, which runs them from the command line."""

from __future__ import annotations

import re
from dataclasses import replace

from sqlalchemy import func, select

from newspipe import pipeline
from newspipe.store import open_store, repo
from newspipe.store.read import summary
from newspipe.store.schema import lsh_buckets, utcnow
from test_cli import newspipe


def test_prune_keeps_the_window_and_tidy_runs(store, seed_server):
    settings = seed_server.settings(database_url=store.url)
    pipeline.run_cycle(store, settings)

    def indexed() -> int:
        with store.connect() as connection:
            return connection.scalar(select(func.count()).select_from(lsh_buckets))

    rows = indexed()
    assert pipeline.prune_index(store, settings) == 0 and indexed() == rows
    assert pipeline.prune_index(store, replace(settings, retention_days=0)) == rows
    assert indexed() == 0
    pipeline.tidy_store(store)
    assert summary(store)["stories"] == 4


def test_maintenance_command_prunes_reports_and_fails_when_every_feed_fails(tmp_path,
                                                                            seed_server):
    """`newspipe maintenance`, as cron would run it on a store without Airflow."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = open_store(url)
    pipeline.run_cycle(store, seed_server.settings(database_url=url))

    def maintenance(**env: str):
        return newspipe("maintenance", "--db", url, cwd=tmp_path, env=env)

    kept = maintenance()
    assert kept.returncode == 0, kept.stderr
    assert "pruned 0 LSH index rows older than 30 days; 6 feeds, 0 failing or paused" \
        in " ".join(kept.stderr.split())
    pruned = maintenance(NEWSPIPE_RETENTION_DAYS="0")
    assert pruned.returncode == 0, pruned.stderr
    assert re.search(r"pruned [1-9]\d* LSH index rows older than 0 days", pruned.stderr)
    with store.begin() as connection:
        for feed in repo.feed_rows(connection):
            repo.record_feed_failure(connection, feed.id, "connection refused [errno 111]", None,
                                     next_poll_at=utcnow())
    failing = maintenance()
    assert failing.returncode == 1
    assert "connection refused [errno 111]" in failing.stderr  # rich markup left as text
    assert "error: all 6 feeds are failing: check the network" in failing.stderr
