#!/usr/bin/env bash
# The browser tests drive the system Chromium through Playwright; `playwright install` is never used
# (it downloads its own build and fails on a closed network). Install Debian's chromium when missing
# (root, Debian); elsewhere say what is missing and let the harness decide (skip, or fail on CI).
set -u
if [ -x /usr/bin/chromium ] || [ -x /usr/bin/chromium-headless-shell ] || [ -n "${TEST_CHROMIUM:-}" ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Chromium for the browser tests (apt-get install chromium)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null && exit 0
fi
echo "no Chromium (/usr/bin/chromium or /usr/bin/chromium-headless-shell): the browser tests will not find a browser"
