#!/usr/bin/env bash
# Issuance rate with S certificates already stored (default 100,000) over the rate on an empty
# store (goal: >= 0.8). The two stores are measured alternately in each round so that machine
# noise hits both alike; the "empty" one only ever holds the few batches measured on it.
#
#   bench/store_growth.sh [S] [N] [ROUNDS]
source "$(dirname "$0")/lib.sh"
S=${1:-100000}
N=${2:-2048}
ROUNDS=${3:-3}
build
log "work dir: $WORK"
make_csrs "$WORK/csrs" 64
make_batch "$WORK/csrs" 64 "$N" "$WORK/batch.jsonl"
FULL=$WORK/full-$S
if [ ! -f "$FULL/.bench-ready" ]; then
    make_batch "$WORK/csrs" 64 "$S" "$WORK/fill.jsonl"
    lgpki_init "$FULL"
    t0=$(now)
    "$LGPKI" --home "$FULL" --json issue --batch "$WORK/fill.jsonl" >/dev/null
    log "filled $S in $(elapsed "$t0")s"
    touch "$FULL/.bench-ready"
fi
EMPTY=$WORK/empty
lgpki_init "$EMPTY"
ratios=() ers=() frs=()
for ((r = 1; r <= ROUNDS; r++)); do
    t0=$(now); "$LGPKI" --home "$EMPTY" --json issue --batch "$WORK/batch.jsonl" >/dev/null; te=$(elapsed "$t0")
    t0=$(now); "$LGPKI" --home "$FULL" --json issue --batch "$WORK/batch.jsonl" >/dev/null; tf=$(elapsed "$t0")
    er=$(div "$N" "$te" 1); fr=$(div "$N" "$tf" 1); ratio=$(div "$fr" "$er" 2)
    log "round $r: empty store $er certs/s, $S stored $fr certs/s, ratio $ratio"
    ratios+=("$ratio") ers+=("$er") frs+=("$fr")
done
echo "store_growth: empty $(printf '%s\n' "${ers[@]}" | median) certs/s, with $S stored $(printf '%s\n' "${frs[@]}" | median) certs/s"
echo "store_growth: ratio (median of $ROUNDS) = $(printf '%s\n' "${ratios[@]}" | median) (goal >= 0.8)"
