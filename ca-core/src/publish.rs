//! Publications: what relying parties and the stateless `ocsp-responder` need, written by
//! `lgpki publish --out DIR` and read by [`Publication::load`].
//!
//! Layout (one release per publish; `DIR/current` is a symlink swapped atomically):
//!
//! ```text
//! DIR/current -> releases/<id>
//! DIR/releases/<id>/manifest.json         the signed manifest (below)
//! DIR/releases/<id>/manifest.sig          the CAs' signatures over manifest.json (below)
//! DIR/releases/<id>/ca/<name>.crt         CA certificate of the key in force, DER
//! DIR/releases/<id>/ca/<name>.gN.crt      CA certificate of retired key generation N that
//!                                         still answers OCSP (below)
//! DIR/releases/<id>/crl/<name>.crl        current full CRL (an ARL for a CA of CAs) of the
//!                                         CA's first key generation, DER; <name>.gN.crl of
//!                                         generation N (crate::dist), while it publishes
//! DIR/releases/<id>/status/<name>.bin     status snapshot (below)
//! DIR/releases/<id>/ocsp/<name>.crt       delegated OCSP responder certificate, DER
//! DIR/releases/<id>/ocsp/<name>.key       its private key, PKCS#8 DER, mode 0600
//! DIR/releases/<id>/ocsp/<name>.gN.crt    delegated OCSP responder certificate issued by
//! DIR/releases/<id>/ocsp/<name>.gN.key    retired generation N's key, and its key
//! DIR/releases/<id>/cross/<name>.crt      cross-certificates, both directions, DER
//! DIR/releases/<id>/arl/<name>.crl        authority revocation list (onlyContainsCACerts), DER;
//!                                         <name>.gN.crl likewise
//! DIR/releases/<id>/issued-to/<name>.p7c  certs-only CMS: the certificates issued to the CA
//!                                         (its own, cross-certificates; AIA caIssuers)
//! DIR/releases/<id>/issued-by/<name>.p7c  certs-only CMS: the CA certificates it issued
//!                                         (subordinate and cross-certificates; SIA caRepository)
//! ```
//!
//! A release is written under a temporary name, fsynced, renamed into `releases/`, and only then
//! is `current` switched (a symlink renamed over the old one), so a reader never sees a
//! half-written release. The responder keys are the only secrets in a publication: each can
//! sign OCSP responses for one CA key and nothing else (RFC 6960 §4.2.2.2), and each is re-used
//! from the previous release until half its certificate's lifetime has passed.
//!
//! # Key generations
//! After `ca renew`, a retired key generation keeps answering for what it signed until the
//! last of those certificates expires ([`Authority::live_generations`]). RFC 6960 §4.2.2.2
//! wants a delegated responder's certificate "issued directly by the CA that is identified in
//! the request", and a CertID names the issuer by its key (issuerKeyHash, §4.1.1): so each such
//! generation gets its own responder certificate, signed by that generation's key, and its CA
//! certificate (`ca/<name>.gN.crt`, N its generation number, also for N = 1) so that the
//! responder can match CertIDs of the old key. The files without `.gN` are always the key in
//! force's (unlike CRLs, whose names follow the distribution point, [`crate::dist`]). Such a
//! responder certificate ends no later than the last certificate the generation signed, so
//! that issuing it never keeps the generation alive; it does not bound the release's
//! `not_after` (an answer for an expired certificate is no use to anyone): the responder
//! stops answering for that generation when its certificate ends.
//!
//! # Signed releases
//! `manifest.json` (format `lgpki-publication/2`) binds the release as a whole: every other
//! file's SHA-256 (`files`, by path relative to the release), the release time (`created`), a
//! sequence number that grows by one with every release written to DIR (`sequence`), the end
//! of the release's own validity (`not_after`: the earliest nextUpdate of its CRLs and notAfter
//! of its responder certificates) and a digest of the store state it was made from (`state`).
//! `manifest.sig` holds one plain signature over the exact bytes of `manifest.json` per CA in
//! the release, made with that CA's own key (the key of `ca/<name>.crt`); the manifest starts
//! with `{`, so it can never be mistaken for a DER structure the CA key also signs.
//! [`Publication::load`] refuses a release where a file is missing, extra or different from
//! the manifest, or where a CA's signature is missing or does not verify
//! ([`Error::ReleaseRefused`]). Which signers to *trust* is the reader's decision: the
//! responder pins CA keys ([`Publication::signed_by`]); a release cannot vouch for itself.
//!
//! Status snapshot: `LGPKIST1`, a u32 count (big-endian), then per certificate: u8 serial
//! length, the serial (big-endian magnitude, as in an OCSP CertID), u8 status (0 good,
//! 1 revoked), i64 revocation time (Unix seconds, big-endian), u8 reason code (255: none).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use der::{Decode, Encode};
use zeroize::Zeroizing;

use crate::authority::{Authority, LoadedCa};
use crate::crl::ReasonCode;
use crate::error::{Error, Result};
use crate::fsutil::{create_private_dir, write_private_file};
use crate::issue::IssuanceRequest;
use crate::key::{KeyAlgorithm, SoftwareSigner, generate_pkcs8};

