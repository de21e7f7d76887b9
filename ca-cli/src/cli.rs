//! The command-line grammar (clap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// lgpki: certificate authority for the Local Government PKI (地方公共団体組織認証基盤).
///
/// Exit codes: 0 success or valid; 1 refused or invalid (policy, lint, validation, revoked);
/// 2 usage or input error.
#[derive(Debug, Parser)]
#[command(name = "lgpki", version, max_term_width = 100)]
pub struct Cli {
    /// The CA's home directory [default: $LGPKI_HOME, else ./lgpki-data].
    #[arg(
        long,
        global = true,
        env = "LGPKI_HOME",
        default_value = "lgpki-data",
        hide_env_values = true,
        hide_default_value = true,
        value_name = "DIR"
    )]
    pub home: PathBuf,
    /// One JSON object per result on stdout (JSON Lines for lists); errors also as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// File holding the passphrase that encrypts software CA keys [default: $LGPKI_PASSPHRASE,
    /// else HOME/passphrase].
    #[arg(long, global = true, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// The store: `sqlite` (HOME/lgpki.db) or `postgres://USER@HOST:PORT/DB`, shared by several
    /// instances [default: $LGPKI_STORE, else what `init --store` recorded in HOME, else sqlite].
    /// The password comes from PGPASSWORD or ~/.pgpass; it is never recorded or logged.
    #[arg(
        long,
        global = true,
        env = "LGPKI_STORE",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub store: Option<String>,
    /// Run the command against a running `lgpki serve` RA API (HTTPS with mutual TLS).
    #[arg(
        long,
        global = true,
        help_heading = "Remote (--server)",
        value_name = "URL"
    )]
    pub server: Option<String>,
    /// Client certificate (PEM) for --server; it decides who is acting.
    #[arg(
        long,
        global = true,
        help_heading = "Remote (--server)",
        value_name = "FILE"
    )]
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PKCS#8 or SEC1 PEM) for --server.
    #[arg(
        long,
        global = true,
        help_heading = "Remote (--server)",
        value_name = "FILE"
    )]
    pub client_key: Option<PathBuf>,
    /// CA certificate(s) (PEM) that the server's certificate must chain to, for --server.
    #[arg(
        long,
        global = true,
        help_heading = "Remote (--server)",
        value_name = "FILE"
    )]
    pub server_ca: Option<PathBuf>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the store and the default LGPKI hierarchy from policies/.
    Init(InitArgs),
    /// The certificate authorities.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Certificate profiles and their rules.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Issue a certificate from a CSR, or many with --batch.
    Issue(IssueArgs),
    /// Issued certificates.
    #[command(subcommand)]
    Cert(CertCommand),
    /// The tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Revoke a certificate, or many with --batch.
    Revoke(RevokeArgs),
    /// A certificate's revocation status: good, revoked or unknown.
    Status {
        /// Serial number (hex).
        #[arg(long)]
        serial: String,
        /// The issuing CA.
        #[arg(long)]
        ca: Option<String>,
    },
    /// Write CA certificates, current CRLs and a revocation-status snapshot for relying
    /// parties and ocsp-responder (a new signed release, switched in atomically), and/or the
    /// CAs' entries in an LDAP repository (RFC 4523). Each key generation of a CA that still
    /// publishes gets its own CRL and ARL, signed with its key: crl/NAME.crl (generation 1) and
    /// crl/NAME.gN.crl (generation N), arl/ likewise.
    Publish(PublishArgs),
    /// Local governments (団体) by their 6-digit 団体コード.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Registration officers (登録分局).
    #[command(subcommand)]
    Officer(OfficerCommand),
    /// Certificate requests awaiting approval.
    #[command(subcommand)]
    Request(RequestCommand),
    /// Ask for the revocation of one of your organisation's certificates.
    RevokeRequest {
        /// Serial number (hex).
        #[arg(long)]
        serial: String,
        /// RFC 5280 reason name.
        #[arg(long)]
        reason: String,
    },
    /// Release a certificateHold: the certificate is good again and appears as removeFromCRL in
    /// the next delta CRL (RFC 5280 §5.3.1). Remotely: an approver of the organisation.
    Unhold {
        /// Serial number (hex).
        #[arg(long)]
        serial: String,
    },
    /// Shell completions on stdout (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// The man page (roff) on stdout.
    Man,
    /// Run the CA service: OCSP, CRLs, CA certificates over HTTP; the RA API over mutual TLS.
    ///
    /// The HTTP port (--listen) serves OCSP (POST / and /ocsp, GET /ocsp/{base64}), CRLs
    /// (/crl/NAME.crl, signed by the CA's first key; /crl/NAME.gN.crl by its key generation N
    /// after `ca renew`; ARLs likewise under /arl/), CA certificates (/ca/NAME.crt), POST /validate (the validation
    /// service, JSON), POST /tsa (RFC 3161 time-stamping: application/timestamp-query in,
    /// application/timestamp-reply out, signed with the TSA certificate kept in HOME/tsa;
    /// accuracy from [tsa] in HOME/lgpki.toml), /healthz and /metrics.
    Serve(ServeArgs),
    /// The settings of this home (HOME/lgpki.toml).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Issue a cross-certificate from CA NAME to another CA (e.g. the GPKI bridge CA), or
    /// import one issued to us (`cross-certify import FILE`).
    CrossCertify(CrossArgs),
    /// RFC 5280 path validation with path building (exit 0 valid, 1 invalid, 2 input error).
    Verify(VerifyArgs),
    /// Sign a fresh full (or delta) CRL.
    Crl {
        /// The CA.
        #[arg(long)]
        ca: String,
        /// A delta CRL against the newest full CRL.
        #[arg(long)]
        delta: bool,
        /// The CA's authority revocation list (ARL): its revoked CA and cross-certificates,
        /// onlyContainsCACerts (RFC 5280 §5.2.5).
        #[arg(long, conflicts_with = "delta")]
        arl: bool,
        /// Write PEM instead of DER.
        #[arg(long)]
        pem: bool,
        /// Where to write it.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Sign with this key generation of the CA (`ca list`; default: the one in force). A
        /// renewed CA's old key signs CRLs (and ARLs) until the certificates it signed have
        /// expired, plus one CRL validity period (RFC 5280 §3.3). Each generation's list names
        /// its own distribution point: BASE/crl/NAME.crl for generation 1, BASE/crl/NAME.gN.crl
        /// for generation N (ARLs: BASE/arl/…), the URL the certificates that key signed give.
        #[arg(long, value_name = "N")]
        generation: Option<u32>,
    },
    /// Verify a CMS (RFC 5652) signature: signed attributes, the signature, a signature
    /// time-stamp, the signer's path and its revocation at the signing time (exit 0 valid, 1
    /// invalid, 2 malformed).
    VerifySignature(VerifySignatureArgs),
    /// Add an RFC 3161 signature time-stamp token (id-aa-signatureTimeStampToken) from a TSA to
    /// every signer of a CMS signature, so that it can be judged at that time later.
    TimestampSignature(TimestampSignatureArgs),
    /// Sanitisation receipts (無害化証明): signed, time-stamped statements binding an original
    /// file, its verified signature and the sanitised copy.
    #[command(subcommand)]
    Receipt(ReceiptCommand),
    /// The store itself: move it to another database (`store migrate --to URL`).
    #[command(subcommand)]
    Store(StoreCommand),
    /// Write a consistent backup of the whole store to FILE (also while `serve` runs): one
    /// snapshot of every table, in lgpki's portable format (restorable on SQLite or
    /// PostgreSQL). CA keys are not in it: back up HOME/keys (or the token) separately.
    Backup {
        /// Where to write it (0600; replaced only once the backup is complete).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Restore a backup into the home's store: the file is checked end to end first (a
    /// damaged file changes nothing), then loaded in one transaction and checked again (row
    /// counts, digests, the audit chain). A store holding data is refused without --force.
    Restore {
        /// The backup file (`lgpki backup --out FILE`).
        file: PathBuf,
        /// Replace a store that holds data (stop every `serve` on it first).
        #[arg(long)]
        force: bool,
    },
}

