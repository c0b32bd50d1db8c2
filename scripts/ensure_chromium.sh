#!/usr/bin/env bash
# Make sure Debian's Chromium is installed for the browser tests (tests/test_browser.py drives it through
# Playwright's Python package; `playwright install` is never used: no browser download at run time).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
echo "Chromium is not installed; installing Debian's chromium package for the browser tests" >&2
sudo=()
if [ "$(id -u)" != 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "error: the browser tests need /usr/bin/chromium: apt-get install chromium (as root)" >&2
    exit 1
  fi
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq chromium >/dev/null
test -x /usr/bin/chromium
