# Two entry points, each works on a fresh clone with only Python 3.11+:
#   make run   - set up .venv, run the example workload, write Parquet, print the report
#   make test  - set up .venv, lint, run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= otelytics-data

.PHONY: run test lint bench docs clean setup

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	rm -rf $(DATA)
	OTELYTICS_DATA_DIR=$(DATA) $(BIN)/python examples/quickstart.py
	OTELYTICS_DATA_DIR=$(DATA) OTEL_SERVICE_NAME=llm-app \
		$(BIN)/opentelemetry-instrument $(BIN)/python examples/llm_app.py
	$(BIN)/otelytics report $(DATA)
	$(BIN)/otelytics suggest $(DATA)

lint: $(STAMP)
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest -n 2 --dist loadfile

bench: $(STAMP)
	$(BIN)/python -m bench

docs: $(STAMP)
	$(BIN)/python -m otelytics.semconv._docgen docs/semconv.md

clean:
	rm -rf $(VENV) $(DATA) build *.egg-info
