#!/usr/bin/env bash
# First start of the PostgreSQL container: a separate role and database for the canonical
# store, next to Airflow's metadata database (POSTGRES_DB). Passwords come from the
# environment (.env), never from the repository.
set -euo pipefail
: "${NEWSPIPE_DB_PASSWORD:?set NEWSPIPE_DB_PASSWORD}"
NEWSPIPE_DB_NAME="${NEWSPIPE_DB_NAME:-newspipe}"
NEWSPIPE_DB_USER="${NEWSPIPE_DB_USER:-newspipe}"
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER}" --dbname "${POSTGRES_DB:-postgres}" \
    -v user="${NEWSPIPE_DB_USER}" -v password="${NEWSPIPE_DB_PASSWORD}" \
    -v dbname="${NEWSPIPE_DB_NAME}" <<'SQL'
CREATE ROLE :"user" LOGIN PASSWORD :'password';
CREATE DATABASE :"dbname" OWNER :"user";
SQL