/// `store …`.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy the whole store into the empty store URL (`sqlite`: HOME/lgpki.db, or
    /// `postgres://USER@HOST:PORT/DB`), check the copy (row counts, every row's digest, the
    /// audit chain), then switch the home to it. Stop every `serve` on the home first.
    Migrate {
        /// The new store.
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

/// Revocation and trust inputs shared by `verify-signature` and `receipt`.
#[derive(Debug, Args)]
pub struct SignatureTrustArgs {
    /// Trust anchors for the signer and for TSAs (PEM with one or several certificates, or
    /// DER; repeatable).
    #[arg(long, value_name = "FILE", required = true)]
    pub trust: Vec<PathBuf>,
    /// Intermediate and cross-certificates to build paths from (repeatable).
    #[arg(long, value_name = "FILE")]
    pub untrusted: Vec<PathBuf>,
    /// CRLs (full or delta) to check revocation with (repeatable).
    #[arg(long, value_name = "FILE")]
    pub crl: Vec<PathBuf>,
    /// Fetch CRLs (cRLDistributionPoints) and, failing them, OCSP (AIA) over HTTP.
    #[arg(long)]
    pub fetch: bool,
    /// The verification time instead of now (RFC 3339): revocation data must be current then.
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
}

/// `verify-signature`.
#[derive(Debug, Args)]
pub struct VerifySignatureArgs {
    /// The CMS SignedData (DER, or PEM `CMS`/`PKCS7`), attached or detached.
    pub file: PathBuf,
    /// The signed file, for a detached signature.
    #[arg(long, value_name = "FILE")]
    pub content: Option<PathBuf>,
    /// initial-policy-set OID for the signer's path (repeatable; default anyPolicy).
    #[arg(long = "policy", value_name = "OID")]
    pub policies: Vec<String>,
    /// Trust and revocation.
    #[command(flatten)]
    pub trust: SignatureTrustArgs,
}

/// `timestamp-signature`.
#[derive(Debug, Args)]
pub struct TimestampSignatureArgs {
    /// The CMS SignedData (DER or PEM).
    pub file: PathBuf,
    /// The TSA's URL (HTTP POST application/timestamp-query, RFC 3161 §3.4).
    #[arg(long, value_name = "URL")]
    pub tsa: String,
    /// Where to write the time-stamped signature (DER).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// `receipt …`.
#[derive(Debug, Subcommand)]
pub enum ReceiptCommand {
    /// At the sanitising gateway: verify the original's signature, then sign and time-stamp a
    /// receipt binding it to the sanitised file (refused, exit 1 and nothing written, when the
    /// signature is invalid or its signer revoked).
    Create(ReceiptCreateArgs),
    /// On the LGWAN side: check a receipt's signature path and time-stamp, and that the
    /// sanitised file is the one it names; then print what the original signature said.
    Verify(ReceiptVerifyArgs),
}

/// `receipt create`.
#[derive(Debug, Args)]
pub struct ReceiptCreateArgs {
    /// The original file as received: the signed content, or the CMS with its content.
    #[arg(long, value_name = "FILE")]
    pub original: PathBuf,
    /// The sanitised file.
    #[arg(long, value_name = "FILE")]
    pub sanitised: PathBuf,
    /// A detached CMS signature over --original.
    #[arg(long, value_name = "FILE")]
    pub signature: Option<PathBuf>,
    /// The gateway's private key (unencrypted PKCS#8, PEM or DER; readable by the gateway only).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "key_uri",
        conflicts_with = "key_uri"
    )]
    pub key: Option<PathBuf>,
    /// The gateway's key in a PKCS#11 token (RFC 7512 URI with module-path and pin-source).
    #[arg(long, value_name = "URI")]
    pub key_uri: Option<String>,
    /// The gateway's `sanitiser` certificate, then its chain (PEM).
    #[arg(long, value_name = "FILE")]
    pub cert: PathBuf,
    /// initial-policy-set OID for the original signer's path (repeatable; default anyPolicy).
    #[arg(long = "policy", value_name = "OID")]
    pub policies: Vec<String>,
    /// The TSA that time-stamps the receipt (HTTP POST application/timestamp-query).
    #[arg(long, value_name = "URL")]
    pub tsa: Option<String>,
    /// Where to write the receipt (DER CMS SignedData).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Trust and revocation.
    #[command(flatten)]
    pub trust: SignatureTrustArgs,
}