const STATUS_MAGIC: &[u8; 8] = b"LGPKIST1";
const FORMAT: &str = "lgpki-publication/2";
const SIGNATURE_FORMAT: &str = "lgpki-release-signatures/1";
/// The signed manifest's file name in a release.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The signatures' file name in a release.
pub const SIGNATURE_FILE: &str = "manifest.sig";
/// Releases kept besides the current one (older ones are removed after a publish).
pub const KEEP_RELEASES: usize = 3;
/// The directories of a release (besides the manifest and its signatures).
const RELEASE_DIRS: [&str; 8] = [
    "ca",
    "crl",
    "status",
    "ocsp",
    "cross",
    "arl",
    "issued-to",
    "issued-by",
];
/// The most files a release may hold (a bound for reading one that is not ours).
const MAX_RELEASE_FILES: usize = 100_000;

/// A certificate's status in a publication.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublishedStatus {
    /// Issued and not revoked.
    Good,
    /// Revoked.
    Revoked {
        /// Revocation time, Unix seconds.
        time: i64,
        /// Reason, if one was given other than unspecified.
        reason: Option<ReasonCode>,
    },
}

/// One CA in a publication.
#[derive(Clone)]
pub struct PublishedCa {
    /// The CA's name.
    pub name: String,
    /// Its certificate, DER.
    pub cert_der: Vec<u8>,
    /// The current full CRL of its key in force, DER.
    pub crl_der: Vec<u8>,
    /// The authority revocation list of its key in force, DER (absent from releases made
    /// before ARLs were).
    pub arl_der: Option<Vec<u8>>,
    /// Every key generation's CRL in the release, by generation (`crl/NAME.crl` for 1,
    /// `crl/NAME.gN.crl` after: [`crate::dist::ListPoint`]); the last is `crl_der`.
    pub crls: BTreeMap<u32, Vec<u8>>,
    /// Every key generation's ARL in the release, by generation.
    pub arls: BTreeMap<u32, Vec<u8>>,
    /// `issued-to/<name>.p7c`: certs-only CMS of the certificates issued to the CA.
    pub issued_to_p7c: Option<Vec<u8>>,
    /// `issued-by/<name>.p7c`: certs-only CMS of the CA certificates the CA issued.
    pub issued_by_p7c: Option<Vec<u8>>,
    /// The delegated OCSP responder certificate, DER.
    pub responder_cert_der: Vec<u8>,
    /// The responder's private key, PKCS#8 DER.
    pub responder_key_pkcs8: Zeroizing<Vec<u8>>,
    /// Status of every certificate the CA issued, by serial (big-endian magnitude), whatever
    /// key generation signed it.
    pub statuses: HashMap<Vec<u8>, PublishedStatus>,
    /// The retired key generations that still answer OCSP, oldest first.
    pub retired: Vec<PublishedGeneration>,
}

/// A retired key generation of a CA in a publication: its CA certificate and the delegated
/// OCSP responder that generation's key certified (RFC 6960 §4.2.2.2).
#[derive(Clone)]
pub struct PublishedGeneration {
    /// The generation number (1 for the first key).
    pub generation: u32,
    /// That generation's CA certificate (`ca/<name>.gN.crt`), DER.
    pub cert_der: Vec<u8>,
    /// The responder certificate it issued (`ocsp/<name>.gN.crt`), DER.
    pub responder_cert_der: Vec<u8>,
    /// The responder's private key (`ocsp/<name>.gN.key`), PKCS#8 DER.
    pub responder_key_pkcs8: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for PublishedGeneration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishedGeneration")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// The release file name of retired generation `generation`'s `ext` file (`crt`, `key`) of CA
/// `name`: `<name>.g<N>.<ext>`. CA names hold no '.' ([`crate::dist`]), so it never reads as
/// another CA's.
fn retired_file(name: &str, generation: u32, ext: &str) -> String {
    format!("{name}.g{generation}.{ext}")
}

/// The generation of a file name made by [`retired_file`] for CA `name`, if it is one.
fn parse_retired_file(file: &str, name: &str, ext: &str) -> Option<u32> {
    let g = file
        .strip_prefix(name)?
        .strip_prefix(".g")?
        .strip_suffix(ext)?
        .strip_suffix('.')?;
    if g.is_empty() || g.starts_with('0') || !g.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    g.parse().ok()
}

/// Whether `cert_der` is certified by the key of `ca_der`: its issuer is the CA's subject and
/// its signature verifies with the CA's key (RFC 6960 §4.2.2.2: a delegated responder's
/// certificate is issued directly by the CA whose certificates it answers for).
fn issued_by(cert_der: &[u8], ca_der: &[u8]) -> std::result::Result<(), String> {
    let cert = x509_cert::Certificate::from_der(cert_der)
        .map_err(|e| format!("certificate does not parse: {e}"))?;
    let ca = x509_cert::Certificate::from_der(ca_der)
        .map_err(|e| format!("CA certificate does not parse: {e}"))?;
    if cert.tbs_certificate().issuer() != ca.tbs_certificate().subject() {
        return Err("its issuer is not the CA's subject".into());
    }
    let tbs = cert
        .tbs_certificate()
        .to_der()
        .map_err(|e| format!("TBSCertificate: {e}"))?;
    let sig = cert
        .signature()
        .as_bytes()
        .ok_or("the signature is not a whole number of octets")?;
    crate::sigverify::verify_signature(
        ca.tbs_certificate().subject_public_key_info(),
        cert.signature_algorithm(),
        &tbs,
        sig,
    )
    .map_err(|e| format!("not signed by the CA's key: {e}"))
}

impl std::fmt::Debug for PublishedCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishedCa")
            .field("name", &self.name)
            .field("statuses", &self.statuses.len())
            .finish_non_exhaustive()
    }
}

