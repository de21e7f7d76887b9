#!/usr/bin/env bash
# Path validation of a 4-certificate chain with CRLs: `lgpki verify` vs `openssl verify
# -crl_check_all`, timed by hyperfine in the same run (process start-up included for both).
#
#   bench/verify.sh [RUNS]
#
# The chain: root -> mid (pathLen 1) -> issuing (pathLen 0, issues `staff`) -> a staff leaf; a
# CRL (or ARL) from each CA. Until `lgpki verify` exists only OpenSSL's time is printed.
source "$(dirname "$0")/lib.sh"
RUNS=${1:-100}
build
need hyperfine hyperfine
log "work dir: $WORK"
H=$WORK/verify-home
lgpki_init "$H"
"$LGPKI" --home "$H" ca create mid --parent root --path-len 1 >/dev/null
"$LGPKI" --home "$H" ca create issuing --parent mid --path-len 0 --profile staff >/dev/null
make_csrs "$WORK/csrs" 1
"$LGPKI" --home "$H" issue --profile staff --ca issuing --csr "$WORK/csrs/csr-0.pem" --out "$WORK/leaf.pem"
V=$WORK/verify; mkdir -p "$V"
for ca in root mid issuing; do
    "$LGPKI" --home "$H" ca cert "$ca" >"$V/$ca.pem"
    "$LGPKI" --home "$H" crl --ca "$ca" --pem --out "$V/$ca.crl"
done
cat "$V/root.crl" "$V/mid.crl" "$V/issuing.crl" >"$V/all.crl"
cat "$V/mid.pem" "$V/issuing.pem" >"$V/untrusted.pem"
OSSL="openssl verify -x509_strict -crl_check_all -CAfile $V/root.pem -untrusted $V/untrusted.pem -CRLfile $V/all.crl $WORK/leaf.pem"
$OSSL >/dev/null
LG="$LGPKI verify $WORK/leaf.pem --trust $V/root.pem --untrusted $V/mid.pem --untrusted $V/issuing.pem --crl $V/root.crl --crl $V/mid.crl --crl $V/issuing.crl"
if ! "$LGPKI" verify --help >/dev/null 2>&1 || ! $LG >/dev/null 2>&1; then
    hyperfine -N --warmup 5 --runs "$RUNS" --export-json "$WORK/verify.json" "$OSSL" >&2
    echo "verify: openssl verify $(jq '.results[0].mean * 1000' "$WORK/verify.json") ms; lgpki verify is not available (or refused the chain) in this build"
    exit 0
fi
hyperfine -N --warmup 5 --runs "$RUNS" --export-json "$WORK/verify.json" "$LG" "$OSSL" >&2
l=$(jq '.results[0].mean' "$WORK/verify.json"); o=$(jq '.results[1].mean' "$WORK/verify.json")
echo "verify: lgpki $(div "$l * 1000" 1 2) ms, openssl $(div "$o * 1000" 1 2) ms, ratio openssl/lgpki = $(div "$o" "$l" 2)x"
