#!/usr/bin/env bash
# Scale check: issue N certificates (default 1,000,000) in batches of B, revoke 10 % of them,
# and report the issuance rate per batch (is it flat?), the store's size on disk, the CRL's size
# and generation time, and (once `lgpki serve` exists) OCSP latency p50/p99 under wrk.
#
#   bench/scale.sh [N] [B]
#
# Per-batch figures go to $WORK/scale-issue.tsv; the summary to stdout.
source "$(dirname "$0")/lib.sh"
N=${1:-1000000}
B=${2:-10000}
[ "$B" -gt "$N" ] && B=$N
build
log "work dir: $WORK"
make_csrs "$WORK/csrs" 64
make_batch "$WORK/csrs" 64 "$B" "$WORK/scale-batch.jsonl"
H=$WORK/scale-home
lgpki_init "$H"
: >"$WORK/scale-serials.txt"
TSV=$WORK/scale-issue.tsv
printf 'batch\tissued_total\tseconds\tcerts_per_s\tstore_bytes\n' >"$TSV"
batches=$(((N + B - 1) / B))
total=0
t_all=$(now)
for ((b = 1; b <= batches; b++)); do
    n=$B
    [ $((total + n)) -gt "$N" ] && n=$((N - total))
    [ "$n" -ne "$B" ] && head -n "$n" "$WORK/scale-batch.jsonl" >"$WORK/scale-last.jsonl"
    f=$WORK/scale-batch.jsonl; [ "$n" -ne "$B" ] && f=$WORK/scale-last.jsonl
    t0=$(now)
    "$LGPKI" --home "$H" --json issue --batch "$f" | jq -r 'select(.serial) | .serial' >>"$WORK/scale-serials.txt"
    t=$(elapsed "$t0")
    total=$((total + n))
    rate=$(div "$n" "$t" 1)
    printf '%d\t%d\t%.3f\t%s\t%d\n' "$b" "$total" "$t" "$rate" "$(store_bytes "$H")" >>"$TSV"
    log "batch $b/$batches: $total issued, $rate certs/s"
done
t_issue=$(elapsed "$t_all")
got=$(wc -l <"$WORK/scale-serials.txt")
[ "$got" -eq "$N" ] || { log "issued $got of $N"; exit 1; }
# Flatness: the mean rate of the last fifth of the batches over the first fifth.
k=$(((batches + 4) / 5))
first=$(awk -F'\t' -v k="$k" 'NR > 1 && NR <= k + 1 {s += $4; c++} END {print s / c}' "$TSV")
last=$(awk -F'\t' -v k="$k" -v b="$batches" 'NR > 1 && NR > b + 1 - k {s += $4; c++} END {print s / c}' "$TSV")
min=$(awk -F'\t' 'NR > 1 {print $4}' "$TSV" | sort -g | head -1)
max=$(awk -F'\t' 'NR > 1 {print $4}' "$TSV" | sort -g | tail -1)
bytes=$(store_bytes "$H")
echo "scale: issued $N in $batches batches of $B in ${t_issue}s ($(div "$N" "$t_issue" 1) certs/s overall)"
echo "scale: per-batch rate first fifth $first, last fifth $last certs/s (last/first $(div "$last" "$first" 2)); min $min, max $max"
echo "scale: store $bytes bytes on disk ($(div "$bytes" "$N" 0) bytes per certificate)"
# Revoke every 10th certificate, in revoke --batch runs of B lines.
awk 'NR % 10 == 0 {print "{\"serial\":\"" $0 "\",\"reason\":\"keyCompromise\"}"}' "$WORK/scale-serials.txt" >"$WORK/scale-revoke.jsonl"
R=$(wc -l <"$WORK/scale-revoke.jsonl")
split -l "$B" -d -a 4 "$WORK/scale-revoke.jsonl" "$WORK/scale-revoke-part-"
t0=$(now)
for part in "$WORK"/scale-revoke-part-*; do
    "$LGPKI" --home "$H" --json revoke --batch "$part" >/dev/null
done
t_rev=$(elapsed "$t0")
echo "scale: revoked $R in ${t_rev}s ($(div "$R" "$t_rev" 1) revocations/s)"
t0=$(now)
"$LGPKI" --home "$H" crl --ca organization --out "$WORK/scale.crl"
t_crl=$(elapsed "$t0")
entries=$(openssl crl -inform DER -in "$WORK/scale.crl" -noout -text | grep -c 'Serial Number:')
echo "scale: CRL of $entries entries: $(stat -c %s "$WORK/scale.crl") bytes DER, generated in ${t_crl}s"
echo "scale: store $(store_bytes "$H") bytes on disk after revocations"
if "$LGPKI" serve --help >/dev/null 2>&1; then
    need wrk wrk
    need curl curl
    "$LGPKI" --home "$H" ca cert organization >"$WORK/scale-ca.pem"
    first=$(sed -n 1p "$WORK/scale-serials.txt")
    # Two requests: without a nonce (RFC 5019; answered from the pre-produced responses) and
    # with one (OpenSSL's default; looked up in the store and signed every time).
    openssl ocsp -issuer "$WORK/scale-ca.pem" -serial "0x$first" -no_nonce \
        -reqout "$WORK/scale-req.der" >/dev/null
    openssl ocsp -issuer "$WORK/scale-ca.pem" -serial "0x$first" \
        -reqout "$WORK/scale-req-nonce.der" >/dev/null
    P=${LGPKI_PORT:-18090}
    "$LGPKI" --home "$H" serve --listen "127.0.0.1:$P" >"$WORK/scale-serve.log" 2>&1 &
    spid=$!
    trap 'kill $spid 2>/dev/null || true' EXIT
    for _ in $(seq 50); do
        curl -sf --data-binary "@$WORK/scale-req.der" -H 'Content-Type: application/ocsp-request' \
            "http://127.0.0.1:$P/ocsp" -o /dev/null && break
        sleep 0.2
    done
    for kind in req req-nonce; do
        OCSP_REQUEST=$WORK/scale-$kind.der wrk -t2 -c16 -d10s --latency -s "$BENCH_DIR/ocsp.lua" \
            "http://127.0.0.1:$P/ocsp" >"$WORK/scale-wrk-$kind.txt" 2>&1
        label=$([ "$kind" = req ] && echo "without nonce (pre-produced)" || echo "with nonce (signed each time)")
        echo "scale: OCSP $label: $(sed -n 's/^Requests\/sec: *//p' "$WORK/scale-wrk-$kind.txt") req/s; latency $(grep -E '^ +(50|99)%' "$WORK/scale-wrk-$kind.txt" | tr -s ' ' | tr '\n' ' ')"
    done
else
    echo "scale: OCSP latency not measured: lgpki serve is not available in this build"
fi
echo "scale: per-batch figures in $TSV"
