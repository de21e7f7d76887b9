#!/usr/bin/env bash
# OCSP requests/s from `lgpki serve` on PostgreSQL against `lgpki serve` on SQLite, in the same
# run (goal: ratio >= 0.9 on the pre-produced path). Two homes with the same batch of N staff
# certificates (ECDSA P-256 CA), one on SQLite, one on a throwaway PostgreSQL 15 cluster (initdb
# in WORK, over TCP on 127.0.0.1); wrk POSTs one request without a nonce (RFC 5019 style) at
# CONNS connections for D seconds, alternating, ROUNDS times. After the first answer the
# response is pre-produced (cached until a revocation or its refresh), so this measures what
# the store costs on the path relying parties hit.
#
#   bench/postgres_ocsp.sh [N] [D] [ROUNDS]
source "$(dirname "$0")/lib.sh"
N=${1:-1000}
D=${2:-10}
ROUNDS=${3:-3}
CONNS=${CONNS:-16}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
build
need wrk wrk
need curl curl
[ -x "$PG_BIN/initdb" ] || { log "$PG_BIN/initdb missing: apt-get install postgresql"; exit 1; }
log "work dir: $WORK"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
PGDIR=$WORK/pg
rm -rf "$PGDIR"; mkdir -p "$PGDIR/sock"
chmod 755 "$WORK"
PGPASSWORD=$(openssl rand -hex 12)
export PGPASSWORD
printf '%s' "$PGPASSWORD" >"$WORK/pgpw"
[ "$(id -u)" = 0 ] && chown -R postgres "$PGDIR" "$WORK/pgpw"
as_pg "$PG_BIN/initdb" -D "$PGDIR/data" -U lgpki --auth=scram-sha-256 --pwfile="$WORK/pgpw" -E UTF8 >/dev/null
rm -f "$WORK/pgpw"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$PG_BIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w \
    -o "-p $PORT -k $PGDIR/sock -c listen_addresses=127.0.0.1" start >/dev/null
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    as_pg "$PG_BIN/pg_ctl" -D "$PGDIR/data" -m fast -w stop >/dev/null 2>&1
}
trap cleanup EXIT
as_pg "$PG_BIN/psql" -X -q -h "$PGDIR/sock" -p "$PORT" -U lgpki -d postgres -c "CREATE DATABASE ocsp"

make_csrs "$WORK/csrs" 64
make_batch "$WORK/csrs" 64 "$N" "$WORK/batch.jsonl"
HS=$WORK/home-sqlite
HP=$WORK/home-pg
lgpki_init "$HS"
lgpki_init "$HP" --store "postgres://lgpki@127.0.0.1:$PORT/ocsp"
for H in "$HS" "$HP"; do
    "$LGPKI" --home "$H" --json issue --batch "$WORK/batch.jsonl" >"$H.issued.jsonl"
done
SP=${SQLITE_PORT:-18180} PP=${PG_PORT:-18181}
# One request per home (its own CA key): the first good certificate.
req() { # HOME OUT
    "$LGPKI" --home "$1" ca cert organization >"$1.org.pem"
    openssl ocsp -issuer "$1.org.pem" -serial "0x$(sed -n 1p "$1.issued.jsonl" | jq -r .serial)" \
        -no_nonce -reqout "$2" >/dev/null
}
req "$HS" "$WORK/req-s.der"
req "$HP" "$WORK/req-p.der"
"$LGPKI" --home "$HS" serve --listen "127.0.0.1:$SP" --ra-listen 127.0.0.1:0 >"$WORK/serve-s.log" 2>&1 &
pids+=($!)
"$LGPKI" --home "$HP" serve --listen "127.0.0.1:$PP" --ra-listen 127.0.0.1:0 >"$WORK/serve-p.log" 2>&1 &
pids+=($!)
check() { # URL REQ
    for _ in $(seq 100); do
        if curl -sf --data-binary "@$2" -H 'Content-Type: application/ocsp-request' "$1" -o "$WORK/resp.der" 2>/dev/null; then
            openssl ocsp -respin "$WORK/resp.der" -resp_text -noverify 2>/dev/null | grep -q 'Cert Status: good' && return 0
            log "bad OCSP response from $1"; return 1
        fi
        sleep 0.2
    done
    log "no answer from $1"; return 1
}
check "http://127.0.0.1:$SP/ocsp" "$WORK/req-s.der"
check "http://127.0.0.1:$PP/ocsp" "$WORK/req-p.der"
rps() { # URL REQ NAME
    local out=$WORK/wrk-$3.txt
    OCSP_REQUEST=$2 wrk -t2 -c"$CONNS" -d"${D}s" --latency -s "$BENCH_DIR/ocsp.lua" "$1" >"$out" 2>&1
    sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$out"
}
ratios=() sr=() pr=()
for ((r = 1; r <= ROUNDS; r++)); do
    s=$(rps "http://127.0.0.1:$SP/ocsp" "$WORK/req-s.der" sqlite)
    p=$(rps "http://127.0.0.1:$PP/ocsp" "$WORK/req-p.der" pg)
    ratio=$(div "$p" "$s" 2)
    log "round $r: SQLite $s req/s, PostgreSQL $p req/s, ratio $ratio"
    ratios+=("$ratio") sr+=("$s") pr+=("$p")
done
echo "postgres_ocsp: serve on SQLite $(printf '%s\n' "${sr[@]}" | median) req/s, on PostgreSQL $(printf '%s\n' "${pr[@]}" | median) req/s ($CONNS connections, ${D}s, pre-produced answers)"
echo "postgres_ocsp: ratio PostgreSQL/SQLite (median of $ROUNDS) = $(printf '%s\n' "${ratios[@]}" | median) (goal >= 0.9)"
