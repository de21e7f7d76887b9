#!/usr/bin/env bash
# Every comparison in one run, one after the other (never in parallel: they would measure each
# other), each under a header with the time; the ratios bench/README.md records come from here.
#
#   bench/all.sh > bench/results/run-$(date -u +%H%M).txt
#
# With BENCH_WORK=DIR the slow set-ups (100,000-certificate stores) are kept for the next run.
set -uo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# Build once, then let every script skip it.
(source "$BENCH_DIR/lib.sh" && build) || exit 1
export NO_BUILD=1
status=0
for run in "issue.sh 4096 100 3" "crl.sh 100000 7" "store_growth.sh 100000 4096 5" \
    "softhsm.sh 4096 3" "ocsp.sh 1000 10 3" "verify.sh 50" "tsa.sh"; do
    echo "=== bench/$run ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
    # shellcheck disable=SC2086 # the arguments are meant to split
    bash "$BENCH_DIR"/$run 2>&1 | grep -v '^full CRL' || status=1
done
exit "$status"
