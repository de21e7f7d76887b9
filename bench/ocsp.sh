#!/usr/bin/env bash
# OCSP requests/s: `lgpki serve` vs `openssl ocsp -index`, both driven by wrk with POST at 16
# connections for D seconds (goal: >= 10x). Same CA, same certificates, same request.
#
#   bench/ocsp.sh [N] [D] [ROUNDS]
#
# N certificates are issued (10 % revoked); OpenSSL's index.txt lists the same serials. The
# request asks about one good certificate, without a nonce (RFC 5019 style). The comparison
# runs once per CA key algorithm in KEY_ALGS (default: "rsa-2048 ecdsa-p256" — LGPKI's CAs
# sign with RSA-2048 since the 2014-15 migration; P-256 is lgpki's default for new homes).
source "$(dirname "$0")/lib.sh"
N=${1:-1000}
D=${2:-10}
ROUNDS=${3:-3}
CONNS=${CONNS:-16}
KEY_ALGS=${KEY_ALGS:-rsa-2048 ecdsa-p256}
build
need wrk wrk
need curl curl
log "work dir: $WORK"
LP=${LGPKI_PORT:-18080} OP=${OPENSSL_PORT:-18081}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
check() { # URL: one request answered with a parsable response saying "good"
    for _ in $(seq 50); do
        if curl -sf --data-binary "@$WORK/req.der" -H 'Content-Type: application/ocsp-request' \
            "$1" -o "$WORK/resp.der" 2>/dev/null; then
            openssl ocsp -respin "$WORK/resp.der" -resp_text -noverify 2>/dev/null | grep -q 'Cert Status: good' && return 0
            log "bad OCSP response from $1"; return 1
        fi
        sleep 0.2
    done
    log "no answer from $1"; return 1
}
rps() { # URL NAME -> requests/s (wrk --latency output kept in $WORK/wrk-NAME.txt)
    local out=$WORK/wrk-$2.txt
    wrk -t2 -c"$CONNS" -d"${D}s" --latency -s "$BENCH_DIR/ocsp.lua" "$1" >"$out" 2>&1
    sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$out"
}
# start_openssl DIR: a fresh `openssl ocsp` on $OP, answering once it is up. A fresh process
# per round: OpenSSL 3.0's responder serves one connection at a time and, once wrk closes a
# kept-alive connection at the end of a round, loops on read() returning 0 and never accepts
# again (seen here: 0 req/s from round 2 on, strace shows the loop).
OSSL_PID=
start_openssl() {
    [ -n "$OSSL_PID" ] && { kill "$OSSL_PID" 2>/dev/null || true; wait "$OSSL_PID" 2>/dev/null || true; }
    # wrk also resets connections mid-request; an ignored SIGPIPE stays ignored across exec.
    trap '' PIPE
    openssl ocsp -index "$1/index.txt" -port "$OP" -rsigner "$1/ca.pem" -rkey "$1/ca.key" \
        -CA "$1/ca.pem" -nmin 60 >"$WORK/openssl-ocsp.log" 2>&1 &
    OSSL_PID=$!
    trap - PIPE
    pids+=("$OSSL_PID")
    check "http://127.0.0.1:$OP/ocsp"
}
make_csrs "$WORK/csrs" 64
make_batch "$WORK/csrs" 64 "$N" "$WORK/ocsp-batch.jsonl"
summary=()
for ALG in $KEY_ALGS; do
    H=$WORK/ocsp-home-$ALG
    lgpki_init "$H" --key-alg "$ALG"
    "$LGPKI" --home "$H" --json issue --batch "$WORK/ocsp-batch.jsonl" >"$WORK/ocsp-issued.jsonl"
    awk 'NR % 10 == 0' "$WORK/ocsp-issued.jsonl" | jq -c '{serial, reason: "keyCompromise"}' >"$WORK/ocsp-revoke.jsonl"
    "$LGPKI" --home "$H" --json revoke --batch "$WORK/ocsp-revoke.jsonl" >/dev/null
    O=$WORK/ocsp-ossl-$ALG
    openssl_ca_setup "$O" "$H" organization
    revdate=$(date -u +%y%m%d%H%M%SZ)
    jq -r --arg rd "$revdate" --slurpfile rev <(jq -s 'map(.serial)' "$WORK/ocsp-revoke.jsonl") '
        (.not_after | .[2:4] + .[5:7] + .[8:10] + .[11:13] + .[14:16] + .[17:19] + "Z") as $na
        | if (.serial | IN($rev[0][])) then "R\t\($na)\t\($rd),keyCompromise" else "V\t\($na)\t" end
          + "\t\(.serial | ascii_upcase)\tunknown\t/C=JP/O=LGPKI/OU=bench/CN=bench"' \
        "$WORK/ocsp-issued.jsonl" >"$O/index.txt"
    # Every line has the same subject: tell `openssl ocsp` not to index subjects as unique.
    echo "unique_subject = no" >"$O/index.txt.attr"
    serial=$(sed -n 1p "$WORK/ocsp-issued.jsonl" | jq -r .serial)
    openssl ocsp -issuer "$O/ca.pem" -serial "0x$serial" -no_nonce -reqout "$WORK/req.der" >/dev/null
    export OCSP_REQUEST=$WORK/req.der
    "$LGPKI" --home "$H" serve --listen "127.0.0.1:$LP" >"$WORK/serve.log" 2>&1 &
    SERVE_PID=$!
    pids+=("$SERVE_PID")
    check "http://127.0.0.1:$LP/ocsp"
    ratios=() lr=() orr=()
    for ((r = 1; r <= ROUNDS; r++)); do
        start_openssl "$O"
        l=$(rps "http://127.0.0.1:$LP/ocsp" lgpki)
        o=$(rps "http://127.0.0.1:$OP/ocsp" openssl)
        ratio=$(div "$l" "$o" 1)
        log "$ALG round $r: lgpki serve $l req/s, openssl ocsp $o req/s, ratio ${ratio}x"
        ratios+=("$ratio") lr+=("$l") orr+=("$o")
    done
    kill "$SERVE_PID" "$OSSL_PID" 2>/dev/null || true
    wait "$SERVE_PID" "$OSSL_PID" 2>/dev/null || true
    OSSL_PID=
    summary+=("ocsp ($ALG CA): lgpki serve $(printf '%s\n' "${lr[@]}" | median) req/s, openssl ocsp $(printf '%s\n' "${orr[@]}" | median) req/s ($CONNS connections, ${D}s); lgpki latency: $(grep -E '^ +(50|99)%' "$WORK/wrk-lgpki.txt" | tr -s ' ' | tr '\n' ' ')")
    summary+=("ocsp ($ALG CA): ratio (median of $ROUNDS) = $(printf '%s\n' "${ratios[@]}" | median)x (goal >= 10)")
done
printf '%s\n' "${summary[@]}"
