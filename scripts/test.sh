#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: setup, configure, build, test.
# Usage: scripts/test.sh [meson test arguments, e.g. --suite unit]
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
BUILD=${BUILD_DIR:-build}
FUZZ_BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" -Dwerror=true -Dtests=enabled
fi
meson compile -C "$BUILD"

# The fuzz suite lives in a clang build with ASan and UBSan (tests/fuzz/meson.build). It runs
# with the whole suite, or when asked for (--suite fuzz); other selections skip it.
want_main=1 want_fuzz=0
if [ $# -eq 0 ]; then
  want_fuzz=1
elif [ "$*" = "--suite fuzz" ]; then
  want_main=0 want_fuzz=1
fi

rc=0
if [ "$want_main" = 1 ]; then
  # e2e and attack tests pin their own cores and namespaces; meson runs them one at a time
  # (is_parallel: false).
  meson test -C "$BUILD" --print-errorlogs "$@" || rc=$?
fi
if [ "$want_fuzz" = 1 ]; then
  if [ ! -f "$FUZZ_BUILD/build.ninja" ]; then
    CC=clang CXX=clang++ meson setup "$FUZZ_BUILD" -Dfuzzing=enabled -Dtests=enabled \
      -Db_sanitize=address,undefined -Db_lundef=false
  fi
  meson compile -C "$FUZZ_BUILD" tests/fuzz/fuzz_parse_frame tests/fuzz/fuzz_burst
  meson test -C "$FUZZ_BUILD" --no-rebuild --suite fuzz --print-errorlogs || rc=$?
fi
exit "$rc"
