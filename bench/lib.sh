# Shared helpers for the bench/ scripts (sourced, not run).
# Every measure is a ratio taken side by side with OpenSSL in the same run: absolute times on a
# shared machine mean little, the ratio is what the goals in bench/README.md are about.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
LGPKI=${LGPKI_BIN:-$TARGET_DIR/release/lgpki}
SIGN_RATE=$TARGET_DIR/release/examples/sign_rate
SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
WORK=${BENCH_WORK:-$(mktemp -d /tmp/lgpki-bench.XXXXXX)}
mkdir -p "$WORK"

log() { printf '%s\n' "$*" >&2; }

# need COMMAND DEBIAN-PACKAGE: installs the package if the command is missing.
APT_UPDATED=
need() {
    command -v "$1" >/dev/null 2>&1 && return 0
    if [ -z "$APT_UPDATED" ]; then apt-get update -qq >/dev/null || true; APT_UPDATED=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

# Builds lgpki and the signing-rate probe (release). JOBS defaults to 1: the machine is shared.
build() {
    need openssl openssl
    need jq jq
    need bc bc
    [ -n "${NO_BUILD:-}" ] && return 0
    log "building lgpki (cargo build --release -j${JOBS:-1})"
    (cd "$ROOT" && cargo build --release -j"${JOBS:-1}" -q -p ca-cli -p ca-core --bin lgpki --example sign_rate)
}

now() { echo "$EPOCHREALTIME"; }
# timed VAR COMMAND…: runs COMMAND and sets VAR to its wall time in seconds, read from bash's
# clock around it (no fork between the two readings: for commands of a few tens of ms).
timed() {
    local __var=$1 __a __b
    shift
    __a=$EPOCHREALTIME
    "$@"
    __b=$EPOCHREALTIME
    printf -v "$__var" '%s' "$(echo "$__b - $__a" | bc -l)"
}
# elapsed START: seconds since START (from now()).
elapsed() { echo "$(now) - $1" | bc -l; }
# div A B [SCALE]
div() { echo "scale=${3:-2}; $1 / $2" | bc -l; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# make_csrs DIR K: K distinct P-256 CSRs (staff profile subjects) as DIR/csr-I.pem.
make_csrs() {
    local dir=$1 k=$2 i
    mkdir -p "$dir"
    for ((i = 0; i < k; i++)); do
        [ -f "$dir/csr-$i.pem" ] && continue
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
            -utf8 -subj "/C=JP/O=LGPKI/OU=bench/CN=user$i" -out "$dir/csr-$i.pem" 2>/dev/null
    done
}

# make_batch CSRDIR K N OUT: a JSON Lines batch of N staff requests cycling over K CSRs.
make_batch() {
    local dir=$1 k=$2 n=$3 out=$4 i
    local -a lines=()
    for ((i = 0; i < k; i++)); do
        lines[i]=$(jq -cn --rawfile c "$dir/csr-$i.pem" '{profile: "staff", csr: $c}')
    done
    : >"$out"
    for ((i = 0; i < n; i++)); do printf '%s\n' "${lines[i % k]}"; done >>"$out"
}

# lgpki_init HOME [init args…]: a fresh CA home (software P-256 keys unless told otherwise).
lgpki_init() {
    local home=$1; shift
    rm -rf "$home"
    "$LGPKI" --home "$home" init "$@" >/dev/null
}

# openssl_ca_setup DIR LGPKI_HOME CA: an `openssl ca` directory that signs with the same CA key
# and certificate as lgpki's CA (key exported unencrypted, which only helps OpenSSL), with the
# extensions of the staff profile. unique_subject = no, rand_serial = yes.
openssl_ca_setup() {
    local dir=$1 home=$2 ca=$3
    rm -rf "$dir"; mkdir -p "$dir/newcerts"
    "$LGPKI" --home "$home" ca cert "$ca" >"$dir/ca.pem"
    openssl pkey -inform DER -in "$home/keys/$ca.p8" -passin "file:$home/passphrase" \
        -out "$dir/ca.key" 2>/dev/null || openssl ecparam -name prime256v1 -genkey -noout -out "$dir/ca.key"
    : >"$dir/index.txt"
    echo 1000 >"$dir/crlnumber"
    cat >"$dir/ca.cnf" <<CNF
[ ca ]
default_ca = CA_default
[ CA_default ]
dir = $dir
database = $dir/index.txt
new_certs_dir = $dir/newcerts
certificate = $dir/ca.pem
private_key = $dir/ca.key
crlnumber = $dir/crlnumber
rand_serial = yes
unique_subject = no
default_md = sha256
default_days = 1095
default_crl_days = 7
policy = policy_staff
x509_extensions = staff_ext
crl_extensions = crl_ext
utf8 = yes
string_mask = utf8only
[ policy_staff ]
countryName = supplied
organizationName = supplied
organizationalUnitName = supplied
commonName = supplied
[ staff_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth,emailProtection
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
certificatePolicies = 1.2.392.200091.99.1.1
crlDistributionPoints = URI:http://127.0.0.1:8080/crl/$ca.crl
authorityInfoAccess = OCSP;URI:http://127.0.0.1:8080/ocsp,caIssuers;URI:http://127.0.0.1:8080/ca/$ca.crt
[ crl_ext ]
authorityKeyIdentifier = keyid
CNF
}

# store_bytes HOME: the store's size on disk (database, WAL and shared memory).
store_bytes() { du -cb "$1"/lgpki.db* 2>/dev/null | tail -1 | cut -f1; }

# softhsm_token DIR LABEL: a private SoftHSM2 token (SOFTHSM2_CONF under DIR, exported) with
# the user PIN in DIR/pin (0600); prints the PKCS#11 URI for `lgpki init --key-uri`.
softhsm_token() {
    local dir=$1 label=$2
    need softhsm2-util softhsm2
    rm -rf "$dir"; mkdir -p "$dir/tokens"
    printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
        "$dir/tokens" >"$dir/softhsm2.conf"
    export SOFTHSM2_CONF=$dir/softhsm2.conf
    softhsm2-util --init-token --free --label "$label" --so-pin 12345678 --pin 123456 >/dev/null
    (umask 077; printf 123456 >"$dir/pin")
    echo "pkcs11:token=$label?module-path=$SOFTHSM_MODULE&pin-source=file:$dir/pin"
}
