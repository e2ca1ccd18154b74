# One command to run the platform (make dev), one to test it (make test).
SHELL := /bin/bash
PY := .venv/bin/python
UV := python3 -m uv

.PHONY: install dev test test-fast lint format migrations-check services-stop clean

install: .venv/.installed

.venv/.installed: pyproject.toml uv.lock
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

dev: install
	$(PY) infra/dev.py

test: install lint migrations-check
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -x -q

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: install
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

migrations-check: install
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) manage.py makemigrations --check --dry-run

services-stop:
	$(PY) infra/services.py stop

clean:
	rm -rf .venv staticfiles
