"""Browser tests (Playwright + Debian Chromium) against the running platform."""