/// A loaded publication whose files match its manifest and whose manifest every CA in it
/// signed.
#[derive(Clone, Debug)]
pub struct Publication {
    /// The CAs.
    pub cas: Vec<PublishedCa>,
    /// The release id.
    pub id: String,
    /// The release's sequence number (strictly increasing within a publication directory).
    pub sequence: u64,
    /// When the release was made, Unix seconds.
    pub created: i64,
    /// The end of the release's own validity, Unix seconds: nothing derived from it may be
    /// valid beyond it.
    pub not_after: i64,
    /// Digest of the store state the release was made from ([`Authority::publication_state`]).
    pub state: String,
    /// The SubjectPublicKeyInfo (DER) of every CA whose signature over the manifest verified.
    pub signed_by: Vec<Vec<u8>>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    format: String,
    id: String,
    sequence: u64,
    created: String,
    created_unix: i64,
    not_after: String,
    not_after_unix: i64,
    state: String,
    cas: Vec<String>,
    /// Path relative to the release → lowercase hex SHA-256.
    files: BTreeMap<String, String>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Signatures {
    format: String,
    signatures: Vec<ManifestSignature>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestSignature {
    /// The signing CA (its certificate is `ca/<name>.crt` in the release).
    ca: String,
    /// Base64 of the DER AlgorithmIdentifier.
    algorithm: String,
    /// Base64 of the signature as it would go into an X.509 BIT STRING.
    signature: String,
}

/// What a publish wrote.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PublishReport {
    /// The release id.
    pub id: String,
    /// The release directory.
    pub path: PathBuf,
    /// Its sequence number.
    pub sequence: u64,
    /// The end of its validity, Unix seconds.
    pub not_after: i64,
    /// CAs published, with certificate counts.
    pub cas: Vec<(String, usize)>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn magnitude(serial_hex: &str) -> Result<Vec<u8>> {
    let b = hex::decode(serial_hex).map_err(|e| Error::malformed("stored serial", e))?;
    Ok(match b.as_slice() {
        [0, rest @ ..] if !rest.is_empty() => rest.to_vec(),
        s => s.to_vec(),
    })
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, data))
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// Reads every regular file under `root` (paths relative to it, `/`-separated). Symbolic links
/// and other special files are refused: a release holds only what publish wrote.
fn read_tree(root: &Path, release: &str) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = format!("{prefix}{name}");
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).map_err(io(&path))?;
            if meta.is_dir() {
                stack.push((path, format!("{rel}/")));
            } else if meta.is_file() {
                if out.len() >= MAX_RELEASE_FILES {
                    return Err(refused(release, "files", "too many files"));
                }
                out.insert(rel, std::fs::read(&path).map_err(io(&path))?);
            } else {
                return Err(refused(
                    release,
                    "files",
                    format!("{rel} is not a regular file"),
                ));
            }
        }
    }
    Ok(out)
}

fn refused(release: &str, kind: &'static str, detail: impl Into<String>) -> Error {
    Error::ReleaseRefused {
        release: release.to_string(),
        kind,
        detail: detail.into(),
    }
}

