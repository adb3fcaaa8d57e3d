# RadBook: `make run` and `make test` work from a fresh clone (README).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
LOCK := requirements.lock
FLASK := $(VENV)/bin/flask --app wsgi
# The PostgreSQL half connects here only to create (and at the end drop) a database of
# its own for the run (tests/conftest.py), so runs side by side never share a schema.
TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
PYTEST_ARGS ?=
# The layer contract runs once, before both halves (it reads source, not a database).
HALF_ARGS := --ignore=tests/test_layers.py $(PYTEST_ARGS)

.PHONY: install lock translations run test check lint format-check layers test-sqlite \
	test-postgres test-clock i18n-update i18n-check clean

install: $(STAMP)

# Exactly the lock: --no-deps, so a dependency missing from it makes `pip check` fail
# instead of being fetched at whatever version is newest that day. pip and setuptools
# come from the lock too; the project is built with them (--no-build-isolation).
$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-deps -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	touch $(STAMP)

# Refresh the lock: resolve pyproject.toml (with the [test] extra) against PyPI today, for
# every platform and Python the project supports (uv's universal mode), in a throwaway venv.
# `make lock LOCK_FLAGS=` keeps the pins that still fit (after adding a dependency);
# `make lock LOCK_FLAGS='--upgrade-package flask'` moves one package.
UV_VERSION ?= 0.13.9
LOCK_FLAGS ?= --upgrade
lock:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/pip" install --quiet uv==$(UV_VERSION); \
	if [ -f $(LOCK) ]; then cp $(LOCK) "$$tmp/lock"; fi; \
	printf 'pip\nsetuptools>=77\n' > "$$tmp/installers.in"; \
	"$$tmp/venv/bin/uv" pip compile --quiet pyproject.toml "$$tmp/installers.in" \
		--extra test --universal --annotation-style line --no-header $(LOCK_FLAGS) \
		-o "$$tmp/lock"; \
	{ echo '# Exact versions of every dependency of RadBook, direct and indirect: the runtime,'; \
	  echo '# the [test] extra, and the pip and setuptools that install the project.'; \
	  echo '# `make install` installs exactly this (pip install --no-deps -r, then pip check).'; \
	  echo '# Refresh it (re-resolve everything against PyPI today) with:  make lock'; \
	  echo '# which runs, in a throwaway venv, uv $(UV_VERSION):'; \
	  echo '#   uv pip compile pyproject.toml installers.in --extra test --universal'; \
	  echo '#     --annotation-style line --no-header --upgrade -o $(LOCK)'; \
	  echo '# (installers.in: pip, setuptools>=77)'; \
	  grep -v "^#" "$$tmp/lock" | sed "s|-r $$tmp/installers.in|make install (builds the project)|"; } > $(LOCK)
	@echo "$(LOCK): $$(grep -c '==' $(LOCK)) pins"

translations: install
	$(VENV)/bin/pybabel compile --use-fuzzy -d translations >/dev/null

run: install translations
	$(FLASK) db upgrade
	$(FLASK) db-is-empty && $(FLASK) demo load || true
	RADBOOK_INSECURE_COOKIES=1 $(FLASK) serve

# Lint, format and layers first (seconds), then each half of the suite, then the
# date-dependent tests under shifted machine clocks.
test: check test-sqlite test-postgres test-clock

check: lint format-check layers

lint: install
	$(VENV)/bin/ruff check .

format-check: install
	$(VENV)/bin/ruff format --check .

layers: install
	$(PY) -m pytest -q -p no:cacheprovider tests/test_layers.py

test-sqlite: install translations
	@echo "== SQLite half =="
	@start=$$(date +%s); $(PY) -m pytest $(HALF_ARGS); rc=$$?; \
	echo "== SQLite half: $$(( $$(date +%s) - start )) s =="; exit $$rc

# With CI=true an unreachable PostgreSQL fails the run; elsewhere it is skipped, loudly.
test-postgres: install translations
	@if $(PY) -c "import sys, psycopg; u=sys.argv[1].replace('postgresql+psycopg','postgresql'); psycopg.connect(u, connect_timeout=5).close()" "$(TEST_DATABASE_URL)" 2>/dev/null; then \
		echo "== PostgreSQL half (a database of its own on $(TEST_DATABASE_URL)) =="; \
		start=$$(date +%s); TEST_DATABASE_URL="$(TEST_DATABASE_URL)" $(PY) -m pytest $(HALF_ARGS); rc=$$?; \
		echo "== PostgreSQL half: $$(( $$(date +%s) - start )) s =="; exit $$rc; \
	elif [ "$$CI" = "true" ]; then \
		echo "ERROR: PostgreSQL at $(TEST_DATABASE_URL) is unreachable (required in CI)"; exit 1; \
	else \
		echo ""; echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
		echo "!! PostgreSQL at $(TEST_DATABASE_URL) is unreachable:"; \
		echo "!! the PostgreSQL half of the suite was SKIPPED."; \
		echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
	fi

# Shifted clocks: the date-dependent tests (on SQLite) with the machine's clock moved by
# Debian's faketime (LD_PRELOAD; child processes share the shifted clock). The suite sets
# the one clock (scheduling/clock.py) to tests/conftest.py's SUITE_NOW, so a failure here
# means some code read the wall clock instead. Each run first checks that Python really
# sees the shifted time.
CLOCK_TESTS ?= tests/scheduling tests/integrations/line tests/app/test_thaidate.py \
	tests/app/requests tests/app/hub
# A year ahead; Thai New Year (Songkran, a public holiday); 30 s before the Buddhist-Era
# year changes in Bangkok (2570 -> 2571); a leap day; and back in the past.
CLOCK_AT ?= '2027-12-03 09:00:00 +0700' '2027-04-13 10:00:00 +0700' \
	'2027-12-31 23:59:30 +0700' '2028-02-29 09:00:00 +0700' '2025-06-01 09:00:00 +0700'
test-clock: install translations
	@command -v faketime >/dev/null || { echo "ERROR: faketime is missing (apt-get install faketime)"; exit 1; }
	@all=$$(date +%s); for at in $(CLOCK_AT); do \
		want=$$(date -d "$$at" +%s) || exit 1; \
		faketime "$$at" $(PY) -c 'import sys, time; from datetime import UTC, datetime; seen = time.time(); assert abs(seen - int(sys.argv[1])) < 60, f"faketime did not reach Python: {seen} vs {sys.argv[1]}"; print(f"== shifted clock {sys.argv[2]}: Python sees {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC ==")' "$$want" "$$at" || exit 1; \
		start=$$(date +%s); \
		faketime "$$at" $(PY) -m pytest -q -p no:cacheprovider $(CLOCK_TESTS) $(PYTEST_ARGS) || exit 1; \
		echo "== shifted clock $$at: $$(( $$(date +%s) - start )) s =="; \
	done; \
	echo "== shifted clocks, all: $$(( $$(date +%s) - all )) s =="

i18n-update: install
	$(PY) -m app.i18n_catalogs update

i18n-check: install
	$(PY) -m app.i18n_catalogs check

clean:
	rm -rf $(VENV) .pytest_cache
