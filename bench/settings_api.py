"""Settings of the uvicorn that bench/api.py starts: the dev settings (DEBUG off, as in
production) with one more URL on organization hosts (bench/api_urls.py)."""

from config.settings.dev import *  # noqa: F403

ROOT_URLCONF = "bench.api_urls"
