# Every target works on a fresh machine with only Python 3.11 and pip.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: demo test typecheck bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# bench/queue*.py measure the product's queue beside pgqueuer and procrastinate.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	touch $(BENCH_STAMP)

demo: $(STAMP)
	$(BIN)/acra-enrich demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(BENCH_STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/direct.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/queue_guarantees.py
	$(BIN)/python bench/queue.py
	$(BIN)/python bench/express.py
	$(BIN)/python bench/nightly.py
	$(BIN)/python bench/icp.py
	$(BIN)/python bench/resolve.py

clean:
	rm -rf $(VENV) .acra-enrich .pytest_cache
