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
# The raw archive's mount point, made here so that the named volume mounted on it starts
# owned by the airflow user (Docker copies the image directory's owner into an empty
# volume; a directory the image lacks is created owned by root, and tasks could not write).
# Group-writable for group 0, as the Airflow image expects of an AIRFLOW_UID other than 50000.
RUN mkdir -p /opt/newspipe/archive && chmod 775 /opt/newspipe/archive

COPY --chown=airflow:root dags /opt/airflow/dags