impl Publication {
    /// The release id `DIR/current` points to.
    pub fn current_id(dir: &Path) -> Result<String> {
        let link = dir.join("current");
        let target = std::fs::read_link(&link).map_err(io(&link))?;
        target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                Error::malformed(
                    link.display().to_string(),
                    "current does not name a release",
                )
            })
    }

    /// Loads and checks the release `DIR/current` points to (see [`Publication::load_release`]).
    pub fn load(dir: &Path) -> Result<Publication> {
        let id = Publication::current_id(dir)?;
        Publication::load_release(&dir.join("releases").join(&id), &id)
    }

    /// Loads the release in `rel` (named `id`) and checks it as a whole: the manifest is
    /// well-formed, the files are exactly those it lists with the SHA-256 it lists, and every
    /// CA it lists signed it with the key of its certificate in the release. It does not say
    /// whether those CAs are to be trusted: compare [`Publication::signed_by`] with keys known
    /// from elsewhere.
    pub fn load_release(rel: &Path, id: &str) -> Result<Publication> {
        let mut files = read_tree(rel, id)?;
        let manifest_bytes = files
            .remove(MANIFEST_FILE)
            .ok_or_else(|| refused(id, "manifest", format!("no {MANIFEST_FILE}")))?;
        let sig_bytes = files
            .remove(SIGNATURE_FILE)
            .ok_or_else(|| refused(id, "signature", format!("no {SIGNATURE_FILE}")))?;
        let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| refused(id, "manifest", format!("{MANIFEST_FILE}: {e}")))?;
        if manifest.format != FORMAT {
            return Err(refused(
                id,
                "manifest",
                format!("format {:?}, expected {FORMAT}", manifest.format),
            ));
        }
        if manifest.id != id {
            return Err(refused(
                id,
                "manifest",
                format!("the manifest names release {:?}", manifest.id),
            ));
        }
        // Every file listed, with its hash; nothing unlisted.
        for (path, want) in &manifest.files {
            let Some(data) = files.get(path) else {
                return Err(refused(
                    id,
                    "files",
                    format!("{path} is listed in the manifest but missing"),
                ));
            };
            let got = sha256_hex(data);
            if !got.eq_ignore_ascii_case(want) {
                return Err(refused(
                    id,
                    "files",
                    format!(
                        "{path} does not match the signed manifest (SHA-256 {got}, signed {want})"
                    ),
                ));
            }
        }
        if let Some(extra) = files.keys().find(|p| !manifest.files.contains_key(*p)) {
            return Err(refused(
                id,
                "files",
                format!("{extra} is not in the signed manifest"),
            ));
        }
        let file = |p: String| -> Result<Vec<u8>> {
            files
                .get(&p)
                .cloned()
                .ok_or_else(|| refused(id, "files", format!("{p} is missing")))
        };
        for name in &manifest.cas {
            if name.is_empty() || name.contains('/') || name.contains("..") {
                return Err(refused(id, "manifest", format!("bad CA name {name:?}")));
            }
        }
        // Every CA signs for itself, with the key of its certificate as bound above.
        let signatures: Signatures = serde_json::from_slice(&sig_bytes)
            .map_err(|e| refused(id, "signature", format!("{SIGNATURE_FILE}: {e}")))?;
        if signatures.format != SIGNATURE_FORMAT {
            return Err(refused(
                id,
                "signature",
                format!(
                    "format {:?}, expected {SIGNATURE_FORMAT}",
                    signatures.format
                ),
            ));
        }
        let mut signed_by = Vec::new();
        for name in &manifest.cas {
            let Some(sig) = signatures.signatures.iter().find(|s| &s.ca == name) else {
                return Err(refused(id, "signature", format!("CA {name} did not sign")));
            };
            let cert_der = file(format!("ca/{name}.crt"))?;
            let spki = verify_manifest_signature(&cert_der, sig, &manifest_bytes)
                .map_err(|e| refused(id, "signature", format!("CA {name}: {e}")))?;
            signed_by.push(spki);
        }
        if let Some(s) = signatures
            .signatures
            .iter()
            .find(|s| !manifest.cas.contains(&s.ca))
        {
            return Err(refused(
                id,
                "signature",
                format!("signature by {:?}, which is not in the release", s.ca),
            ));
        }
        let mut cas = Vec::new();
        for name in &manifest.cas {
            let status_path = format!("status/{name}.bin");
            let statuses = parse_status(&file(status_path.clone())?)
                .map_err(|e| Error::malformed(status_path, e))?;
            // Each generation's lists; the newest generation's is the key in force's.
            let lists = |dir: &str| -> BTreeMap<u32, Vec<u8>> {
                files
                    .iter()
                    .filter_map(|(path, data)| {
                        let at = crate::dist::ListPoint::parse(path.strip_prefix(dir)?)?;
                        (at.ca == name.as_str()).then(|| (at.generation, data.clone()))
                    })
                    .collect()
            };
            let crls = lists("crl/");
            let arls = lists("arl/");
            let crl_der = crls
                .values()
                .next_back()
                .cloned()
                .ok_or_else(|| refused(id, "files", format!("crl/{name}.crl is missing")))?;
            let cert_der = file(format!("ca/{name}.crt"))?;
            let responder_cert_der = file(format!("ocsp/{name}.crt"))?;
            issued_by(&responder_cert_der, &cert_der)
                .map_err(|e| refused(id, "responder", format!("ocsp/{name}.crt: {e}")))?;
            let retired = retired_generations(&files, name, &cert_der)
                .map_err(|e| refused(id, "responder", e))?;
            cas.push(PublishedCa {
                name: name.clone(),
                cert_der,
                crl_der,
                arl_der: arls.values().next_back().cloned(),
                crls,
                arls,
                issued_to_p7c: files.get(&format!("issued-to/{name}.p7c")).cloned(),
                issued_by_p7c: files.get(&format!("issued-by/{name}.p7c")).cloned(),
                responder_cert_der,
                responder_key_pkcs8: Zeroizing::new(file(format!("ocsp/{name}.key"))?),
                statuses,
                retired,
            });
        }
        Ok(Publication {
            cas,
            id: id.to_string(),
            sequence: manifest.sequence,
            created: manifest.created_unix,
            not_after: manifest.not_after_unix,
            state: manifest.state,
            signed_by,
        })
    }

    /// The highest sequence number among the releases in `DIR` (0 when there is none). Only
    /// read for numbering the next release, so a manifest that does not parse is skipped.
    pub fn highest_sequence(dir: &Path) -> u64 {
        let Ok(entries) = std::fs::read_dir(dir.join("releases")) else {
            return 0;
        };
        entries
            .flatten()
            .filter_map(|e| std::fs::read(e.path().join(MANIFEST_FILE)).ok())
            .filter_map(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .filter_map(|v| v.get("sequence").and_then(serde_json::Value::as_u64))
            .max()
            .unwrap_or(0)
    }
}

