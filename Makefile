# RadBook: `make run` and `make test` work from a fresh clone (README).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
FLASK := $(VENV)/bin/flask --app wsgi
TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
PYTEST_ARGS ?=

.PHONY: install translations run test test-sqlite test-postgres lint i18n-update i18n-check bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

translations: install
	$(VENV)/bin/pybabel compile --use-fuzzy -d translations >/dev/null

run: install translations
	$(FLASK) db upgrade
	$(FLASK) db-is-empty && $(FLASK) demo load || true
	RADBOOK_INSECURE_COOKIES=1 $(FLASK) serve

test: install translations test-sqlite test-postgres

test-sqlite: install translations
	@echo "== test suite on SQLite =="
	$(PY) -m pytest $(PYTEST_ARGS)

# With CI=true an unreachable PostgreSQL fails the run; elsewhere it is skipped, loudly.
test-postgres: install translations
	@if $(PY) -c "import sys, psycopg; u=sys.argv[1].replace('postgresql+psycopg','postgresql'); psycopg.connect(u, connect_timeout=5).close()" "$(TEST_DATABASE_URL)" 2>/dev/null; then \
		echo "== test suite on PostgreSQL ($(TEST_DATABASE_URL)) =="; \
		TEST_DATABASE_URL="$(TEST_DATABASE_URL)" $(PY) -m pytest $(PYTEST_ARGS); \
	elif [ "$$CI" = "true" ]; then \
		echo "ERROR: PostgreSQL at $(TEST_DATABASE_URL) is unreachable (required in CI)"; exit 1; \
	else \
		echo ""; echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
		echo "!! PostgreSQL at $(TEST_DATABASE_URL) is unreachable:"; \
		echo "!! the PostgreSQL half of the suite was SKIPPED."; \
		echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
	fi

lint: install
	$(VENV)/bin/ruff check .

i18n-update: install
	$(PY) -m app.i18n_catalogs update

i18n-check: install
	$(PY) -m app.i18n_catalogs check

clean:
	rm -rf $(VENV) .pytest_cache
