#!/usr/bin/env bash
# Debian's Chromium for the browser tests (tests/browser/), installed with apt-get when
# /usr/bin/chromium is missing. Playwright drives this binary; its own browser download
# (`playwright install`) is never used. Idempotent: does nothing when Chromium is there.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "Chromium is missing at $CHROMIUM and apt-get is not available:" >&2
    echo "install Debian's (or your distribution's) chromium package." >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
# A fresh image has no package lists; an existing list may be stale (404 on install).
if ! $SUDO apt-get install -y --no-install-recommends chromium; then
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends chromium
fi

"$CHROMIUM" --version