/// `receipt verify`.
#[derive(Debug, Args)]
pub struct ReceiptVerifyArgs {
    /// The receipt (DER or PEM CMS).
    pub receipt: PathBuf,
    /// The sanitised file it must name.
    #[arg(long, value_name = "FILE")]
    pub sanitised: PathBuf,
    /// Trust and revocation.
    #[command(flatten)]
    pub trust: SignatureTrustArgs,
}

/// `revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// Serial number (hex).
    #[arg(long, required_unless_present = "batch", conflicts_with = "batch")]
    pub serial: Option<String>,
    /// RFC 5280 reason: unspecified, keyCompromise, cACompromise, affiliationChanged,
    /// superseded, cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise.
    #[arg(long, required_unless_present = "batch", conflicts_with = "batch")]
    pub reason: Option<String>,
    /// The issuing CA.
    #[arg(long)]
    pub ca: Option<String>,
    /// invalidityDate (RFC 3339): when the key is known or suspected to have been compromised.
    #[arg(long, value_name = "RFC3339")]
    pub invalidity_date: Option<String>,
    /// JSON Lines of {"serial", "reason", "ca"?, "invalidity_date"?}.
    #[arg(long, value_name = "FILE")]
    pub batch: Option<PathBuf>,
}

/// `audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain end to end (the store's log, or an exported copy with --file); for
    /// the store, also every checkpoint signed with the audit key (a log cut short or rewritten
    /// up to a checkpoint fails).
    Verify {
        /// An exported log (JSON Lines) to check offline.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// List the records (time, actor, action, target, outcome).
    List,
    /// Export the log as JSON Lines.
    Export {
        /// Where to write it.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

/// Key algorithms on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum KeyAlg {
    /// ECDSA P-256 with SHA-256.
    #[value(name = "ecdsa-p256")]
    EcdsaP256,
    /// ECDSA P-384 with SHA-384.
    #[value(name = "ecdsa-p384")]
    EcdsaP384,
    /// RSA-2048 with SHA-256.
    #[value(name = "rsa-2048")]
    Rsa2048,
    /// RSA-3072 with SHA-384.
    #[value(name = "rsa-3072")]
    Rsa3072,
    /// RSA-4096 with SHA-384.
    #[value(name = "rsa-4096")]
    Rsa4096,
}

impl From<KeyAlg> for ca_core::KeyAlgorithm {
    fn from(k: KeyAlg) -> Self {
        match k {
            KeyAlg::EcdsaP256 => ca_core::KeyAlgorithm::EcdsaP256,
            KeyAlg::EcdsaP384 => ca_core::KeyAlgorithm::EcdsaP384,
            KeyAlg::Rsa2048 => ca_core::KeyAlgorithm::Rsa2048,
            KeyAlg::Rsa3072 => ca_core::KeyAlgorithm::Rsa3072,
            KeyAlg::Rsa4096 => ca_core::KeyAlgorithm::Rsa4096,
        }
    }
}

/// `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Key algorithm of the CA keys.
    #[arg(long, value_enum, default_value = "ecdsa-p256")]
    pub key_alg: KeyAlg,
    /// Put every CA key in this PKCS#11 token (RFC 7512 URI).
    #[arg(long, value_name = "URI")]
    pub key_uri: Option<String>,
    /// Where OCSP/CRL/CA-certificate URLs in issued certificates point.
    #[arg(long, value_name = "URL", default_value = ca_core::DEFAULT_BASE_URL)]
    pub base_url: String,
    /// Read profiles and hierarchy from this directory instead of the built-in policies/.
    #[arg(long, value_name = "DIR")]
    pub policies: Option<PathBuf>,
}

