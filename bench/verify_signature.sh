#!/usr/bin/env bash
# CMS signature verification: `lgpki verify-signature` vs `openssl cms -verify`, per call, timed
# by hyperfine in the same run (process start-up included for both).
#
#   bench/verify_signature.sh [RUNS]
#
# The document (64 KiB) is signed by `openssl cms -sign -cades` with an official-position
# (職責) P-256 certificate that lgpki issued, attached, DER; both verifiers get the same trust
# anchor (the LGPKI root; the organization CA comes in the SignedData), and the CRLs of the
# organization and root CAs (`openssl cms -verify -crl_check_all`, CRLs in its -CAfile; `lgpki … --crl`).
source "$(dirname "$0")/lib.sh"
RUNS=${1:-100}
build
need hyperfine hyperfine
log "work dir: $WORK"
H=$WORK/sig-home
lgpki_init "$H"
S=$WORK/sig; mkdir -p "$S"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$S/signer.key" \
    -utf8 -subj "/C=JP/O=LGPKI/OU=bench/CN=mayor" -out "$S/signer.csr" 2>/dev/null
"$LGPKI" --home "$H" issue --profile official-position --csr "$S/signer.csr" --out "$S/signer.pem" >/dev/null
"$LGPKI" --home "$H" ca cert root >"$S/root.pem"
"$LGPKI" --home "$H" ca cert organization >"$S/org.pem"
for ca in root organization; do
    "$LGPKI" --home "$H" crl --ca "$ca" --pem --out "$S/$ca.crl" >/dev/null
done
# openssl cms has no -CRLfile: its -CAfile is read for certificates and CRLs alike.
cat "$S/root.pem" "$S/root.crl" "$S/organization.crl" >"$S/root+crls.pem"
head -c 65536 /dev/urandom >"$S/doc.bin"
openssl cms -sign -binary -nodetach -cades -md sha256 -in "$S/doc.bin" -signer "$S/signer.pem" \
    -inkey "$S/signer.key" -certfile "$S/org.pem" -outform DER -out "$S/doc.p7"
OSSL="openssl cms -verify -binary -inform DER -in $S/doc.p7 -CAfile $S/root+crls.pem -crl_check_all -out /dev/null"
LG="$LGPKI verify-signature $S/doc.p7 --trust $S/root.pem --crl $S/root.crl --crl $S/organization.crl"
$OSSL 2>/dev/null || { log "openssl cms -verify refused the signature"; exit 1; }
$LG >/dev/null || { log "lgpki verify-signature refused the signature"; exit 1; }
hyperfine -N --warmup 5 --runs "$RUNS" --export-json "$WORK/verify_signature.json" "$LG" "$OSSL" >&2
l=$(jq '.results[0].mean' "$WORK/verify_signature.json"); o=$(jq '.results[1].mean' "$WORK/verify_signature.json")
echo "verify-signature: lgpki $(div 1 "$l" 0)/s ($(div "$l * 1000" 1 2) ms), openssl cms -verify $(div 1 "$o" 0)/s ($(div "$o * 1000" 1 2) ms), ratio openssl/lgpki = $(div "$o" "$l" 2)x"
