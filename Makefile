# The two commands of the README: `make demo` and `make test`. Both install first if needed.
PY        ?= python3
VENV      := .venv
BIN       := $(VENV)/bin
STAMP     := $(VENV)/.installed

.PHONY: install demo test lint bench clean airflow

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip uv
	# Bytecode compiled at install, as pip does by default (uv does not): where
	# PYTHONDONTWRITEBYTECODE is set (CI, containers) every process would otherwise compile
	# every module it imports, ~2.5 s of CPU per command and per extraction forkserver.
	$(BIN)/uv pip install --compile-bytecode --python $(BIN)/python -e ".[all]"
	touch $(STAMP)

demo: install
	$(BIN)/newspipe demo

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests dags bench

# Quick runs of every benchmark (each prints its figures and the machine's load; drop
# --quick for the full sizes given in the README).
bench: install
	$(BIN)/python bench/poll.py --quick
	$(BIN)/python bench/eval_extraction.py --quick
	$(BIN)/python bench/eval_dedup.py --quick
	$(BIN)/python bench/dedup_scale.py --quick
	$(BIN)/python bench/backfill.py --quick

clean:
	rm -rf $(VENV) newspipe.db .pytest_cache

# Airflow standalone on 127.0.0.1 with the project's DAGs, the seed fixture served on
# 127.0.0.1:$(FIXTURE_PORT) as the feed list, and an embedded store in airflow-home/.
# Log in as `admin` with the password printed at start (also in
# airflow-home/simple_auth_manager_passwords.json.generated); Ctrl-C stops everything.
AIRFLOW_DIR  := $(CURDIR)/airflow-home
AIRFLOW_PORT ?= 8080
FIXTURE_PORT ?= 8765

airflow: install
	@mkdir -p $(AIRFLOW_DIR)
	@export PATH=$(CURDIR)/$(BIN):$$PATH AIRFLOW_HOME=$(AIRFLOW_DIR) \
	  AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags \
	  AIRFLOW__CORE__LOAD_EXAMPLES=False AIRFLOW__CORE__PARALLELISM=4 \
	  AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False \
	  AIRFLOW__API__HOST=127.0.0.1 AIRFLOW__API__PORT=$(AIRFLOW_PORT) \
	  AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:$(AIRFLOW_PORT)/execution/ \
	  AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=admin:admin \
	  NEWSPIPE_CONFIG=$(AIRFLOW_DIR)/feeds.toml \
	  NEWSPIPE_DATABASE_URL=sqlite:///$(AIRFLOW_DIR)/newspipe.db \
	  NEWSPIPE_ARCHIVE_DIR=$(AIRFLOW_DIR)/archive \
	  NEWSPIPE_CONSUMER_OUTPUT=$(AIRFLOW_DIR)/consumer.jsonl; \
	$(BIN)/newspipe serve-fixture --port $(FIXTURE_PORT) --config $(AIRFLOW_DIR)/feeds.toml & \
	fixture=$$!; trap 'kill $$fixture 2>/dev/null' EXIT INT TERM; \
	$(BIN)/airflow db migrate > $(AIRFLOW_DIR)/migrate.log && \
	$(BIN)/airflow pools set newspipe_http 4 "newspipe: concurrent HTTP tasks" > /dev/null && \
	echo "Airflow on http://127.0.0.1:$(AIRFLOW_PORT) (user admin, password printed below); Ctrl-C stops it" && \
	$(BIN)/airflow standalone