/// `ca …`.
#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// List the CAs.
    List,
    /// Print a CA's certificate (PEM).
    Cert {
        /// The CA.
        name: String,
        /// Also print the certificates up to the root.
        #[arg(long)]
        chain: bool,
        /// Print every cross-certificate issued to or by the CA instead (its stored pairs,
        /// RFC 4523 crossCertificatePair).
        #[arg(long, conflicts_with_all = ["chain", "links"])]
        cross: bool,
        /// Print the CA's link certificates instead (RFC 4210 §4.4: OldWithNew, NewWithOld
        /// of each renewal), oldest first.
        #[arg(long, conflicts_with = "chain")]
        links: bool,
    },
    /// Create a subordinate CA.
    Create(CaCreateArgs),
    /// A new key generation for a CA: a new key and certificate (self-signed CAs also get the
    /// link certificates OldWithNew and NewWithOld; a subordinate CA is re-issued by its
    /// parent; cross-certificates lgpki issued to or by it are re-issued, in the same
    /// transaction). Issuance switches to the new key at once; the old key keeps signing CRLs
    /// (`crl --generation N`, served and published at its own URL) until what it signed has
    /// expired. What generation N (N ≥ 2) signs names the distribution point
    /// BASE/crl/NAME.gN.crl; generation 1 keeps BASE/crl/NAME.crl.
    Renew(CaRenewArgs),
}