/// The retired generations of CA `name` in a release's `files` (already checked against the
/// manifest), checked as the key in force's responder is: each `ocsp/<name>.gN.crt` comes
/// with its key and with `ca/<name>.gN.crt`, which names the same CA as `current_der` (the
/// certificate of the key in force) with another key, and which issued the responder
/// certificate.
fn retired_generations(
    files: &BTreeMap<String, Vec<u8>>,
    name: &str,
    current_der: &[u8],
) -> std::result::Result<Vec<PublishedGeneration>, String> {
    let current = x509_cert::Certificate::from_der(current_der)
        .map_err(|e| format!("ca/{name}.crt does not parse: {e}"))?;
    let mut generations = std::collections::BTreeSet::new();
    for (path, ext) in files.keys().filter_map(|p| {
        let (dir, file) = p.split_once('/')?;
        match dir {
            "ca" => Some((file, "crt")),
            "ocsp" => Some((file, if file.ends_with(".key") { "key" } else { "crt" })),
            _ => None,
        }
    }) {
        if let Some(g) = parse_retired_file(path, name, ext) {
            generations.insert(g);
        }
    }
    let mut out = Vec::with_capacity(generations.len());
    for g in generations {
        let get = |dir: &str, ext: &str| -> std::result::Result<Vec<u8>, String> {
            let p = format!("{dir}/{}", retired_file(name, g, ext));
            files
                .get(&p)
                .cloned()
                .ok_or_else(|| format!("{p} is missing (generation {g} of {name})"))
        };
        let cert_der = get("ca", "crt")?;
        let responder_cert_der = get("ocsp", "crt")?;
        let responder_key_pkcs8 = Zeroizing::new(get("ocsp", "key")?);
        let cert = x509_cert::Certificate::from_der(&cert_der)
            .map_err(|e| format!("ca/{}: {e}", retired_file(name, g, "crt")))?;
        if cert.tbs_certificate().subject() != current.tbs_certificate().subject()
            || cert.tbs_certificate().subject_public_key_info()
                == current.tbs_certificate().subject_public_key_info()
        {
            return Err(format!(
                "ca/{} is not another key of CA {name}",
                retired_file(name, g, "crt")
            ));
        }
        issued_by(&responder_cert_der, &cert_der)
            .map_err(|e| format!("ocsp/{}: {e}", retired_file(name, g, "crt")))?;
        out.push(PublishedGeneration {
            generation: g,
            cert_der,
            responder_cert_der,
            responder_key_pkcs8,
        });
    }
    Ok(out)
}

/// Verifies one CA's signature over the manifest with the key of `cert_der`; returns that
/// key's SubjectPublicKeyInfo (DER).
fn verify_manifest_signature(
    cert_der: &[u8],
    sig: &ManifestSignature,
    manifest: &[u8],
) -> std::result::Result<Vec<u8>, String> {
    let cert = x509_cert::Certificate::from_der(cert_der)
        .map_err(|e| format!("certificate does not parse: {e}"))?;
    let spki = cert.tbs_certificate().subject_public_key_info();
    let alg_der = b64()
        .decode(&sig.algorithm)
        .map_err(|e| format!("algorithm is not base64: {e}"))?;
    let alg = spki::AlgorithmIdentifierOwned::from_der(&alg_der)
        .map_err(|e| format!("algorithm does not parse: {e}"))?;
    let signature = b64()
        .decode(&sig.signature)
        .map_err(|e| format!("signature is not base64: {e}"))?;
    crate::sigverify::verify_signature(spki, &alg, manifest, &signature)
        .map_err(|e| format!("signature does not verify: {e}"))?;
    spki.to_der().map_err(|e| e.to_string())
}

fn parse_status(data: &[u8]) -> std::result::Result<HashMap<Vec<u8>, PublishedStatus>, String> {
    let rest = data
        .strip_prefix(STATUS_MAGIC.as_slice())
        .ok_or("not a status snapshot")?;
    let (count, mut rest) = rest.split_at_checked(4).ok_or("truncated")?;
    let count = u32::from_be_bytes([count[0], count[1], count[2], count[3]]) as usize;
    let mut map = HashMap::with_capacity(count.min(1 << 24));
    for _ in 0..count {
        let (&len, r) = rest.split_first().ok_or("truncated")?;
        let (serial, r) = r.split_at_checked(len as usize).ok_or("truncated")?;
        let (&st, r) = r.split_first().ok_or("truncated")?;
        let (t, r) = r.split_at_checked(8).ok_or("truncated")?;
        let (&reason, r) = r.split_first().ok_or("truncated")?;
        rest = r;
        let time = i64::from_be_bytes(t.try_into().map_err(|_| "truncated")?);
        let status = match st {
            0 => PublishedStatus::Good,
            1 => PublishedStatus::Revoked {
                time,
                reason: ReasonCode::from_code(reason),
            },
            _ => return Err(format!("bad status byte {st}")),
        };
        map.insert(serial.to_vec(), status);
    }
    if !rest.is_empty() {
        return Err("trailing bytes".into());
    }
    Ok(map)
}

