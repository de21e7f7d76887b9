#!/usr/bin/env bash
# Path building through a bag of cross-certificates (issue 12): lgpki's `validate_path`
# (criterion, `cargo bench -p ca-core --bench path_building`) with only the 3 certificates the
# bridge path needs vs with 1,000 more (loops and same-subject decoys), and the JDK's PKIX
# CertPathBuilder (bench/PkixBench.java, in-process after JIT warm-up) on the same files.
#
#   bench/path_building.sh [JDK_ITERATIONS]
#
# Prints lgpki's bag/needed ratio (goal <= 5x) and JDK/lgpki on the full bag (goal > 1).
source "$(dirname "$0")/lib.sh"
N=${1:-200}
need java default-jdk-headless
need bc bc
D=$WORK/path-building
mkdir -p "$D"
log "criterion (writes the bags to $D)"
OUT=$(cd "$ROOT" && PATH_BENCH_DIR=$D cargo bench -q -p ca-core --bench path_building 2>/dev/null)
printf '%s\n' "$OUT" >&2
# criterion's "time: [low mid high]" line after each bench name; the middle value in us.
crit() {
    printf '%s\n' "$OUT" | grep -A1 -F "$1" | grep -o 'time: *\[[^]]*\]' | head -1 |
        awk '{v=$4; u=$5; if (u=="ns") v/=1000; else if (u=="ms") v*=1000; else if (u=="s") v*=1e6; print v}'
}
l_needed=$(crit "needed certificates only")
l_bag=$(crit "+1,000 cross-certificates")
# The JDK's builder may not finish on the full bag (it did not within 20 minutes for one
# build on 2026-12-02): each run is bounded by JDK_TIMEOUT seconds (default 600) and a run cut
# short counts as that long per build.
JDK_TIMEOUT=${JDK_TIMEOUT:-600}
j() {
    local n=$2 out
    if out=$(timeout "$JDK_TIMEOUT" java "$BENCH_DIR/PkixBench.java" "$D/anchors.pem" "$D/$1" "$D/target.pem" 2000000000 "$n"); then
        printf '%s\n' "$out" | cut -d' ' -f1
    else
        log "JDK on $1: no result within ${JDK_TIMEOUT}s"
        echo "$((JDK_TIMEOUT * 1000000))"
    fi
}
j_needed=$(j needed.pem "$N")
j_bag=$(j bag.pem 1)
echo "path building: lgpki ${l_needed} us (needed) / ${l_bag} us (+1,000) = $(div "$l_bag" "$l_needed" 1)x;" \
    "JDK ${j_needed} us / ${j_bag} us = $(div "$j_bag" "$j_needed" 1)x;" \
    "JDK/lgpki on the full bag = $(div "$j_bag" "$l_bag" 1)x"