/// `ca renew`.
#[derive(Debug, Args)]
pub struct CaRenewArgs {
    /// The CA.
    pub name: String,
    /// Key algorithm of the new key [default: the current key's].
    #[arg(long, value_enum)]
    pub key_alg: Option<KeyAlg>,
    /// Generate the new key in this PKCS#11 token (RFC 7512 URI) [default: where the current
    /// key is].
    #[arg(long, value_name = "URI")]
    pub key_uri: Option<String>,
    /// Validity of the new CA certificate in days (1 to 36500; clamped to the parent's)
    /// [default: the current certificate's].
    #[arg(long, value_name = "N")]
    pub days: Option<u32>,
}

/// `ca create`.
#[derive(Debug, Args)]
pub struct CaCreateArgs {
    /// The new CA's name (letters, digits, '-', '_').
    pub name: String,
    /// The CA that signs its certificate.
    #[arg(long)]
    pub parent: String,
    /// Key algorithm.
    #[arg(long, value_enum, default_value = "ecdsa-p256")]
    pub key_alg: KeyAlg,
    /// Generate the key in this PKCS#11 token (RFC 7512 URI).
    #[arg(long, value_name = "URI")]
    pub key_uri: Option<String>,
    /// pathLenConstraint.
    #[arg(long, value_name = "N")]
    pub path_len: Option<u8>,
    /// Subject DN [default: CN=LGPKI NAME CA,O=LGPKI,C=JP].
    #[arg(long, value_name = "DN")]
    pub subject: Option<String>,
    /// Validity in days (clamped to the parent's).
    #[arg(long, default_value_t = 3650)]
    pub days: u32,
    /// Profiles this CA issues (with `issue --ca NAME`).
    #[arg(long = "profile", value_name = "P")]
    pub profiles: Vec<String>,
}

/// `profile …`.
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// List the profiles.
    List,
    /// Show one profile's rules.
    Show {
        /// Profile name.
        name: String,
    },
}

/// `issue`.
#[derive(Debug, Args)]
pub struct IssueArgs {
    /// Profile name.
    #[arg(long, required_unless_present = "batch", conflicts_with = "batch")]
    pub profile: Option<String>,
    /// The CSR (PEM or DER).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "batch",
        conflicts_with = "batch"
    )]
    pub csr: Option<PathBuf>,
    /// Issuing CA [default: the CA bound to the profile].
    #[arg(long, value_name = "NAME")]
    pub ca: Option<String>,
    /// Subject DN, replacing the CSR's: RFC 4514 ("CN=山田太郎,OU=総務部,OU=千代田区,O=LGPKI,C=JP")
    /// or OpenSSL's form ("/C=JP/O=LGPKI/OU=千代田区/OU=総務部/CN=山田太郎"). A type may repeat
    /// as far as the profile's `max` allows (OU: the 団体 first, then the 部署).
    #[arg(long, value_name = "DN")]
    pub subject: Option<String>,
    /// subjectAltName, replacing the CSR's: dns:NAME, email:ADDR, uri:URI or ip:ADDR.
    #[arg(long = "san", value_name = "TYPE:VALUE")]
    pub sans: Vec<String>,
    /// Validity in days [default: the profile's].
    #[arg(long, value_name = "N")]
    pub days: Option<u32>,
    /// Write the certificate (PEM) here instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// JSON Lines of {"profile", "csr", "subject"?, "san"?, "ca"?, "days"?, "id"?}.
    #[arg(long, value_name = "FILE")]
    pub batch: Option<PathBuf>,
}

