#!/usr/bin/env bash
# The fault-injection tests (tests/chaos) run one process with its clock shifted, through libfaketime
# (LD_PRELOAD), to show that clock skew between processes reorders nothing. Install Debian's faketime
# when missing (root, Debian); elsewhere say what is missing and let the harness decide (skip, or fail
# on CI).
set -u
for lib in /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 /usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1; do
  [ -e "$lib" ] && exit 0
done
[ -n "${TEST_LIBFAKETIME:-}" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing libfaketime for the clock-skew test (apt-get install faketime)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null && exit 0
fi
echo "no libfaketime: the clock-skew test will not find it"
