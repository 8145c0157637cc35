"""Shared fixtures: real stores (SQLite file, PostgreSQL database made and dropped per
test) and the seed fixture on a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

# Airflow reads its configuration when first imported: give the test session its own home
# (SQLite metadata database, no examples) before anything imports it.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="newspipe-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER",
                      str(Path(__file__).resolve().parents[1] / "dags"))
# Raw pages go to a WARC archive (Settings.archive_dir): keep the tests' out of the checkout.
os.environ.setdefault("NEWSPIPE_ARCHIVE_DIR", tempfile.mkdtemp(prefix="newspipe-archive-"))
# Every fixture server is on 127.0.0.1: the per-host delay would only slow the suite down
# (the politeness tests in test_fetch_*.py set their own).
os.environ.setdefault("NEWSPIPE_PER_HOST_DELAY_SECONDS", "0")

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from newspipe.demo import FixtureServer, seeds_dir
from newspipe.store import open_store

PG_ADMIN_URL = os.environ.get("NEWSPIPE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _pg_admin():
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc.orig}")
    return engine


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    admin = _pg_admin()
    name = f"newspipe_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'newspipe.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request):
    """Every store test runs on the embedded default and on a real PostgreSQL."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
def store(database_url):
    store = open_store(database_url)
    yield store
    store.dispose()


@pytest.fixture(scope="session")
def seed_server():
    with FixtureServer() as server:
        yield server


@pytest.fixture(scope="session")
def manifest():
    return json.loads((seeds_dir() / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def seed_text():
    return (seeds_dir() / "000_9024000fb1f14d0d.txt").read_text(encoding="utf-8")


def shared_data(name: str) -> Path:
    """A folder of ../shared/data, or skip: tests never need it to pass."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"{path} not present")
    return path


@pytest.fixture
def seed_warc(tmp_path, manifest):
    """The seed fixture's article pages as a gzipped WARC (as if crawled at example.org)."""
    from newspipe.fetch.warc_import import write_html_warc

    base = "https://seed.example.org"
    pages = [(f"{base}/{page['path']}",
              (seeds_dir() / "site" / page["path"]).read_bytes().replace(b"{{base}}",
                                                                         base.encode()))
             for page in manifest]
    path = tmp_path / "seed.warc.gz"
    write_html_warc(path, pages)
    return path


@pytest.fixture(scope="session")
def airflow_db():
    """Airflow's metadata database (SQLite in AIRFLOW_HOME, see above), migrated once."""
    pytest.importorskip("airflow")
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True,
                   capture_output=True, env=os.environ.copy())
    return Path(os.environ["AIRFLOW_HOME"])