/// Certificate status filter.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum StatusArg {
    /// Not revoked, not expired.
    Good,
    /// Revoked.
    Revoked,
    /// Past notAfter.
    Expired,
}

/// `cert …`.
#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// List issued certificates.
    List {
        /// Only this CA's.
        #[arg(long)]
        ca: Option<String>,
        /// Only this profile's.
        #[arg(long)]
        profile: Option<String>,
        /// Only with this status.
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
    },
    /// Show one certificate (PEM) with its status.
    Show {
        /// Serial number (hex).
        serial: String,
        /// The issuing CA, if serials could be ambiguous.
        #[arg(long)]
        ca: Option<String>,
    },
}

/// `org …`.
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Register an organisation.
    Add {
        /// 6-digit 団体コード (JIS X 0402 with check digit).
        #[arg(long)]
        code: String,
        /// Its name (bound into certificate subjects as OU).
        #[arg(long)]
        name: String,
        /// A DNS domain it owns (covers its subdomains; at least three labels, so lg.jp is
        /// refused) or an IP address/network (10.1.2.0/24): officers may ask for server names
        /// only inside their organisation's. Repeatable.
        #[arg(long = "domain", value_name = "DOMAIN|CIDR")]
        domains: Vec<String>,
    },
    /// List organisations (with their registered domains and networks).
    List,
    /// An organisation's registered DNS domains and IP networks.
    #[command(subcommand)]
    Domain(OrgDomainCommand),
}

/// `org domain …`.
#[derive(Debug, Subcommand)]
pub enum OrgDomainCommand {
    /// Register DNS domains or IP networks to an organisation (a name registered to another
    /// organisation, or overlapping one, is refused).
    Add {
        /// Organisation code.
        #[arg(long)]
        org: String,
        /// DNS domains (e.g. city.chiyoda.lg.jp) or IP addresses/networks (10.1.2.0/24).
        #[arg(required = true, value_name = "DOMAIN|CIDR")]
        names: Vec<String>,
    },
    /// List registered names.
    List {
        /// Only this organisation's.
        #[arg(long)]
        org: Option<String>,
    },
}

/// `officer …`.
#[derive(Debug, Subcommand)]
pub enum OfficerCommand {
    /// Register an officer by the certificate they authenticate with.
    Add {
        /// Organisation code.
        #[arg(long)]
        org: String,
        /// The officer's certificate (issued by this CA).
        #[arg(long, value_name = "FILE")]
        cert: PathBuf,
        /// registrar or approver.
        #[arg(long)]
        role: String,
        /// Who the officer is (e.g. a staff number), if not the certificate's subject DN: one
        /// person holds one role per organisation and never approves their own request,
        /// whichever of their certificates they use.
        #[arg(long, value_name = "ID")]
        person: Option<String>,
    },
    /// List officers.
    List,
}

