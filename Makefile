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
	$(BIN)/uv pip install --python $(BIN)/python -e ".[all]"
	touch $(STAMP)

demo: install
	$(BIN)/newspipe demo

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests dags bench

clean:
	rm -rf $(VENV) newspipe.db .pytest_cache
