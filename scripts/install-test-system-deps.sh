#!/usr/bin/env bash
# System packages the tests use: headless Chromium renders the scan report like a browser would.
# Installs only when missing and when we can (root with apt); otherwise that test skips and says why.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium for the report test (apt-get)..." >&2
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 \
    || echo "warning: could not install chromium; the browser test will be skipped" >&2
else
  echo "note: chromium not installed and no root apt; the browser test will be skipped" >&2
fi
