#!/usr/bin/env bash
# RFC 3161 time-stamps per second from serve's POST /tsa under load (wrk at $CONNS connections
# for $D seconds: parse, record the serial durably in the store, sign with the TSA's P-256 key),
# against `openssl ts -reply` as a TSA, one process per token with the same certificate, key and
# request. Both answers are checked with `openssl ts -verify` before timing.
source "$(dirname "$0")/lib.sh"
need wrk wrk
build
D=${D:-10}
CONNS=${CONNS:-16}
N=${N:-200}
HOME_DIR=$WORK/tsa-home
lgpki_init "$HOME_DIR"
echo "benchmark datum $(date +%s)" >"$WORK/t-data.txt"
openssl ts -query -data "$WORK/t-data.txt" -sha256 -cert -out "$WORK/t.tsq" 2>/dev/null
"$LGPKI" --home "$HOME_DIR" ca cert root >"$WORK/t-root.pem"
TSA_CHAIN=$HOME_DIR/tsa/chain.pem
openssl x509 -in "$TSA_CHAIN" -out "$WORK/t-tsa.pem"
PORT=$((20000 + RANDOM % 20000))
"$LGPKI" --home "$HOME_DIR" serve --listen "127.0.0.1:$PORT" --ra-listen 127.0.0.1:0 \
    2>"$WORK/t-serve.log" &
SERVE=$!
trap 'kill $SERVE 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    grep -q "CA certificates on" "$WORK/t-serve.log" && break
    sleep 0.1
done
curl -sf --data-binary "@$WORK/t.tsq" -H 'Content-Type: application/timestamp-query' \
    "http://127.0.0.1:$PORT/tsa" -o "$WORK/t-lgpki.tsr"
openssl ts -verify -data "$WORK/t-data.txt" -in "$WORK/t-lgpki.tsr" -CAfile "$WORK/t-root.pem" \
    -untrusted "$TSA_CHAIN" 2>/dev/null | grep -q 'Verification: OK' \
    || { log "lgpki's token does not verify"; exit 1; }
TSA_REQUEST=$WORK/t.tsq wrk -t2 -c"$CONNS" -d"${D}s" --latency -s "$BENCH_DIR/tsa.lua" \
    "http://127.0.0.1:$PORT/tsa" >"$WORK/wrk-tsa.txt" 2>&1
grep -q '^non-200: 0$' "$WORK/wrk-tsa.txt" || { cat "$WORK/wrk-tsa.txt" >&2; exit 1; }
LRPS=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk-tsa.txt")
P50=$(grep -E '^ +50%' "$WORK/wrk-tsa.txt" | awk '{print $2}')
P99=$(grep -E '^ +99%' "$WORK/wrk-tsa.txt" | awk '{print $2}')
kill $SERVE 2>/dev/null || true
wait $SERVE 2>/dev/null || true
RECORDED=$(python3 - "$HOME_DIR/lgpki.db" <<'PY'
import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("SELECT COUNT(*) FROM timestamps").fetchone()[0])
PY
)
# OpenSSL as the TSA: the same key and certificate, policy and accuracy, a serial file.
POLICY=$(openssl ts -reply -in "$WORK/t-lgpki.tsr" -text 2>/dev/null | awk '/^Policy OID:/ {print $3}')
cat >"$WORK/t-openssl.cnf" <<CNF
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
serial = $WORK/t-serial
signer_digest = sha256
default_policy = $POLICY
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
CNF
echo 01 >"$WORK/t-serial"
reply() {
    openssl ts -reply -config "$WORK/t-openssl.cnf" -queryfile "$WORK/t.tsq" \
        -signer "$WORK/t-tsa.pem" -inkey "$HOME_DIR/tsa/key.pem" -out "$WORK/t-openssl.tsr" 2>/dev/null
}
reply
openssl ts -verify -data "$WORK/t-data.txt" -in "$WORK/t-openssl.tsr" -CAfile "$WORK/t-root.pem" \
    -untrusted "$TSA_CHAIN" 2>/dev/null | grep -q 'Verification: OK' \
    || { log "openssl's token does not verify"; exit 1; }
timed T bash -c "$(declare -f reply); WORK='$WORK' HOME_DIR='$HOME_DIR'; for i in \$(seq $N); do reply; done"
ORPS=$(div "$N" "$T")
echo "tsa: lgpki /tsa $LRPS tokens/s (p50 $P50, p99 $P99 at $CONNS connections, ${D}s;" \
    "$RECORDED serials recorded), openssl ts -reply $ORPS tokens/s (one process each);" \
    "ratio $(div "$LRPS" "$ORPS")x"
