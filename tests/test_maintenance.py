"""Maintenance stages on both backends: pruning the LSH index, tidying the database."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import func, select

from newspipe import pipeline
from newspipe.store.read import summary
from newspipe.store.schema import lsh_buckets


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
