# MarketStream: `make run` (the demo, embedded: no Redis, no credentials), `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed

# The demo talks to the bundled simulator with its demo credentials.
DEMO_ENV := DEV_MODE=true DHANHQ_FEED_URL=ws://127.0.0.1:8765 \
	DHANHQ_API_URL=http://127.0.0.1:8766/v2 DHANHQ_CLIENT_ID=1000000001 \
	DHANHQ_ACCESS_TOKEN=demo-token

.PHONY: run test bench lint system-deps venv

venv: $(STAMP)

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# redis-server and chromium from Debian when missing (CI runs as root on a fresh machine).
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

run: venv
	$(DEMO_ENV) $(PY) manage.py migrate --noinput -v 0
	$(DEMO_ENV) $(PY) manage.py load_instruments
	$(DEMO_ENV) $(PY) manage.py load_screeners
	@set -m; $(DEMO_ENV) $(PY) manage.py dhan_simulator --port 8765 & sim=$$!; \
	trap 'kill $$sim 2>/dev/null; wait $$sim 2>/dev/null' EXIT INT TERM; \
	$(DEMO_ENV) $(PY) manage.py run_web --host 127.0.0.1 --port 8000 --demo-streams

test: venv system-deps
	$(PY) -m ruff check .
	$(PY) -m pytest -q

bench: venv system-deps
	$(PY) bench/run.py

lint: venv
	$(PY) -m ruff check .
