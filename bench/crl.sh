#!/usr/bin/env bash
# A CRL of N revocations (default 100,000): `lgpki crl` vs `openssl ca -gencrl`, same CA key,
# same serials, same reasons, both writing PEM.
#
#   bench/crl.sh [N] [ROUNDS]
#
# Setting up issues N certificates with `lgpki issue --batch` and revokes them all with
# `lgpki revoke --batch` (both timed, for information); OpenSSL gets an index.txt listing the
# same serials as revoked. With BENCH_WORK=DIR the set-up is kept and reused across runs.
source "$(dirname "$0")/lib.sh"
N=${1:-100000}
ROUNDS=${2:-3}
build
log "work dir: $WORK"
H=$WORK/crl-home-$N
if [ ! -f "$H/.bench-ready" ]; then
    make_csrs "$WORK/csrs" 64
    make_batch "$WORK/csrs" 64 "$N" "$WORK/crl-batch.jsonl"
    lgpki_init "$H"
    t0=$(now)
    "$LGPKI" --home "$H" --json issue --batch "$WORK/crl-batch.jsonl" >"$WORK/crl-issued.jsonl"
    log "set-up: issued $N in $(elapsed "$t0")s"
    jq -c '{serial, reason: "keyCompromise"}' "$WORK/crl-issued.jsonl" >"$WORK/crl-revoke.jsonl"
    t0=$(now)
    "$LGPKI" --home "$H" --json revoke --batch "$WORK/crl-revoke.jsonl" >/dev/null
    log "set-up: revoked $N in $(elapsed "$t0")s"
    touch "$H/.bench-ready"
fi
O=$WORK/crl-ossl-$N
openssl_ca_setup "$O" "$H" organization
revdate=$(date -u +%y%m%d%H%M%SZ)
jq -r --arg rd "$revdate" '
    (.not_after | .[2:4] + .[5:7] + .[8:10] + .[11:13] + .[14:16] + .[17:19] + "Z") as $na
    | "R\t\($na)\t\($rd),keyCompromise\t\(.serial | ascii_upcase)\tunknown\t/C=JP/O=LGPKI/OU=bench/CN=bench"' \
    "$WORK/crl-issued.jsonl" >"$O/index.txt"

ratios=() lts=() ots=()
for ((r = 1; r <= ROUNDS; r++)); do
    t0=$(now)
    "$LGPKI" --home "$H" crl --ca organization --pem --out "$WORK/lgpki.crl"
    tl=$(elapsed "$t0")
    t0=$(now)
    openssl ca -gencrl -config "$O/ca.cnf" -out "$WORK/openssl.crl" 2>/dev/null
    to=$(elapsed "$t0")
    ratio=$(div "$to" "$tl" 1)
    log "round $r: lgpki crl ${tl}s, openssl ca -gencrl ${to}s, ratio ${ratio}x"
    ratios+=("$ratio") lts+=("$tl") ots+=("$to")
done
nl=$(openssl crl -in "$WORK/lgpki.crl" -noout -text | grep -c 'Serial Number:')
no=$(openssl crl -in "$WORK/openssl.crl" -noout -text | grep -c 'Serial Number:')
[ "$nl" -eq "$N" ] && [ "$no" -eq "$N" ] || { log "entries: lgpki $nl, openssl $no, expected $N"; exit 1; }
echo "crl: $N entries; lgpki $(printf '%s\n' "${lts[@]}" | median)s ($(stat -c %s "$WORK/lgpki.crl") bytes PEM), openssl $(printf '%s\n' "${ots[@]}" | median)s ($(stat -c %s "$WORK/openssl.crl") bytes PEM)"
echo "crl: ratio openssl/lgpki time (median of $ROUNDS) = $(printf '%s\n' "${ratios[@]}" | median)x (goal >= 10)"
