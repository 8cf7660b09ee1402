# IdeaForge: `make run` to start locally, `make test` to run the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test migrate key password check bench clean

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

install: $(STAMP) ## create the virtualenv and install pinned dependencies

# The embedded default: SQLite, local-memory cache, no broker. DJANGO_DEBUG defaults to true here only.
run: export DJANGO_DEBUG ?= true
run: install ## migrate, create a local admin once, and serve on http://127.0.0.1:8000/
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py ensure_local_admin
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

test: install ## run the whole suite (PYTEST_ARGS="-k name" to narrow it)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

migrate: export DJANGO_DEBUG ?= true
migrate: install
	$(BIN)/python manage.py migrate --noinput

key: install ## print a new credentials encryption key
	@$(BIN)/python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"

password: export DJANGO_DEBUG ?= true
password: install ## set a new password for the local admin
	$(BIN)/python manage.py changepassword admin

check: install
	$(BIN)/python manage.py check --deploy

clean:
	rm -rf $(VENV) .pytest_cache
