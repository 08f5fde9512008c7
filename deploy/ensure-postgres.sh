#!/usr/bin/env bash
# The integration tests start their own throwaway PostgreSQL cluster from Debian's server binaries.
# Install them when missing (root, Debian); elsewhere say what is missing and let the harness decide.
set -u
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ -n "${TEST_DATABASE_URL:-}" ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing PostgreSQL server binaries (apt-get install postgresql)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null && exit 0
fi
echo "no PostgreSQL server binaries: the PostgreSQL integration tests will not find a database"
