# One command to run the platform (make dev), one to test it (make test).
SHELL := /bin/bash
PY := .venv/bin/python
UV := python3 -m uv

.PHONY: install dev frontend frontend-test test test-fast lint format migrations-check deadcode browser services-stop clean citus-check

install: .venv/.installed

.venv/.installed: pyproject.toml uv.lock
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

dev: install frontend
	$(PY) infra/dev.py

# The dashboard (frontend/): `npm ci` when the lock file changed, the API types
# regenerated from the server's OpenAPI schema (an API change the app no longer fits
# fails here, at type-check), then Vite's build into frontend/dist, which Django serves,
# then the unit tests (Vitest: frontend/src/**/*.test.tsx).
# Rebuilt only when the app's sources or the API's code changed.
FRONTEND_MODULES := frontend/node_modules/.package-lock.json
FRONTEND_SOURCES := $(shell find frontend/src frontend/scripts -type f ! -name schema.d.ts 2>/dev/null) \
	frontend/index.html frontend/vite.config.ts frontend/tsconfig.json frontend/package.json
API_SOURCES := $(wildcard */api/*.py */api/*/*.py */*/api/*.py */*/views.py config/urls*.py)

# Vitest's pass is kept as a stamp: it runs again when the dashboard was rebuilt.
FRONTEND_TESTED := frontend/node_modules/.vitest-passed

frontend: install frontend/dist/index.html $(FRONTEND_TESTED)

$(FRONTEND_MODULES): frontend/package-lock.json
	@command -v npm >/dev/null || { echo "make frontend needs Node.js 20+ and npm (https://nodejs.org)"; exit 1; }
	@# npm ci checks that the lock file lists every platform's optional packages (rollup's
	@# and esbuild's native builds); this machine's registry serves only the Linux ones (the
	@# others are 404), so no lock file made here can list them and npm ci refuses it. Then
	@# install exactly the locked versions (integrity-checked) without rewriting the lock.
	cd frontend && (npm ci --no-audit --no-fund 2>/dev/null || { \
		echo "npm ci refused the lock file (other platforms' packages); installing its versions"; \
		npm install --no-save --no-audit --no-fund; })
	@touch $@

frontend/dist/index.html: $(FRONTEND_MODULES) $(FRONTEND_SOURCES) $(API_SOURCES) .venv/.installed
	cd frontend && PYTHON=$(CURDIR)/$(PY) npm run --silent gen:api && npm run --silent build

$(FRONTEND_TESTED): frontend/dist/index.html
	cd frontend && npm run --silent test
	@touch $@

frontend-test: $(FRONTEND_TESTED)

# pytest-xdist: PYTEST_WORKERS processes, each with a test database, Redis key space and
# Celery worker of its own; `--dist loadgroup` keeps the browser tests, the fault bed and
# the PostgreSQL outage each on one worker (docs/testing.md). Three on two cores: the
# fault and outage tests spend most of their time waiting for a recovery. Bytecode caches
# are written even where PYTHONDONTWRITEBYTECODE is set: every worker and every server the
# tests start (uvicorn, Celery, manage.py) would otherwise compile the same sources again.
PYTEST_WORKERS ?= 3
# pytest needs the built dashboard and Chromium (the browser tests, the runtime image
# check): they come first. Lint, the migrations check and Vitest need nothing pytest
# makes: they run beside it, niced (pytest's workers come first when the cores are
# busy; the checks take what the beds leave idle while they wait), their output
# printed once pytest ends. The exit status is pytest's, or the checks' when pytest
# passed: any failure fails `make test`.
test: install
	$(MAKE) --no-print-directory -j2 frontend/dist/index.html browser
	@checks=$$(mktemp); \
	nice -n 10 $(MAKE) --no-print-directory -j3 --output-sync=target \
		lint migrations-check frontend-test >$$checks 2>&1 & checks_pid=$$!; \
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup; \
	tests=$$?; \
	wait $$checks_pid; checked=$$?; \
	echo "== lint, migrations check, Vitest (run beside pytest) =="; \
	cat $$checks; rm -f $$checks; \
	if [ $$checked -ne 0 ]; then echo "make test: lint, the migrations check or Vitest failed"; fi; \
	if [ $$tests -ne 0 ]; then exit $$tests; fi; \
	exit $$checked

test-fast: install
	$(PY) -m pytest -x -q

lint: install $(FRONTEND_MODULES)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports --no-cache
	$(PY) infra/check_deploy.py
	cd frontend && npx --no-install eslint . --max-warnings 0
	cd frontend && npx --no-install prettier --check --log-level warn .

format: install $(FRONTEND_MODULES)
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .
	cd frontend && npx --no-install prettier --write --log-level warn .

# Functions nothing calls (vulture). Django finds views, admin and commands by name, so
# only unused functions are listed; review them, they are not all dead.
deadcode: install
	.venv/bin/vulture core config users audit billing assistants files knowledge_base chat \
		integrations workflows prompts --min-confidence 60 --exclude "*/migrations/*,*/tests/*" \
		| grep "unused function" || true

migrations-check: install
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) manage.py makemigrations --check --dry-run

# Debian's Chromium for the browser tests (tests/browser/); apt-get when it is missing.
browser:
	bash infra/install_browser.sh

# The platform on a real Citus cluster (coordinator + two workers, schema-based sharding):
# docs/scale-out.md. Not part of `make test`: the first run builds Citus (~10 minutes).
citus-check: install
	$(PY) infra/citus_check.py

services-stop:
	$(PY) infra/services.py stop

clean:
	rm -rf .venv staticfiles

# The browser extension as a zip (also served at /downloads/browser-extension.zip).
extension: install
	mkdir -p dist && $(PY) -m integrations.extension dist/browser-extension.zip
.PHONY: extension
