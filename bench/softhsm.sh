#!/usr/bin/env bash
# Issuance through SoftHSM2 against SoftHSM2's raw signing rate (goal: >= 70 %).
#
#   bench/softhsm.sh [N] [ROUNDS]
#
# The CA keys are ECDSA P-256 keys in a private SoftHSM2 token (`lgpki init --key-uri`). The raw
# rate is C_Sign on the organization CA's key, one pooled session per thread, on all cores,
# through the same Pkcs11Signer that issuance uses (examples/sign_rate.rs).
source "$(dirname "$0")/lib.sh"
N=${1:-2048}
ROUNDS=${2:-3}
THREADS=${THREADS:-$(nproc)}
build
log "work dir: $WORK"
URI=$(softhsm_token "$WORK/hsm" lgpkibench)
export SOFTHSM2_CONF=$WORK/hsm/softhsm2.conf
make_csrs "$WORK/csrs" 64
make_batch "$WORK/csrs" 64 "$N" "$WORK/batch.jsonl"
H=$WORK/hsm-home
lgpki_init "$H" --key-uri "$URI"
fractions=() lrates=() raws=()
for ((r = 1; r <= ROUNDS; r++)); do
    raw=$("$SIGN_RATE" "$H" organization "$THREADS" 2 | sed -n 's/^signatures_per_second=\([0-9.]*\).*/\1/p')
    t0=$(now)
    "$LGPKI" --home "$H" --json issue --batch "$WORK/batch.jsonl" >"$WORK/out.jsonl"
    tl=$(elapsed "$t0")
    ok=$(jq -r 'select(.serial) | .serial' "$WORK/out.jsonl" | wc -l)
    [ "$ok" -eq "$N" ] || { log "lgpki issued $ok of $N"; exit 1; }
    lrate=$(div "$N" "$tl" 1)
    frac=$(div "$lrate" "$raw" 2)
    log "round $r: SoftHSM2 raw signing $raw/s ($THREADS threads), lgpki issuance $lrate certs/s ($N in ${tl}s), fraction $frac"
    fractions+=("$frac") lrates+=("$lrate") raws+=("$raw")
done
echo "softhsm: lgpki $(printf '%s\n' "${lrates[@]}" | median) certs/s, SoftHSM2 raw signing $(printf '%s\n' "${raws[@]}" | median)/s"
echo "softhsm: issuance/raw signing rate (median of $ROUNDS) = $(printf '%s\n' "${fractions[@]}" | median) (goal >= 0.7)"