/// `request …`.
#[derive(Debug, Subcommand)]
pub enum RequestCommand {
    /// Submit a certificate request; prints its id.
    Submit {
        /// Profile.
        #[arg(long)]
        profile: String,
        /// The CSR (PEM or DER).
        #[arg(long, value_name = "FILE")]
        csr: PathBuf,
        /// Organisation code [remote default: the client certificate's organisation].
        #[arg(long)]
        org: Option<String>,
        /// Subject DN, RFC 4514 or OpenSSL form; the first OU is bound to the organisation.
        #[arg(long, value_name = "DN")]
        subject: Option<String>,
        /// subjectAltName: dns:NAME, email:ADDR, uri:URI or ip:ADDR.
        #[arg(long = "san", value_name = "TYPE:VALUE")]
        sans: Vec<String>,
    },
    /// List requests.
    List {
        /// Only in this state.
        #[arg(long, value_parser = ["pending", "approved", "rejected", "issued", "revoked"])]
        state: Option<String>,
    },
    /// Approve a request (issues or revokes).
    Approve {
        /// Request id.
        id: i64,
    },
    /// Reject a request.
    Reject {
        /// Request id.
        id: i64,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// A renewal (更新申請): a new CSR for one of the organisation's certificates (same
    /// subject, profile and SANs); approved like any request.
    Renew {
        /// Serial of the certificate to renew (hex).
        #[arg(long)]
        serial: String,
        /// The new CSR (PEM or DER).
        #[arg(long, value_name = "FILE")]
        csr: PathBuf,
        /// Revoke the old certificate `superseded` once the new one is issued (default: leave it
        /// to expire).
        #[arg(long)]
        supersede: bool,
    },
    /// Fetch the certificate of an issued request.
    Fetch {
        /// Request id.
        id: i64,
        /// Write it here instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The certificate to validate (PEM or DER).
    pub cert: PathBuf,
    /// Trust anchors (PEM with one or several certificates, or DER).
    #[arg(long, value_name = "FILE", required = true)]
    pub trust: Vec<PathBuf>,
    /// Intermediate and cross-certificates to build paths from.
    #[arg(long, value_name = "FILE")]
    pub untrusted: Vec<PathBuf>,
    /// CRLs (full or delta); given any, revocation is checked for every certificate.
    #[arg(long, value_name = "FILE")]
    pub crl: Vec<PathBuf>,
    /// Also ask each certificate's OCSP responder (AIA URL) for its status; a certificate
    /// without one is undetermined (invalid).
    #[arg(long)]
    pub check_ocsp: bool,
    /// Fetch CRLs (cRLDistributionPoints) and, failing them, OCSP (AIA) over HTTP for every
    /// certificate of the path (size and time limited).
    #[arg(long)]
    pub fetch: bool,
    /// initial-policy-set OID (repeatable; default anyPolicy).
    #[arg(long = "policy", value_name = "OID")]
    pub policies: Vec<String>,
    /// initial-explicit-policy.
    #[arg(long)]
    pub explicit_policy: bool,
    /// initial-policy-mapping-inhibit.
    #[arg(long)]
    pub inhibit_policy_mapping: bool,
    /// initial-any-policy-inhibit.
    #[arg(long)]
    pub inhibit_any_policy: bool,
    /// Validate at this time instead of now.
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
    /// The purpose the leaf must allow.
    #[arg(long, value_parser = ["server", "client", "email", "code-signing", "any"])]
    pub purpose: Option<String>,
    /// A DNS name, IP address or email address the leaf must be for.
    #[arg(long, value_name = "DNS-OR-EMAIL")]
    pub name: Option<String>,
}

/// `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// OCSP, CRLs and CA certificates over HTTP.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// The RA API over HTTPS with mutual TLS.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8443")]
    pub ra_listen: std::net::SocketAddr,
    /// TLS certificate chain for the RA listener (PEM) [default: one the hierarchy issued,
    /// kept in HOME/ra-tls and reused across restarts].
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Its PKCS#8 private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Extra trust anchors for POST /validate (PEM or DER; repeatable), e.g. the GPKI bridge
    /// CA. The home's self-signed CAs are always anchors.
    #[arg(long, value_name = "FILE")]
    pub trust: Vec<PathBuf>,
    /// Create the CA when the home named by --home or LGPKI_HOME holds none (without it, that
    /// is an error: a typo must not mint a new root).
    #[arg(long)]
    pub init: bool,
    /// Log format on stderr (one access-log line per request; level from $LGPKI_LOG).
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// Log output format of `serve`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `config`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// The settings in force (HOME/lgpki.toml with its defaults filled in).
    Show,
}

/// `publish`.
#[derive(Debug, Args)]
#[command(
    group(clap::ArgGroup::new("target").required(true).multiple(true).args(["out", "ldap"])),
    after_help = "Each release in DIR is signed: manifest.json binds every file's SHA-256, the \
release time, a sequence number that grows with every release, and the release's validity (the \
earliest nextUpdate of its CRLs); manifest.sig holds each CA's signature over it. \
ocsp-responder refuses a release that does not verify or is not newer than the one it serves.\n\n\
--watch keeps DIR (and the directory of --ldap) fresh without cron: every --interval it \
publishes again when the store changed (an issue, a revocation, a new CA) or when half the \
release's validity has passed. Stop it with SIGINT or SIGTERM.\n\n\
--ldap writes one entry per CA: cn=NAME,BASE with --base, else the CA's subject DN; \
objectClass applicationProcess, pkiCA and certificationAuthority; cACertificate;binary, \
crossCertificatePair;binary, certificateRevocationList;binary and \
authorityRevocationList;binary. Only attributes whose values changed are replaced; a CRL in the \
directory is kept while it is current. The password is read from --bind-password-file only."
)]
pub struct PublishArgs {
    /// The publication directory (signed releases for relying parties and ocsp-responder).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Keep publishing: again whenever the store changed or half the release's validity passed.
    #[arg(long)]
    pub watch: bool,
    /// How often --watch looks at the store (e.g. `30s`, `5m`).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "60s",
        requires = "watch"
    )]
    pub interval: String,
    /// LDAP server to write the CAs' entries to (`ldap://HOST:PORT`; plain LDAP, so loopback or
    /// a protected network only).
    #[arg(long, value_name = "URL", requires_all = ["bind_dn", "bind_password_file"])]
    pub ldap: Option<String>,
    /// DN to bind as (simple bind).
    #[arg(long, value_name = "DN", requires = "ldap")]
    pub bind_dn: Option<String>,
    /// File holding the bind password (one line; never given on the command line).
    #[arg(long, value_name = "FILE", requires = "ldap")]
    pub bind_password_file: Option<PathBuf>,
    /// Parent DN of the CA entries (`cn=NAME,BASE`); without it each entry is the CA's subject DN.
    #[arg(long, value_name = "DN", requires = "ldap")]
    pub base: Option<String>,
}

