# Kliniki: `make run` serves the portal, `make test` runs the whole suite (README.md).
VENV := .venv
PYTEST_ARGS ?=
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test test-fast test-pgbouncer lint install chromium pgbouncer bench db-stop clean

$(STAMP): setup.cfg pyproject.toml
	@bash .ci/ensure-venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

# Embedded PostgreSQL unless DATABASE_URL is set; migrates, seeds demo data when empty, serves on :8000.
run: install
	$(PY) -m portal.serve

chromium:
	@bash .ci/ensure-chromium

# Debian's pgbouncer for the pooler tests (tests/servers.py starts its own on a Unix socket).
pgbouncer:
	@bash .ci/ensure-pgbouncer

# The lint and type gate: ruff (pyflakes, pycodestyle, bugbear, import order) and mypy; settings in pyproject.toml.
lint: install
	$(PY) -m ruff check portal tests bench wsgi.py
	$(PY) -m mypy

# Everything, then the tests marked pgbouncer again with the apps behind a PgBouncer in transaction mode.
test: install chromium pgbouncer lint
	$(PY) -m pytest $(PYTEST_ARGS)
	KLINIKI_TEST_POOLER=pgbouncer $(PY) -m pytest -m pgbouncer $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-pgbouncer: install pgbouncer
	KLINIKI_TEST_POOLER=pgbouncer $(PY) -m pytest -m pgbouncer $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-fast: install pgbouncer lint
	$(PY) -m pytest -m "not e2e" $(PYTEST_ARGS)

bench: install
	$(PY) bench/booking.py
	$(PY) bench/search.py
	$(PY) bench/records.py
	$(PY) bench/payments.py
	$(PY) bench/dashboard.py
	$(PY) bench/grid.py
	$(PY) bench/audit.py
	$(PY) bench/rush.py

db-stop: install
	$(PY) -c "from portal.embedded import stop_server; stop_server('instance')"

clean:
	rm -rf $(VENV) build *.egg-info