impl Authority {
    /// The status snapshot of `ca` (the `status/<name>.bin` file) and how many certificates
    /// it lists.
    fn status_snapshot(&self, ca: &str) -> Result<(Vec<u8>, u32)> {
        let mut snapshot = Vec::new();
        let mut count: u32 = 0;
        self.store
            .for_each_status(ca, &mut |serial, revoked_at, reason| {
                let m = magnitude(serial)?;
                snapshot.push(
                    u8::try_from(m.len())
                        .map_err(|_| Error::malformed("stored serial", "too long"))?,
                );
                snapshot.extend_from_slice(&m);
                match revoked_at {
                    None => {
                        snapshot.push(0);
                        snapshot.extend_from_slice(&0i64.to_be_bytes());
                        snapshot.push(255);
                    }
                    Some(t) => {
                        snapshot.push(1);
                        snapshot.extend_from_slice(&t.to_be_bytes());
                        let code = reason.map_or(255, ReasonCode::code);
                        snapshot.push(code);
                    }
                }
                count += 1;
                Ok(())
            })?;
        let mut file = STATUS_MAGIC.to_vec();
        file.extend_from_slice(&count.to_be_bytes());
        file.extend_from_slice(&snapshot);
        Ok((file, count))
    }

    /// A digest (hex SHA-256) of what a release is made from: each CA's name, certificate and
    /// status snapshot, and the cross-certificates. It changes when a certificate is issued or
    /// revoked or a CA is added, and is recorded in each release's manifest, so
    /// `publish --watch` can tell whether the store changed since the current release.
    pub fn publication_state(&self) -> Result<String> {
        let mut cas = Vec::new();
        for rec in self.cas()? {
            let (snapshot, _) = self.status_snapshot(&rec.name)?;
            cas.push((rec.name, rec.cert_der, snapshot));
        }
        Ok(state_digest(&cas, &self.cross_certificates()?))
    }

