#!/usr/bin/env bash
# Durable batch issuance on PostgreSQL against SQLite, in the same run: the same batch of N
# staff certificates (ECDSA P-256 software key) into a home on SQLite (WAL, synchronous=FULL)
# and into a home on a throwaway PostgreSQL 15 cluster (initdb in WORK, fsync and
# synchronous_commit on, over TCP on 127.0.0.1), alternating, ROUNDS times. Prints the
# certs/s of each and the median ratio PostgreSQL/SQLite (goal >= 0.5). Then two instances
# (two homes of one CA on one database) each issue half the batch at once, against one
# instance issuing all of it: the ratio of their throughputs (reported, no goal).
#
#   bench/postgres.sh [N] [ROUNDS]
#
# Runs as root like CI: the cluster runs as the postgres user (runuser).
source "$(dirname "$0")/lib.sh"
N=${1:-4096}
ROUNDS=${2:-3}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
build
[ -x "$PG_BIN/initdb" ] || { log "$PG_BIN/initdb missing: apt-get install postgresql"; exit 1; }
log "work dir: $WORK"
make_csrs "$WORK/csrs" 64
make_batch "$WORK/csrs" 64 "$N" "$WORK/batch.jsonl"

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
trap 'as_pg "$PG_BIN/pg_ctl" -D "$PGDIR/data" -m fast -w stop >/dev/null 2>&1' EXIT

HS=$WORK/home-sqlite
HP=$WORK/home-pg
lgpki_init "$HS"
ratios=() srates=() prates=()
for ((r = 1; r <= ROUNDS; r++)); do
    # A fresh database per round, as the SQLite home grows by N per round too.
    PGOPTIONS="-c client_min_messages=warning" as_pg "$PG_BIN/psql" -X -q -h "$PGDIR/sock" -p "$PORT" -U lgpki -d postgres \
        -c "DROP DATABASE IF EXISTS bench$r" -c "CREATE DATABASE bench$r"
    lgpki_init "$HP" --store "postgres://lgpki@127.0.0.1:$PORT/bench$r"
    t0=$(now)
    "$LGPKI" --home "$HS" --json issue --batch "$WORK/batch.jsonl" >"$WORK/out-s.jsonl"
    ts=$(elapsed "$t0")
    t0=$(now)
    "$LGPKI" --home "$HP" --json issue --batch "$WORK/batch.jsonl" >"$WORK/out-p.jsonl"
    tp=$(elapsed "$t0")
    for f in out-s out-p; do
        ok=$(jq -r 'select(.serial) | .serial' "$WORK/$f.jsonl" | wc -l)
        [ "$ok" -eq "$N" ] || { log "$f: issued $ok of $N"; exit 1; }
    done
    srate=$(div "$N" "$ts" 1)
    prate=$(div "$N" "$tp" 1)
    ratio=$(div "$prate" "$srate" 2)
    log "round $r: SQLite $srate certs/s ($N in ${ts}s), PostgreSQL $prate certs/s ($N in ${tp}s), ratio $ratio"
    ratios+=("$ratio") srates+=("$srate") prates+=("$prate")
done
# Two instances vs one, on a fresh database.
PGOPTIONS="-c client_min_messages=warning" as_pg "$PG_BIN/psql" -X -q -h "$PGDIR/sock" -p "$PORT" -U lgpki -d postgres \
    -c "DROP DATABASE IF EXISTS bench_two" -c "CREATE DATABASE bench_two"
lgpki_init "$HP" --store "postgres://lgpki@127.0.0.1:$PORT/bench_two"
rm -rf "$HP-b"; cp -a "$HP" "$HP-b"
half=$((N / 2))
head -n "$half" "$WORK/batch.jsonl" >"$WORK/half-a.jsonl"
tail -n "$half" "$WORK/batch.jsonl" >"$WORK/half-b.jsonl"
two=() one=()
for ((r = 1; r <= ROUNDS; r++)); do
    t0=$(now)
    "$LGPKI" --home "$HP" --json issue --batch "$WORK/batch.jsonl" >"$WORK/out-1.jsonl"
    t1=$(elapsed "$t0")
    t0=$(now)
    "$LGPKI" --home "$HP" --json issue --batch "$WORK/half-a.jsonl" >"$WORK/out-a.jsonl" &
    pa=$!
    "$LGPKI" --home "$HP-b" --json issue --batch "$WORK/half-b.jsonl" >"$WORK/out-b.jsonl"
    wait "$pa"
    t2=$(elapsed "$t0")
    ok=$(cat "$WORK/out-a.jsonl" "$WORK/out-b.jsonl" | jq -r 'select(.serial) | .serial' | sort -u | wc -l)
    [ "$ok" -eq $((2 * half)) ] || { log "two instances issued $ok of $((2 * half))"; exit 1; }
    r1=$(div "$N" "$t1" 1)
    r2=$(div $((2 * half)) "$t2" 1)
    log "round $r: one instance $r1 certs/s, two instances $r2 certs/s together"
    one+=("$r1") two+=("$(div "$r2" "$r1" 2)")
done
echo "postgres: batch issuance SQLite $(printf '%s\n' "${srates[@]}" | median) certs/s, PostgreSQL $(printf '%s\n' "${prates[@]}" | median) certs/s"
echo "postgres: ratio PostgreSQL/SQLite (median of $ROUNDS) = $(printf '%s\n' "${ratios[@]}" | median) (goal >= 0.5)"
echo "postgres: two instances vs one on PostgreSQL (median of $ROUNDS) = $(printf '%s\n' "${two[@]}" | median) (one instance $(printf '%s\n' "${one[@]}" | median) certs/s; $(nproc) cores shared by both and the server)"
