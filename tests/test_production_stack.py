"""The production stack (docker-compose.yml + Dockerfile). No Docker engine runs here: the
compose file is loaded and checked, and its parts run directly: the PostgreSQL init script,
the init service's migrations, then an ingest run with Airflow's metadata on PostgreSQL."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text

from conftest import PG_ADMIN_URL, _pg_admin

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW_SERVICES = {"airflow-apiserver": "api-server", "airflow-scheduler": "scheduler",
                    "airflow-dag-processor": "dag-processor", "airflow-triggerer": "triggerer",
                    "airflow-worker": "celery worker"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def init_script(compose: dict) -> str:
    """The init service's shell script, as the container's shell would see it."""
    return compose["services"]["airflow-init"]["command"][-1].replace("$$", "$")


def test_services_images_and_commands(compose):
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "airflow-init", *AIRFLOW_SERVICES}
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    server = " ".join(services["postgres"]["command"])
    assert server.startswith("postgres ") and "shared_buffers=${POSTGRES_SHARED_BUFFERS:-" in server
    assert services["postgres"]["shm_size"]
    images = {services[name]["image"] for name in [*AIRFLOW_SERVICES, "airflow-init"]}
    assert len(images) == 1, "every Airflow component runs the one newspipe image"
    for name, command in AIRFLOW_SERVICES.items():
        assert services[name]["build"] == "."
        assert services[name]["command"] == command
        assert services[name]["depends_on"]["airflow-init"]["condition"] == \
            "service_completed_successfully"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM apache/airflow:\$\{AIRFLOW_VERSION\}", dockerfile, re.M)
    assert '"/opt/newspipe[postgres]"' in dockerfile
    assert "COPY --chown=airflow:root dags" in dockerfile
    # newspipe's named volumes are mounted on directories the image makes as the airflow
    # user (the base image's, never switched to root): an empty volume takes the directory's
    # owner, and a mount point the image lacks would be root's, unwritable for the tasks.
    assert "USER root" not in dockerfile
    for mount in compose["x-airflow-common"]["volumes"]:
        source, target = mount.split(":")[:2]
        if target.startswith("/opt/newspipe/") and not source.startswith((".", "/", "$")):
            assert re.search(rf"^RUN mkdir -p {re.escape(target)} && chmod 775 "
                             rf"{re.escape(target)}$", dockerfile, re.M), target


def test_health_checks_and_celery_profile(compose):
    services = compose["services"]
    for name in ["postgres", "redis", *AIRFLOW_SERVICES]:
        check = services[name]["healthcheck"]["test"]
        assert check[0] in {"CMD", "CMD-SHELL"} and len(check) > 1, name
    assert "/health" in " ".join(services["airflow-scheduler"]["healthcheck"]["test"])
    assert services["redis"]["profiles"] == services["airflow-worker"]["profiles"] == ["celery"]
    assert services["airflow-worker"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "profiles" not in services["airflow-scheduler"]


def test_separate_databases_and_no_secrets(compose):
    env = compose["services"]["airflow-scheduler"]["environment"]
    metadata, store = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], env["AIRFLOW_CONN_NEWSPIPE_STORE"]
    assert metadata.endswith("@postgres:5432/airflow") and store.endswith("@postgres:5432/newspipe")
    assert metadata.split("://")[1].split(":")[0] != store.split("://")[1].split(":")[0]
    for value in env.values():
        for secret in re.findall(r"://[^:/@]+:(.*?)@", str(value)):  # URL passwords
            assert secret.startswith("${"), f"literal password in {value}"
    for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY"):
        assert env[key].startswith("${") and ":?" in env[key]
    volumes = compose["services"]["postgres"]["volumes"]
    assert any("postgres-init.sh:/docker-entrypoint-initdb.d/" in v for v in volumes)


def test_init_service_runs_both_migrations(compose):
    script = init_script(compose)
    assert script.index("airflow db migrate") < script.index("newspipe db upgrade")
    assert "airflow pools set newspipe_http" in script
    assert compose["services"]["airflow-init"]["restart"] == "no"


@pytest.mark.postgres
def test_the_stack_runs_directly_on_postgresql(compose, tmp_path, seed_server):
    """The compose parts without Docker: the PostgreSQL init script makes the store's role
    and database, the init service's migrations run against both databases, and an ingest
    run (dag.test) keeps Airflow's metadata on PostgreSQL."""
    pytest.importorskip("airflow")
    admin = _pg_admin()
    suffix = uuid.uuid4().hex[:10]
    meta_db, store_db, store_user = f"np_airflow_{suffix}", f"np_store_{suffix}", f"np_{suffix}"
    server = PG_ADMIN_URL.split("://", 1)[1].rsplit("/", 1)[0]  # user@host:port
    host, port = server.split("@")[1].split(":")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{meta_db}"'))
    try:
        env = {**os.environ, "PGHOST": host, "PGPORT": port, "POSTGRES_USER": "postgres",
               "POSTGRES_DB": "postgres", "NEWSPIPE_DB_NAME": store_db,
               "NEWSPIPE_DB_USER": store_user, "NEWSPIPE_DB_PASSWORD": suffix}
        subprocess.run(["bash", str(ROOT / "docker" / "postgres-init.sh")], env=env,
                       check=True, capture_output=True)
        meta_url = f"postgresql+psycopg://{server}/{meta_db}"
        env.update({
            "AIRFLOW_HOME": str(tmp_path / "airflow"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta_url,
            # The image has asyncpg; here psycopg 3 does the async side too.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC":
                meta_url.replace("+psycopg", "+psycopg_async"),
            "AIRFLOW_CONN_NEWSPIPE_STORE":
                f"postgresql://{store_user}:{suffix}@{host}:{port}/{store_db}",
            "NEWSPIPE_HTTP_SLOTS": "2", "NEWSPIPE_TASK_RETRIES": "0",
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        })
        migrations = init_script(compose).split("airflow users")[0].rsplit("\n", 1)[0]
        init = subprocess.run(["bash", "-euc", migrations], env=env, capture_output=True,
                              text=True, timeout=300)
        assert init.returncode == 0, init.stderr[-2000:]

        feeds = (ROOT / "seeds" / "feeds.toml").read_text().replace("{{base}}",
                                                                    seed_server.base_url)
        (tmp_path / "feeds.toml").write_text(
            '[newspipe]\nallow_private_hosts = ["127.0.0.1"]\n\n' + feeds)
        env["NEWSPIPE_CONFIG"] = str(tmp_path / "feeds.toml")
        run = subprocess.run([sys.executable, "-c", DAG_TEST], env=env, capture_output=True,
                             text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        assert "state=success stories=4" in run.stdout, run.stdout[-2000:]
    finally:
        with admin.connect() as connection:
            for database in (meta_db, store_db):
                connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            connection.execute(text(f'DROP ROLE IF EXISTS "{store_user}"'))
        admin.dispose()


DAG_TEST = f"""
from pathlib import Path
from airflow.dag_processing.dagbag import BundleDagBag
from airflow.models.pool import Pool
from newspipe.store import open_store
from newspipe.store.read import summary
import os

dags = Path({str(ROOT / "dags")!r})
assert Pool.get_pool("newspipe_http").slots == 2
run = BundleDagBag(dag_folder=str(dags), bundle_path=dags).dags["newspipe_ingest"].test()
store = open_store(os.environ["AIRFLOW_CONN_NEWSPIPE_STORE"], migrate=False)
print(f"state={{run.state}} stories={{summary(store)['stories']}}")
"""
