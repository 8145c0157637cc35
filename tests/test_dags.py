"""The Airflow front end: DAG files import cleanly and `dag.test()` runs the stages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("airflow")

from airflow.dag_processing.dagbag import BundleDagBag  # noqa: E402

from newspipe.store import open_store  # noqa: E402
from newspipe.store.read import canonical_records, summary  # noqa: E402

DAGS = Path(__file__).resolve().parents[1] / "dags"
DAG_IDS = {"newspipe_ingest", "newspipe_backfill", "newspipe_maintenance",
           "newspipe_consumer_example"}


def dag_bag() -> BundleDagBag:
    """The DAG folder as Airflow 3 loads it: a bundle, its folder importable."""
    return BundleDagBag(dag_folder=str(DAGS), bundle_path=DAGS)


@pytest.fixture(scope="session")
def airflow_db():
    """Airflow's metadata database (SQLite in AIRFLOW_HOME, see conftest), migrated once."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True,
                   capture_output=True, env=os.environ.copy())


@pytest.fixture
def feeds_file(tmp_path, seed_server):
    from newspipe.demo import seeds_dir

    text = (seeds_dir() / "feeds.toml").read_text().replace("{{base}}", seed_server.base_url)
    path = tmp_path / "feeds.toml"
    path.write_text('[newspipe]\nallow_private_hosts = ["127.0.0.1"]\n\n' + text)
    return path


def test_dag_files_import_without_errors():
    bag = dag_bag()
    assert bag.import_errors == {}
    assert set(bag.dags) == DAG_IDS


def test_ingest_dag_runs_the_pipeline(airflow_db, database_url, feeds_file, monkeypatch, manifest):
    monkeypatch.setenv("NEWSPIPE_CONFIG", str(feeds_file))
    monkeypatch.setenv("NEWSPIPE_DATABASE_URL", database_url)
    dag = dag_bag().dags["newspipe_ingest"]
    run = dag.test()
    assert run.state == "success"
    store = open_store(database_url, migrate=False)
    counts = summary(store)
    assert counts["stories"] == len({p["story"] for p in manifest})
    assert counts["failed"] == 0
    seed = [r for r in canonical_records(store) if r["duplicates"]]
    assert len(seed) == 1
    store.dispose()
