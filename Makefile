# make demo | make test | make test-pure | make lint | make docs | make bench | make wheels
# The first target that needs it creates .venv and installs the project with every extra;
# it installs again whenever pyproject.toml changes (the stamp file is older then).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# test pulls in demo (and so django and channels), bench pulls in otel; named here all the same.
EXTRAS := test,dev,docs,bench,dashboard,demo,django,channels,otel

.PHONY: .venv demo test test-pure test-minimal compiled pure wheels lint docs bench clean

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

# The request path compiled by mypyc in place (setup.py's COMPILED_MODULES): an extension module
# beside each source, which Python imports before the .py. Rebuilt only when one of those
# sources, setup.py or the environment changed; `make pure` removes the extension modules.
COMPILED_SOURCES := $(shell grep -o '"gatewatch/[^"]*\.py"' setup.py | tr -d '"')
COMPILED_STAMP := build/compiled.stamp

compiled: $(COMPILED_STAMP)

# Every extension module is removed first: one of a module since taken off the list would
# shadow its source, and fail to load against the new shared library.
$(COMPILED_STAMP): $(COMPILED_SOURCES) setup.py $(STAMP)
	$(MAKE) --no-print-directory pure
	GATEWATCH_MYPYC=1 $(BIN)/python setup.py -q build_ext --inplace
	touch $(COMPILED_STAMP)

pure:
	rm -f $(COMPILED_STAMP) *__mypyc*.so *__mypyc*.pyd
	find gatewatch -name '*.so' -delete -o -name '*.pyd' -delete

# Two processes, a test file each at a time: module-scoped servers start once, and most tests
# wait on a server or a subprocess, so two cores run the suite in about half the time.
# Every extra is installed here, so a test that skips because an import failed fails the run
# (tests/support/extras.py). GATEWATCH_EXPECT_BUILD makes tests/test_build.py fail when the
# build that runs is not the one named, so neither target can silently run the other build.
PYTEST := GATEWATCH_TESTS_EVERY_EXTRA=1 $(BIN)/python -m pytest -q -n 2 --dist loadfile

# On the compiled build: what a Linux x86_64 user runs. No coverage: compiled code is not traced.
test: lint compiled
	GATEWATCH_EXPECT_BUILD=compiled $(PYTEST)

# The same suite on the pure-Python build (every other platform's fallback), with branch
# coverage of the library and the dashboard, the servers the tests start included
# ([tool.coverage.*] in pyproject.toml, where fail_under gates it and says why there).
test-pure: pure $(STAMP)
	GATEWATCH_EXPECT_BUILD=pure $(PYTEST) \
		--cov=gatewatch --cov=gatewatch_dashboard --cov-branch --cov-report=term

# Both wheels into dist/, each installed in a scratch environment and smoke-tested there
# (.ci/wheel_smoke.py: the build is the one expected, and a request of each interface is recorded).
WHEELS := build/wheels
wheels: $(STAMP)
	# setuptools reuses build/lib*: an extension module left there by an earlier build (of a
	# module since taken off the list) would ship in the wheel.
	rm -rf $(WHEELS) dist/gatewatch-*.whl build/lib.* build/bdist.*
	$(BIN)/python -m pip wheel --disable-pip-version-check --no-deps -q -w $(WHEELS)/pure .
	GATEWATCH_MYPYC=1 $(BIN)/python -m pip wheel --disable-pip-version-check --no-deps -q -w $(WHEELS)/compiled .
	for build in pure compiled; do \
		$(BIN)/python -m venv $(WHEELS)/venv-$$build && \
		$(WHEELS)/venv-$$build/bin/python -m pip install --disable-pip-version-check -q $(WHEELS)/$$build/*.whl && \
		(cd $(WHEELS) && PATH=$$PWD/venv-$$build/bin:$$PATH venv-$$build/bin/python ../../.ci/wheel_smoke.py $$build) \
		|| exit 1; \
	done
	mkdir -p dist
	cp $(WHEELS)/pure/*.whl $(WHEELS)/compiled/*.whl dist/
	ls dist/gatewatch-*.whl

# The library with its runtime dependencies only (prometheus-client, asgiref) and pytest, in a
# fresh environment: the test modules that need an extra are skipped (tests/support/extras.py).
# pytest's plugins are extras too, so their settings in pyproject.toml are not read here.
MINIMAL := build/minimal-venv
test-minimal: pure
	rm -rf $(MINIMAL)
	$(PYTHON) -m venv $(MINIMAL)
	$(MINIMAL)/bin/python -m pip install --disable-pip-version-check -q . pytest
	GATEWATCH_TESTS_RUNTIME_ONLY=1 $(MINIMAL)/bin/python -m pytest -q -p no:cacheprovider -o addopts= -W ignore::pytest.PytestConfigWarning

# The in-process tables, the instruction counts (valgrind's callgrind, which also checks that it
# counts the same run the same), the scrape part (python -m bench.scrape: render cost and loop
# holds at 10-1 000 routes) and the server level (wrk). Both builds: the pure and the mypyc wheel
# are built from the checkout into build/bench/ and installed in a venv each (bench/builds.py;
# reused while the sources are unchanged), and gatewatch's rows of the instruction counts and of
# the server level run once under each, beside the bare app, the floor and the peers, with
# issue 30's targets checked per build. See docs/benchmarks.md for the time it takes.
bench: $(STAMP)
	$(BIN)/python -m bench --instructions

clean: pure
	rm -rf build dist site *.egg-info .pytest_cache .mypy_cache .ruff_cache
