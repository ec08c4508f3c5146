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
# libFuzzer leaves with _Exit(), so the harness's destructors never remove what the test rig
# made under the fuzzer's pid (shared-memory regions, the EAL runtime directory): done here.
status=0
"$fuzzer" "$work/corpus" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=4096 \
  -artifact_prefix="$work/" "$@" >"$work/log" 2>&1 &
pid=$!
wait "$pid" || status=$?
tail -n 30 "$work/log"
rm -rf /dev/shm/fulcrum-fixture-"$pid"-* "/var/run/dpdk/fulcrum-test-$pid"
if [ "$status" -ne 0 ]; then
  for crash in "$work"/crash-* "$work"/leak-* "$work"/oom-* "$work"/timeout-*; do
    [ -e "$crash" ] && { echo "reproducer: $crash"; od -An -tx1 "$crash" | head -n 20; }
  done
fi
exit "$status"
