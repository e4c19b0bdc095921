# MarketStream: `make run` (the demo, embedded: no Redis, no credentials), `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
DEV_STAMP := $(VENV)/.requirements-dev-installed
WEB_PORT ?= 8000
SIM_PORT ?= 8765

# The demo talks to the bundled simulator with its demo credentials, with Django's debug
# pages on (DEBUG is off unless DJANGO_DEBUG=true).
DEMO_ENV := DEV_MODE=true DJANGO_DEBUG=true DHANHQ_FEED_URL=ws://127.0.0.1:$(SIM_PORT) \
	DHANHQ_DEPTH_FEED_URL=ws://127.0.0.1:$(SIM_PORT)/twentydepth DHANHQ_WS_MODE=full \
	DHANHQ_ORDER_FEED_URL=ws://127.0.0.1:$(SIM_PORT)/orderupdate \
	DHANHQ_API_URL=http://127.0.0.1:$(shell echo $$(($(SIM_PORT) + 1)))/v2 \
	DHANHQ_CLIENT_ID=1000000001 DHANHQ_ACCESS_TOKEN=demo-token

# Local checks, tests and benchmarks run with DEBUG off, as production does, on plain HTTP.
LOCAL_ENV := DJANGO_SECRET_KEY=local-checks-only-never-deployed DJANGO_ALLOWED_HOSTS=localhost,127.0.0.1 \
	DJANGO_HTTPS=off

.PHONY: run test test-fast bench chaos lint system-deps venv dev-venv compiled-decoder

venv: $(STAMP)

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

dev-venv: $(DEV_STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(DEV_STAMP)

# The feed's decoder compiled with mypyc (tools/compile_decoder.py; full packets about 1.5x
# faster). Rebuilt when its sources change; dhan.decoder uses a build only while it matches
# the source, and runs as pure Python without one (`make run`'s runtime-only venv).
EXT_SUFFIX := $(shell $(PYTHON) -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")
COMPILED_DECODER := dhan/_compiled_decoder$(EXT_SUFFIX)

compiled-decoder: $(COMPILED_DECODER)

$(COMPILED_DECODER): dhan/decoder.py dhan/packets.py dhan/ticks.py tools/compile_decoder.py $(DEV_STAMP)
	$(PY) tools/compile_decoder.py

# redis-server, chromium, and a C compiler with Python's headers (the compiled decoder) from
# Debian when missing (CI runs as root on a fresh machine).
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v gcc >/dev/null || missing="$$missing gcc"; \
	$(PYTHON) -c "import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))" \
		|| missing="$$missing python3-dev"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# One owner process for the demo (run_demo): a signal to make's process group (Ctrl-C, a
# process manager, timeout, CI) reaches it and its children, and it waits for them.
run: venv
	$(DEMO_ENV) $(PY) manage.py migrate --noinput -v 0
	$(DEMO_ENV) $(PY) manage.py load_instruments
	$(DEMO_ENV) $(PY) manage.py demo_user
	$(DEMO_ENV) exec $(PY) manage.py run_demo --host 127.0.0.1 --port $(WEB_PORT) \
		--sim-port $(SIM_PORT)

# Lint, format, architecture, types and Django's own checks first (seconds), then the suite.
lint: dev-venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports
	$(LOCAL_ENV) $(VENV)/bin/mypy
	$(LOCAL_ENV) $(PY) manage.py check
	$(LOCAL_ENV) $(PY) manage.py makemigrations --check --dry-run

# The tests that start no process first, on four workers (they wait on threads and
# sockets more than they compute), then the end-to-end ones on two (work stealing: the
# longest wait on wall-clock minutes).
test: dev-venv system-deps lint compiled-decoder
	$(PY) -m pytest -q -n 4 --dist worksteal -m "not e2e"
	$(PY) -m pytest -q -n 2 --dist worksteal -m e2e

# The tests that start no process (`e2e` marks those: daphne, Celery workers, run_web,
# redis-server, the simulator as a process, Chromium, manage.py commands), in under a
# minute. They mostly wait on sockets and threads (a third of a core each): four workers,
# each taking the next test when free.
test-fast: dev-venv compiled-decoder
	$(PY) -m pytest -q -n 4 --dist worksteal -m "not e2e"

# The fault battery (also part of `make test`), printing each fault's recovery time.
chaos: dev-venv system-deps
	$(PY) -m pytest -q -s -p no:cacheprovider tests/chaos tests/ha

# The fan-out's independent client is Node's `ws` (bench/node): node and npm from apt when
# missing, `ws` from npm by bench/bench_clients.py.
bench: dev-venv system-deps compiled-decoder
	command -v node >/dev/null && command -v npm >/dev/null || \
		(apt-get update && apt-get install -y --no-install-recommends nodejs npm)
	$(LOCAL_ENV) $(PY) bench/run.py
