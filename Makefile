# make demo | make test | make lint | make docs | make bench
# The first target that needs it creates .venv and installs the project with every extra;
# it installs again whenever pyproject.toml changes (the stamp file is older then).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# test pulls in demo (and so django and channels), bench pulls in otel; named here all the same.
EXTRAS := test,dev,docs,bench,dashboard,demo,django,channels,otel

.PHONY: .venv demo test lint docs bench clean

.venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -e '.[$(EXTRAS)]'
	touch $(STAMP)

# On a terminal: the live demo in the dashboard; otherwise the headless report of both demos.
demo: $(STAMP)
	if [ -t 1 ]; then $(BIN)/gatewatch demo; else $(BIN)/gatewatch demo --headless --app all; fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The documentation site into site/; strict (mkdocs.yml), so a broken link or anchor fails.
# make test builds it too (tests/test_docs_site.py), into a scratch directory.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# Two processes, a test file each at a time: module-scoped servers start once, and most tests
# wait on a server or a subprocess, so two cores run the suite in about half the time.
test: lint
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf build dist site *.egg-info .pytest_cache .mypy_cache .ruff_cache
