# IdeaForge: `make run` to start locally, `make test` to run the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run serve loadtest test lint format migrate key password check bench demo clean

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

install: $(STAMP) ## create the virtualenv and install pinned dependencies

# The embedded default: SQLite, local-memory cache, no broker. DJANGO_DEBUG defaults to true here only.
# Served by uvicorn (ASGI, reloading on code changes) so the Forge streams as in production:
# `runserver` is WSGI and would send each answer in one piece.
run: export DJANGO_DEBUG ?= true
run: install ## migrate, create a local admin once, and serve on http://127.0.0.1:8000/
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py ensure_local_admin --url http://$(HOST):$(PORT)/
	$(BIN)/uvicorn ideaforge.asgi:application --reload --loop uvloop --http httptools --host $(HOST) --port $(PORT)

# The production-like stack (docs/deployment.md): gunicorn with WEB_WORKERS uvicorn workers, a
# Celery worker and beat, Redis (REDIS_URL, or a local redis-server started and stopped with it).
# Ctrl-C stops everything it started. Set the production variables (.env) to run it as production.
WEB_WORKERS ?= 2
serve: export DJANGO_DEBUG ?= true
serve: install ## production-like: ASGI workers + Celery worker + beat + Redis on http://127.0.0.1:8000/
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py ensure_local_admin --url http://$(HOST):$(PORT)/
	$(BIN)/python ops/stack.py --host $(HOST) --port $(PORT) --workers $(WEB_WORKERS)

test: install ## run the whole suite (PYTEST_ARGS="-k name" to narrow it)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The whole app against a local AI Gateway simulator (no real credentials): the simulator runs in
# the background on DEMO_GATEWAY_PORT and stops with the app (Ctrl-C). It streams realistic canned
# answers per agent, one word every DEMO_CHUNK_DELAY_MS.
DEMO_GATEWAY_PORT ?= 8765
DEMO_CHUNK_DELAY_MS ?= 30
DEMO_GATEWAY_URL := http://127.0.0.1:$(DEMO_GATEWAY_PORT)
demo: export DJANGO_DEBUG ?= true
demo: install ## `make run` with the AI Gateway pointed at a local simulator (sign in, open /forge/)
	$(BIN)/python manage.py providers_gateway_simulator --port $(DEMO_GATEWAY_PORT) --chunk-delay-ms $(DEMO_CHUNK_DELAY_MS) --answers canned & sim=$$!; \
	trap 'kill $$sim 2>/dev/null' EXIT INT TERM; \
	AI_GATEWAY_ENABLED=true AI_GATEWAY_BASE_URL=$(DEMO_GATEWAY_URL)/v1 AI_GATEWAY_TOKEN_URL=$(DEMO_GATEWAY_URL)/oauth/token \
	AI_GATEWAY_CLIENT_ID=sim-client AI_GATEWAY_CLIENT_SECRET=sim-secret AI_GATEWAY_DEFAULT_MODEL=sim-standard \
	AI_GATEWAY_FAST_MODEL=sim-fast AI_GATEWAY_STANDARD_MODEL=sim-standard AI_GATEWAY_PREMIUM_MODEL=sim-premium \
	$(MAKE) --no-print-directory run

lint: install ## ruff (lint + format check) and import-linter (the layout's dependency rules)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Bounded in time and count, loopback only; stops everything it starts. LOADTEST_ARGS=--quick for 30 s.
loadtest: install ## the load + fault run on the production-like stack; writes docs/benchmarks.md
	$(BIN)/python bench/loadtest.py $(LOADTEST_ARGS)

bench: install ## gateway client and agents benchmarks; write docs/benchmarks.md (BENCH_ARGS=--quick for a smoke run)
	$(BIN)/python bench/run.py $(BENCH_ARGS)
	$(BIN)/python bench/agents_bench.py $(BENCH_ARGS)
	$(BIN)/python bench/http_bench.py $(BENCH_ARGS)

migrate: export DJANGO_DEBUG ?= true
migrate: install
	$(BIN)/python manage.py migrate --noinput

key: install ## print a new credentials encryption key
	@$(BIN)/python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"

password: export DJANGO_DEBUG ?= true
password: install ## set a new password for the local admin
	$(BIN)/python manage.py changepassword admin

check: install
	$(BIN)/python manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) .pytest_cache
