#!/usr/bin/env bash
# A CRL of N revocations (default 100,000): `lgpki crl` vs `openssl ca -gencrl`, same CA key,
# same serials, same reasons, both writing PEM.
#
# OpenSSL runs twice per round: with the CA key file exactly as lgpki keeps it (PKCS#8, PBES2
# scrypt + AES-256-CBC, the same passphrase file: both pay the same key derivation — the
# ratio the goal is judged on), and with the key exported in plaintext (which lgpki never
# has; shown for information, it is the lower ratio).
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
# The same encrypted key file, only wrapped in PEM (RFC 7468 §11) for `openssl ca`.
{
    echo "-----BEGIN ENCRYPTED PRIVATE KEY-----"
    base64 -w 64 "$H/keys/organization.p8"
    echo "-----END ENCRYPTED PRIVATE KEY-----"
} >"$O/ca-enc.key"
sed "s|^private_key = .*|private_key = $O/ca-enc.key|" "$O/ca.cnf" >"$O/ca-enc.cnf"

lgpki_crl() { "$LGPKI" --home "$H" crl --ca organization --pem --out "$WORK/lgpki.crl" >/dev/null; }
openssl_crl() { openssl ca -gencrl -config "$O/ca-enc.cnf" -passin "file:$H/passphrase" -out "$WORK/openssl.crl" 2>/dev/null; }
openssl_plain_crl() { openssl ca -gencrl -config "$O/ca.cnf" -out "$WORK/openssl-plain.crl" 2>/dev/null; }
# One untimed run of each first: the store and index.txt are then in the page cache for all.
lgpki_crl; openssl_crl; openssl_plain_crl
ratios=() pratios=() lts=() ots=() pts=()
for ((r = 1; r <= ROUNDS; r++)); do
    timed tl lgpki_crl
    timed to openssl_crl
    timed tp openssl_plain_crl
    ratio=$(div "$to" "$tl" 1) pratio=$(div "$tp" "$tl" 1)
    log "round $r: lgpki crl ${tl}s, openssl ca -gencrl ${to}s (same encrypted key), ${tp}s (plaintext key); ratios ${ratio}x, ${pratio}x"
    ratios+=("$ratio") pratios+=("$pratio") lts+=("$tl") ots+=("$to") pts+=("$tp")
done
for f in lgpki openssl openssl-plain; do
    n=$(openssl crl -in "$WORK/$f.crl" -noout -text | grep -c 'Serial Number:')
    [ "$n" -eq "$N" ] || { log "entries: $f $n, expected $N"; exit 1; }
done
echo "crl: $N entries; lgpki $(printf '%s\n' "${lts[@]}" | median)s ($(stat -c %s "$WORK/lgpki.crl") bytes PEM), openssl $(printf '%s\n' "${ots[@]}" | median)s with the same encrypted key, $(printf '%s\n' "${pts[@]}" | median)s with it in plaintext ($(stat -c %s "$WORK/openssl.crl") bytes PEM)"
echo "crl: ratio openssl/lgpki time, plaintext key for OpenSSL only (median of $ROUNDS) = $(printf '%s\n' "${pratios[@]}" | median)x"
echo "crl: ratio openssl/lgpki time, same encrypted key (median of $ROUNDS) = $(printf '%s\n' "${ratios[@]}" | median)x (goal >= 10)"
