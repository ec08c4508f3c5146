#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: setup, configure, build, test.
# Usage: scripts/test.sh [meson test arguments, e.g. --suite unit]
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
BUILD=${BUILD_DIR:-build}
if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" -Dwerror=true -Dtests=enabled
fi
meson compile -C "$BUILD"
# e2e tests pin their own cores and namespaces; meson runs them one at a time (is_parallel: false).
exec meson test -C "$BUILD" --print-errorlogs "$@"
