#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time from fresh seeds, in a scratch corpus (never
# the source tree), and prints its final statistics. Exit status: the fuzzer's (non-zero
# on a crash, a sanitizer report or a leak).
#
# Usage: run_fuzzer.sh FUZZER parse|burst SECONDS [more libFuzzer flags]
set -euo pipefail
fuzzer=$1 kind=$2 seconds=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/fulcrum-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 "$here/make_seeds.py" "$kind" "$work/corpus"
# -rss_limit_mb: EAL's --no-huge memory counts as resident; the default 2 GB is too tight.
"$fuzzer" "$work/corpus" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=4096 \
  -artifact_prefix="$work/" "$@" 2>&1 | tail -n 30
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
  for crash in "$work"/crash-* "$work"/leak-* "$work"/oom-* "$work"/timeout-*; do
    [ -e "$crash" ] && { echo "reproducer: $crash"; od -An -tx1 "$crash" | head -n 20; }
  done
fi
exit "$status"