/// `cross-certify`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct CrossArgs {
    /// Import or list instead of issuing.
    #[command(subcommand)]
    pub sub: Option<CrossSub>,
    /// Our issuing CA (usually `bridge`).
    #[arg(long)]
    pub ca: Option<String>,
    /// The other CA's certificate.
    #[arg(long, value_name = "FILE")]
    pub subject_cert: Option<PathBuf>,
    /// policyMappings: ISSUER_OID (ours) = SUBJECT_OID (theirs); repeatable.
    #[arg(long = "map", value_name = "ISSUER_OID=SUBJECT_OID")]
    pub maps: Vec<String>,
    /// policyConstraints requireExplicitPolicy (skip certs).
    #[arg(long, value_name = "N")]
    pub require_explicit_policy: Option<u32>,
    /// policyConstraints inhibitPolicyMapping (skip certs).
    #[arg(long, value_name = "N")]
    pub inhibit_policy_mapping: Option<u32>,
    /// inhibitAnyPolicy (skip certs).
    #[arg(long, value_name = "N")]
    pub inhibit_any_policy: Option<u32>,
    /// nameConstraints permitted directoryName subtree (RFC 4514 DN); repeatable.
    #[arg(long = "permit", value_name = "DN")]
    pub permit: Vec<String>,
    /// nameConstraints excluded directoryName subtree; repeatable.
    #[arg(long = "exclude", value_name = "DN")]
    pub exclude: Vec<String>,
    /// pathLenConstraint.
    #[arg(long, value_name = "N")]
    pub path_len: Option<u8>,
    /// Validity in days (clamped to our CA's).
    #[arg(long, default_value_t = 1825)]
    pub days: u32,
    /// Where to write the cross-certificate (PEM).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `cross-certify import|list`.
#[derive(Debug, Subcommand)]
pub enum CrossSub {
    /// Import a cross-certificate another domain issued to one of our CAs.
    Import {
        /// The certificate (PEM or DER).
        file: PathBuf,
    },
    /// List cross-certificates in both directions.
    List,
}
