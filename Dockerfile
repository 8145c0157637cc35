# The production image: Apache Airflow with newspipe installed and its DAGs baked in.
# Build: docker compose build   (see docker-compose.yml and the README's "Production" section)
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}

ARG AIRFLOW_VERSION
# Pinning apache-airflow in the same install keeps pip from up- or downgrading it.
COPY --chown=airflow:root pyproject.toml README.md /opt/newspipe/
COPY --chown=airflow:root src /opt/newspipe/src
COPY --chown=airflow:root seeds /opt/newspipe/seeds
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" "/opt/newspipe[postgres]"

COPY --chown=airflow:root dags /opt/airflow/dags
