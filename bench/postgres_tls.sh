#!/usr/bin/env bash
# What TLS to PostgreSQL costs batch issuance: the same batch of N staff certificates into a
# home whose store URL says sslmode=verify-full (the server's certificate issued by lgpki
# itself, profile `server`, checked against the application root) and into one that says
# sslmode=disable, on one throwaway PostgreSQL 15 cluster with ssl = on (initdb in WORK, fsync
# and synchronous_commit on, TCP on 127.0.0.1), alternating which goes first, ROUNDS times. A
# fresh database per home and round. The server's log (log_connections) confirms which
# connections used TLS. Prints the median ratio TLS/plain (reported, no goal).
#
#   bench/postgres_tls.sh [N] [ROUNDS]
source "$(dirname "$0")/lib.sh"
N=${1:-4096}
ROUNDS=${2:-3}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
build
[ -x "$PG_BIN/initdb" ] || { log "$PG_BIN/initdb missing: apt-get install postgresql"; exit 1; }
log "work dir: $WORK"
make_csrs "$WORK/csrs" 64
make_batch "$WORK/csrs" 64 "$N" "$WORK/batch.jsonl"

# The database server's certificate, from lgpki's application-server CA.
PKI=$WORK/pki
lgpki_init "$PKI"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/server.key" \
    -subj "/C=JP/O=LGPKI/CN=db.bench.lg.jp" -out "$WORK/server.csr" 2>/dev/null
"$LGPKI" --home "$PKI" issue --profile server --csr "$WORK/server.csr" \
    --san dns:db.bench.lg.jp --san ip:127.0.0.1 --out "$WORK/server.pem" >"$WORK/server-issue.log" 2>&1 || { cat "$WORK/server-issue.log" >&2; exit 1; }
"$LGPKI" --home "$PKI" ca cert application-server --chain >>"$WORK/server.pem"
"$LGPKI" --home "$PKI" ca cert application >"$WORK/root.pem"

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
cp "$WORK/server.pem" "$PGDIR/data/server.crt"
cp "$WORK/server.key" "$PGDIR/data/server.key"
chmod 600 "$PGDIR/data/server.key"
printf "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nlog_connections = on\n" \
    >>"$PGDIR/data/postgresql.conf"
[ "$(id -u)" = 0 ] && chown -R postgres "$PGDIR"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$PG_BIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w \
    -o "-p $PORT -k $PGDIR/sock -c listen_addresses=127.0.0.1" start >/dev/null
trap 'as_pg "$PG_BIN/pg_ctl" -D "$PGDIR/data" -m fast -w stop >/dev/null 2>&1' EXIT
psql_pg() { PGOPTIONS="-c client_min_messages=warning" as_pg "$PG_BIN/psql" -X -q -h "$PGDIR/sock" -p "$PORT" -U lgpki -d postgres "$@"; }

HT=$WORK/home-tls
HD=$WORK/home-plain
TLS_Q="sslmode=verify-full&sslrootcert=$WORK/root.pem"
run() { # HOME OUT: seconds for the batch
    local t0
    t0=$(now)
    "$LGPKI" --home "$1" --json issue --batch "$WORK/batch.jsonl" >"$2"
    elapsed "$t0"
}
ratios=() trates=() drates=()
for ((r = 1; r <= ROUNDS; r++)); do
    psql_pg -c "DROP DATABASE IF EXISTS tls$r" -c "CREATE DATABASE tls$r" \
        -c "DROP DATABASE IF EXISTS plain$r" -c "CREATE DATABASE plain$r"
    lgpki_init "$HT" --store "postgres://lgpki@127.0.0.1:$PORT/tls$r?$TLS_Q"
    lgpki_init "$HD" --store "postgres://lgpki@127.0.0.1:$PORT/plain$r?sslmode=disable"
    if ((r % 2)); then
        tt=$(run "$HT" "$WORK/out-t.jsonl"); td=$(run "$HD" "$WORK/out-d.jsonl")
    else
        td=$(run "$HD" "$WORK/out-d.jsonl"); tt=$(run "$HT" "$WORK/out-t.jsonl")
    fi
    for f in out-t out-d; do
        ok=$(jq -r 'select(.serial) | .serial' "$WORK/$f.jsonl" | wc -l)
        [ "$ok" -eq "$N" ] || { log "$f: issued $ok of $N"; exit 1; }
    done
    # The server's word: every connection to tlsR used TLS, none to plainR did.
    grep "connection authorized" "$PGDIR/log" | grep -q "database=tls$r" ||
        { log "no connection to tls$r in the server's log"; exit 1; }
    grep "connection authorized" "$PGDIR/log" | grep "database=tls$r" | grep -qv "SSL enabled" &&
        { log "a connection to tls$r without TLS"; exit 1; }
    grep "connection authorized" "$PGDIR/log" | grep "database=plain$r" | grep -q "SSL enabled" &&
        { log "a connection to plain$r with TLS"; exit 1; }
    trate=$(div "$N" "$tt" 1)
    drate=$(div "$N" "$td" 1)
    ratio=$(div "$trate" "$drate" 2)
    log "round $r: TLS (verify-full) $trate certs/s, plain $drate certs/s, ratio $ratio"
    ratios+=("$ratio") trates+=("$trate") drates+=("$drate")
done
echo "postgres_tls: batch issuance over TLS (verify-full) $(printf '%s\n' "${trates[@]}" | median) certs/s, plain $(printf '%s\n' "${drates[@]}" | median) certs/s"
echo "postgres_tls: ratio TLS/plain (median of $ROUNDS) = $(printf '%s\n' "${ratios[@]}" | median) (reported)"