    /// Writes a new signed release into `out` and makes it current (see the module
    /// documentation). CRLs and ARLs are signed with the validity `HOME/lgpki.toml` sets.
    pub fn publish(&mut self, out: &Path) -> Result<PublishReport> {
        std::fs::create_dir_all(out.join("releases")).map_err(io(out))?;
        remove_leftovers(out);
        let settings = crate::config::Settings::load(self.home())?;
        let now = self.now();
        let mut rnd = [0u8; 4];
        getrandom::fill(&mut rnd).map_err(|e| Error::key("system RNG", e))?;
        let id = format!("{}-{}", now.unix_timestamp(), hex::encode(rnd));
        let sequence = Publication::highest_sequence(out) + 1;
        let staging = out.join(format!(".staging-{id}"));
        for sub in RELEASE_DIRS {
            create_private_dir(&staging.join(sub))?;
        }
        let mut files: BTreeMap<String, String> = BTreeMap::new();
        let mut write = |rel: String, data: &[u8]| -> Result<()> {
            write_private_file(&staging.join(&rel), data, true)?;
            files.insert(rel, sha256_hex(data));
            Ok(())
        };
        // Cross-certificates in both directions (ours and imported), for path building.
        let cross = self.cross_certificates()?;
        for (name, der) in &cross {
            write(format!("cross/{name}.crt"), der)?;
        }
        // What the state digest covers, as written (responder certificates issued below
        // included, so the next `publication_state` matches when nothing else changed).
        let mut state_parts = Vec::new();
        let previous = Publication::load(out).ok();
        let mut report = Vec::new();
        let names: Vec<String> = self.cas()?.into_iter().map(|c| c.name).collect();
        // The release is valid no longer than its shortest-lived CRL or responder certificate.
        let mut not_after = i64::MAX;
        for name in &names {
            let rec = self.ca_record(name)?;
            write(format!("ca/{name}.crt"), &rec.cert_der)?;
            let validity = if rec.profiles.is_empty() {
                settings.arl.validity
            } else {
                settings.crl.validity
            };
            // thisUpdate is taken after `now`, so nextUpdate ≥ now + validity.
            not_after = not_after.min((now + validity).unix_timestamp());
            if !rec.profiles.is_empty() {
                not_after = not_after.min((now + settings.arl.validity).unix_timestamp());
            }
            // Each key generation that still publishes signs its own lists, at the name the
            // certificates it signed give (crate::dist); a generation past its last
            // certificate's expiry gets no file (Authority::list_generations says why).
            for g in self.list_generations(name, validity)? {
                let at = crate::dist::ListPoint::new(name, g);
                let crl = self
                    .sign_crl_by_generation(name, Some(g), false, Some(validity))?
                    .der;
                write(format!("crl/{}", at.file_name()), &crl)?;
                // The ARL: a CA of CAs' CRL is one already; any other CA signs its own.
                let arl = if rec.profiles.is_empty() {
                    crl
                } else {
                    self.sign_arl_by_generation(name, Some(g), Some(settings.arl.validity))?
                        .der
                };
                write(format!("arl/{}", at.file_name()), &arl)?;
            }
            write(
                format!("issued-to/{name}.p7c"),
                &crate::signed_data::certs_only(&self.certificates_issued_to(name)?),
            )?;
            write(
                format!("issued-by/{name}.p7c"),
                &crate::signed_data::certs_only(&self.ca_certificates_issued_by(name)?),
            )?;
            let in_force = self.load_ca(name)?;
            let (cert, key) = self.responder_for(in_force, previous.as_ref())?;
            if let Ok(c) = x509_cert::Certificate::from_der(&cert) {
                let na = c.tbs_certificate().validity().not_after;
                not_after = not_after.min(na.to_unix_duration().as_secs() as i64);
            }
            write(format!("ocsp/{name}.crt"), &cert)?;
            write(format!("ocsp/{name}.key"), &key)?;
            // Each retired generation that still answers OCSP: its CA certificate and a
            // responder it certified (see "Key generations" above). Issued before the status
            // snapshot below, which then lists them.
            for old in self.answering_generations(name)? {
                let g = old.record.generation;
                write(
                    format!("ca/{}", retired_file(name, g, "crt")),
                    &old.record.cert_der,
                )?;
                let (cert, key) = self.responder_for(old, previous.as_ref())?;
                write(format!("ocsp/{}", retired_file(name, g, "crt")), &cert)?;
                write(format!("ocsp/{}", retired_file(name, g, "key")), &key)?;
            }
            let (snapshot, count) = self.status_snapshot(name)?;
            write(format!("status/{name}.bin"), &snapshot)?;
            state_parts.push((name.clone(), rec.cert_der.clone(), snapshot));
            report.push((name.clone(), count as usize));
        }
        let state = state_digest(&state_parts, &cross);
        if names.is_empty() {
            not_after = now.unix_timestamp();
        }
        let manifest = Manifest {
            format: FORMAT.into(),
            id: id.clone(),
            sequence,
            created: crate::issue::rfc3339(now.unix_timestamp()),
            created_unix: now.unix_timestamp(),
            not_after: crate::issue::rfc3339(not_after),
            not_after_unix: not_after,
            state,
            cas: names.clone(),
            files,
        };
        let manifest_bytes = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| Error::malformed("release manifest", e))?;
        // Each CA signs the exact manifest bytes with its own key.
        let mut signatures = Vec::with_capacity(names.len());
        for name in &names {
            let ca = self.load_ca(name)?;
            let alg = ca
                .signer
                .algorithm()
                .algorithm_identifier()
                .to_der()
                .map_err(Error::encode("manifest signature algorithm"))?;
            let sig = ca.signer.sign(&manifest_bytes)?;
            signatures.push(ManifestSignature {
                ca: name.clone(),
                algorithm: b64().encode(alg),
                signature: b64().encode(sig),
            });
        }
        let sig_bytes = serde_json::to_vec_pretty(&Signatures {
            format: SIGNATURE_FORMAT.into(),
            signatures,
        })
        .map_err(|e| Error::malformed("release signatures", e))?;
        write_private_file(&staging.join(MANIFEST_FILE), &manifest_bytes, true)?;
        write_private_file(&staging.join(SIGNATURE_FILE), &sig_bytes, true)?;
        // Make the staging directory readable (0755) for a responder running as another user;
        // the key files stay 0600.
        set_mode(&staging, 0o755)?;
        set_mode(&staging.join(MANIFEST_FILE), 0o644)?;
        set_mode(&staging.join(SIGNATURE_FILE), 0o644)?;
        for sub in RELEASE_DIRS {
            set_mode(&staging.join(sub), 0o755)?;
            if sub != "ocsp" {
                for entry in std::fs::read_dir(staging.join(sub))
                    .map_err(io(&staging))?
                    .flatten()
                {
                    set_mode(&entry.path(), 0o644)?;
                }
            }
        }
        let release = out.join("releases").join(&id);
        std::fs::rename(&staging, &release).map_err(io(&release))?;
        sync_dir(&out.join("releases"));
        let tmp_link = out.join(format!(".current-{id}"));
        std::os::unix::fs::symlink(Path::new("releases").join(&id), &tmp_link)
            .map_err(io(&tmp_link))?;
        std::fs::rename(&tmp_link, out.join("current")).map_err(io(out))?;
        sync_dir(out);
        self.store.audit(
            &self.actor,
            "publish",
            &out.display().to_string(),
            "ok",
            &serde_json::json!({"release": id, "sequence": sequence}),
        )?;
        prune_releases(out, &id);
        Ok(PublishReport {
            id,
            path: release,
            sequence,
            not_after,
            cas: report,
        })
    }

    /// The retired key generations of CA `name` that answer OCSP in a release, oldest first,
    /// each loaded with its key and with `not_after` lowered to the last expiry of what it
    /// signed: those whose last certificate (as [`Authority::live_generations`] counts) has
    /// not expired. A responder certificate issued by such a generation ends no later than
    /// that (crate::issue caps validity at the issuer's `not_after`), so it never extends the
    /// generation's life (its CRLs, its OCSP answers, another responder certificate).
    fn answering_generations(&mut self, name: &str) -> Result<Vec<LoadedCa>> {
        let now = self.now();
        let mut out = Vec::new();
        for g in self.live_generations(name)? {
            let Some(last) = self.store.generation_last_expiry(name, g.generation)? else {
                continue;
            };
            let last = time::OffsetDateTime::from_unix_timestamp(last)
                .map_err(|e| Error::malformed("stored notAfter", e))?;
            let mut ca = self.load_generation(name, Some(g.generation))?;
            ca.not_after = ca.not_after.min(last);
            if ca.not_after > now {
                out.push(ca);
            }
        }
        Ok(out)
    }

    /// The delegated OCSP responder certificate and key for the CA key generation `ca`: one
    /// from the previous release (of any generation of that CA) if that generation's key
    /// issued it (RFC 6960 §4.2.2.2), it still holds its key, and it has more than half its
    /// lifetime left; else a new P-256 key and an `ocsp-signing` certificate that `ca` signs.
    fn responder_for(
        &mut self,
        ca: LoadedCa,
        previous: Option<&Publication>,
    ) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>)> {
        let name = ca.record.name.clone();
        let now = self.now().unix_timestamp();
        let candidates = previous
            .and_then(|p| p.cas.iter().find(|c| c.name == name))
            .map(|prev| {
                std::iter::once((&prev.responder_cert_der, &prev.responder_key_pkcs8))
                    .chain(
                        prev.retired
                            .iter()
                            .map(|g| (&g.responder_cert_der, &g.responder_key_pkcs8)),
                    )
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        for (cert_der, key) in candidates {
            let Ok(cert) = x509_cert::Certificate::from_der(cert_der) else {
                continue;
            };
            let v = cert.tbs_certificate().validity();
            let nb = v.not_before.to_unix_duration().as_secs() as i64;
            let na = v.not_after.to_unix_duration().as_secs() as i64;
            let key_matches = SoftwareSigner::from_pkcs8(key, "responder")
                .ok()
                .and_then(|s| {
                    cert.tbs_certificate()
                        .subject_public_key_info()
                        .to_der()
                        .ok()
                        .map(|d| d == s_public(&s))
                })
                .unwrap_or(false);
            if key_matches
                && issued_by(cert_der, &ca.record.cert_der).is_ok()
                && now < nb + (na - nb) / 2
            {
                return Ok((cert_der.clone(), key.clone()));
            }
        }
        let pkcs8 = generate_pkcs8(KeyAlgorithm::EcdsaP256)?;
        let signer = SoftwareSigner::from_pkcs8(&pkcs8, "responder")?;
        let subject = crate::name::DistinguishedName::parse(&format!(
            "CN=LGPKI OCSP Responder {name},O=LGPKI,C=JP"
        ))?;
        let csr = crate::csr::build_csr(&signer, &subject.to_der()?)?;
        // A retired generation (`ca.retired`) signs only this: the store records it as
        // PendingCert::by_retired_key.
        let issued = self.issue_by(
            IssuanceRequest {
                profile: "ocsp-signing".into(),
                csr_der: csr,
                ..IssuanceRequest::default()
            },
            ca,
        )?;
        Ok((issued.der, pkcs8))
    }
}

/// The digest of [`Authority::publication_state`]: each CA's name, certificate and status
/// snapshot, then the cross-certificates, length-prefixed.
fn state_digest(cas: &[(String, Vec<u8>, Vec<u8>)], cross: &[(String, Vec<u8>)]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut put = |label: &[u8], data: &[u8]| {
        ctx.update(&(label.len() as u64).to_be_bytes());
        ctx.update(label);
        ctx.update(&(data.len() as u64).to_be_bytes());
        ctx.update(data);
    };
    for (name, cert, snapshot) in cas {
        put(name.as_bytes(), cert);
        put(b"status", snapshot);
    }
    for (name, der) in cross {
        put(name.as_bytes(), der);
    }
    hex::encode(ctx.finish())
}

fn s_public(s: &SoftwareSigner) -> Vec<u8> {
    use crate::key::CaSigner;
    s.public_key_der().to_vec()
}

fn set_mode(p: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).map_err(io(p))
}

