#!/usr/bin/env bash
# /validate requests/s for a 3-certificate chain (staff → organization CA → root) with
# revocation checked for every certificate (from serve's store: the cache case), against one
# `openssl verify -crl_check_all` process per validation with the same chain and current CRLs.
# wrk drives /validate at $CONNS connections for $D seconds and reports p50/p99 under load.
source "$(dirname "$0")/lib.sh"
need wrk wrk
build
D=${D:-10}
CONNS=${CONNS:-16}
N=${N:-200}
HOME_DIR=$WORK/validate-home
rm -rf "$HOME_DIR"
"$LGPKI" --home "$HOME_DIR" init >/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
    -utf8 -subj "/C=JP/O=LGPKI/OU=bench/CN=validate" -out "$WORK/v.csr" 2>/dev/null
"$LGPKI" --home "$HOME_DIR" issue --profile staff --csr "$WORK/v.csr" --out "$WORK/v.pem"
"$LGPKI" --home "$HOME_DIR" ca cert root >"$WORK/v-root.pem"
"$LGPKI" --home "$HOME_DIR" ca cert organization >"$WORK/v-org.pem"
"$LGPKI" --home "$HOME_DIR" crl --ca organization --pem --out "$WORK/v-org.crl"
"$LGPKI" --home "$HOME_DIR" crl --ca root --pem --out "$WORK/v-root.crl"
cat "$WORK/v-org.crl" "$WORK/v-root.crl" >"$WORK/v-crls.pem"
jq -n --rawfile c "$WORK/v.pem" --rawfile u "$WORK/v-org.pem" \
    '{certificate: $c, untrusted: [$u]}' >"$WORK/v-req.json"
PORT=$((20000 + RANDOM % 20000))
"$LGPKI" --home "$HOME_DIR" serve --listen "127.0.0.1:$PORT" --ra-listen 127.0.0.1:0 \
    2>"$WORK/v-serve.log" &
SERVE=$!
trap 'kill $SERVE 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    grep -q "CA certificates on" "$WORK/v-serve.log" && break
    sleep 0.1
done
curl_json=$(VALIDATE_REQUEST=$WORK/v-req.json wrk -t1 -c1 -d1s -s "$BENCH_DIR/validate.lua" \
    "http://127.0.0.1:$PORT/validate" 2>&1 | grep -c "Requests/sec" || true)
[ "$curl_json" = 1 ] || { log "wrk warm-up failed"; exit 1; }
# The answer must be a valid path with a store status for both non-anchor certificates.
python3 - "$PORT" "$WORK/v-req.json" <<'PY'
import json, sys, urllib.request
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/validate",
                             data=open(sys.argv[2], "rb").read(), method="POST")
v = json.load(urllib.request.urlopen(req))
assert v["valid"] and [r["source"] for r in v["revocation"]] == ["store", "store"], v
PY
VALIDATE_REQUEST=$WORK/v-req.json wrk -t2 -c"$CONNS" -d"${D}s" --latency \
    -s "$BENCH_DIR/validate.lua" "http://127.0.0.1:$PORT/validate" >"$WORK/wrk-validate.txt" 2>&1
LRPS=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk-validate.txt")
P50=$(grep -E '^ +50%' "$WORK/wrk-validate.txt" | awk '{print $2}')
P99=$(grep -E '^ +99%' "$WORK/wrk-validate.txt" | awk '{print $2}')
kill $SERVE 2>/dev/null || true
# OpenSSL: one process per validation, CRLs for every certificate (-crl_check_all).
openssl verify -crl_check_all -CAfile "$WORK/v-root.pem" -untrusted "$WORK/v-org.pem" \
    -CRLfile "$WORK/v-crls.pem" "$WORK/v.pem" >/dev/null
timed T bash -c "for i in \$(seq $N); do openssl verify -crl_check_all -CAfile '$WORK/v-root.pem' \
    -untrusted '$WORK/v-org.pem' -CRLfile '$WORK/v-crls.pem' '$WORK/v.pem' >/dev/null; done"
ORPS=$(div "$N" "$T")
echo "validate: lgpki /validate $LRPS req/s (p50 $P50, p99 $P99 at $CONNS connections, ${D}s)," \
    "openssl verify -crl_check_all $ORPS validations/s; ratio $(div "$LRPS" "$ORPS")x"
