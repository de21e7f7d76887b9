#!/usr/bin/env bash
# Durable batch issuance, side by side with `openssl ca`, and against the key's raw signing rate.
#
#   bench/issue.sh [N] [M] [ROUNDS]
#
# Each round times `lgpki issue --batch` of N staff certificates (ECDSA P-256 software key,
# SQLite WAL synchronous=FULL, every result printed only once durable), then M runs of
# `openssl ca -batch` (one certificate each, signed with the same CA key exported to a plain PEM
# file, no fsync), then the raw signing rate of the same CA key through lgpki's CaSigner on all
# cores (examples/sign_rate.rs). Prints the per-round and median ratios.
source "$(dirname "$0")/lib.sh"
N=${1:-2048}
M=${2:-100}
ROUNDS=${3:-3}
THREADS=${THREADS:-$(nproc)}
build
log "work dir: $WORK"
make_csrs "$WORK/csrs" 64
make_batch "$WORK/csrs" 64 "$N" "$WORK/batch.jsonl"
H=$WORK/home
lgpki_init "$H"
openssl_ca_setup "$WORK/ossl" "$H" organization
OCNF=$WORK/ossl/ca.cnf

ratios=() fractions=() lrates=() orates=() raws=()
for ((r = 1; r <= ROUNDS; r++)); do
    t0=$(now)
    "$LGPKI" --home "$H" --json issue --batch "$WORK/batch.jsonl" >"$WORK/out.jsonl"
    tl=$(elapsed "$t0")
    ok=$(jq -r 'select(.serial) | .serial' "$WORK/out.jsonl" | wc -l)
    [ "$ok" -eq "$N" ] || { log "lgpki issued $ok of $N"; exit 1; }
    t0=$(now)
    for ((i = 0; i < M; i++)); do
        openssl ca -batch -config "$OCNF" -notext -in "$WORK/csrs/csr-$((i % 64)).pem" \
            -out "$WORK/ossl/out.pem" 2>/dev/null
    done
    to=$(elapsed "$t0")
    raw=$("$SIGN_RATE" "$H" organization "$THREADS" 2 | sed -n 's/^signatures_per_second=\([0-9.]*\).*/\1/p')
    lrate=$(div "$N" "$tl" 1)
    orate=$(div "$M" "$to" 1)
    ratio=$(div "$lrate" "$orate" 1)
    frac=$(div "$lrate" "$raw" 2)
    log "round $r: lgpki $lrate certs/s ($N in ${tl}s), openssl ca $orate certs/s ($M in ${to}s), ratio ${ratio}x; raw signing $raw/s ($THREADS threads), issuance/raw $frac"
    ratios+=("$ratio") fractions+=("$frac") lrates+=("$lrate") orates+=("$orate") raws+=("$raw")
done
echo "issue: lgpki $(printf '%s\n' "${lrates[@]}" | median) certs/s, openssl ca $(printf '%s\n' "${orates[@]}" | median) certs/s, raw signing $(printf '%s\n' "${raws[@]}" | median)/s"
echo "issue: ratio lgpki/openssl-ca (median of $ROUNDS) = $(printf '%s\n' "${ratios[@]}" | median)x (goal >= 30)"
echo "issue: issuance/raw signing rate (median of $ROUNDS) = $(printf '%s\n' "${fractions[@]}" | median) (goal >= 0.5)"