fn sync_dir(p: &Path) {
    if let Ok(d) = std::fs::File::open(p) {
        let _ = d.sync_all();
    }
}

fn prune_releases(out: &Path, current: &str) {
    let Ok(entries) = std::fs::read_dir(out.join("releases")) else {
        return;
    };
    let mut ids: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != current)
        .collect();
    // Ids start with the Unix time, so they sort by age.
    ids.sort_by_key(|n| {
        n.split('-')
            .next()
            .and_then(|t| t.parse::<i64>().ok())
            .unwrap_or(0)
    });
    let excess = ids.len().saturating_sub(KEEP_RELEASES);
    for old in ids.into_iter().take(excess) {
        let _ = std::fs::remove_dir_all(out.join("releases").join(old));
    }
}

/// Removes what a publish that was killed midway left behind: `.staging-*` directories (which
/// may hold a responder key) and `.current-*` symlinks. They were never made current.
fn remove_leftovers(out: &Path) {
    let Ok(entries) = std::fs::read_dir(out) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(".staging-") {
            let _ = std::fs::remove_dir_all(e.path());
        } else if name.starts_with(".current-") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_retired_file, retired_file};

    #[test]
    fn retired_file_names_round_trip_and_name_no_other_ca() {
        for g in [1, 2, 12] {
            for ext in ["crt", "key"] {
                let f = retired_file("organization", g, ext);
                assert_eq!(parse_retired_file(&f, "organization", ext), Some(g), "{f}");
            }
        }
        for (file, name, ext) in [
            ("organization.crt", "organization", "crt"),
            ("organization.g2.key", "organization", "crt"),
            ("organization.g02.crt", "organization", "crt"),
            ("organization.g0.crt", "organization", "crt"),
            ("organization.g.crt", "organization", "crt"),
            ("organization.gx.crt", "organization", "crt"),
            ("organization.g2crt", "organization", "crt"),
            ("organization-x.g2.crt", "organization", "crt"),
            ("organization.g2.crt", "org", "crt"),
            ("organization.g99999999999.crt", "organization", "crt"),
        ] {
            assert_eq!(
                parse_retired_file(file, name, ext),
                None,
                "{file} for {name}"
            );
        }
    }
}
