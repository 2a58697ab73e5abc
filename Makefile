# Clarion: `make serve` to run it, `make test` to test it.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: serve test bench docs install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)  ## run the service on http://127.0.0.1:8080 with data in ./clarion-data
	$(BIN)/clarion serve

test: $(STAMP)  ## the whole suite; the store tests also run on a throw-away PostgreSQL
	$(BIN)/python -m pytest tests

bench: $(STAMP)  ## every benchmark, printing ratios against its baseline
	$(BIN)/pip install -q -e '.[test,bench]'
	@status=0; for b in bench/[!_]*.py; do echo "== $$b"; $(BIN)/python $$b || status=1; done; exit $$status

docs: $(STAMP)  ## regenerate the generated docs (operations coverage, CLI reference)
	$(BIN)/python -m clarion.docs

clean:
	rm -rf $(VENV) .pytest_cache
