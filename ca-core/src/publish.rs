//! Publications: what relying parties and the stateless `ocsp-responder` need, written by
//! `lgpki publish --out DIR` and read by [`Publication::load`].
//!
//! Layout (one release per publish; `DIR/current` is a symlink swapped atomically):
//!
//! ```text
//! DIR/current -> releases/<id>
//! DIR/releases/<id>/manifest.json         {"format": "lgpki-publication/1", "id", "created", "cas": [names]}
//! DIR/releases/<id>/ca/<name>.crt         CA certificate, DER
//! DIR/releases/<id>/crl/<name>.crl        current full CRL, DER
//! DIR/releases/<id>/status/<name>.bin     status snapshot (below)
//! DIR/releases/<id>/ocsp/<name>.crt       delegated OCSP responder certificate, DER
//! DIR/releases/<id>/ocsp/<name>.key       its private key, PKCS#8 DER, mode 0600
//! DIR/releases/<id>/cross/<name>.crt      cross-certificates, both directions, DER
//! ```
//!
//! A release is written under a temporary name, fsynced, renamed into `releases/`, and only then
//! is `current` switched (a symlink renamed over the old one), so a reader never sees a
//! half-written release. The responder key is the only secret in a publication: it can sign
//! OCSP responses for one CA and nothing else (RFC 6960 §4.2.2.2), and it is re-used from the
//! previous release until half its certificate's lifetime has passed.
//!
//! Status snapshot: `LGPKIST1`, a u32 count (big-endian), then per certificate: u8 serial
//! length, the serial (big-endian magnitude, as in an OCSP CertID), u8 status (0 good,
//! 1 revoked), i64 revocation time (Unix seconds, big-endian), u8 reason code (255: none).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use der::{Decode, Encode};
use zeroize::Zeroizing;

use crate::authority::{Authority, now_seconds};
use crate::crl::ReasonCode;
use crate::error::{Error, Result};
use crate::fsutil::{create_private_dir, write_private_file};
use crate::issue::IssuanceRequest;
use crate::key::{KeyAlgorithm, SoftwareSigner, generate_pkcs8};

const STATUS_MAGIC: &[u8; 8] = b"LGPKIST1";
const FORMAT: &str = "lgpki-publication/1";
/// Releases kept besides the current one (older ones are removed after a publish).
pub const KEEP_RELEASES: usize = 3;

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
    /// Its current full CRL, DER.
    pub crl_der: Vec<u8>,
    /// The delegated OCSP responder certificate, DER.
    pub responder_cert_der: Vec<u8>,
    /// The responder's private key, PKCS#8 DER.
    pub responder_key_pkcs8: Zeroizing<Vec<u8>>,
    /// Status of every certificate the CA issued, by serial (big-endian magnitude).
    pub statuses: HashMap<Vec<u8>, PublishedStatus>,
}

impl std::fmt::Debug for PublishedCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishedCa")
            .field("name", &self.name)
            .field("statuses", &self.statuses.len())
            .finish_non_exhaustive()
    }
}

/// A loaded publication.
#[derive(Clone, Debug)]
pub struct Publication {
    /// The CAs.
    pub cas: Vec<PublishedCa>,
    /// The release id.
    pub id: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Manifest {
    format: String,
    id: String,
    created: String,
    cas: Vec<String>,
}

/// What a publish wrote.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PublishReport {
    /// The release id.
    pub id: String,
    /// The release directory.
    pub path: PathBuf,
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

    /// Loads the release `DIR/current` points to.
    pub fn load(dir: &Path) -> Result<Publication> {
        let id = Publication::current_id(dir)?;
        let rel = dir.join("releases").join(&id);
        let manifest_path = rel.join("manifest.json");
        let manifest: Manifest =
            serde_json::from_slice(&std::fs::read(&manifest_path).map_err(io(&manifest_path))?)
                .map_err(|e| Error::malformed(manifest_path.display().to_string(), e))?;
        if manifest.format != FORMAT {
            return Err(Error::malformed(
                manifest_path.display().to_string(),
                format!("format {:?}, expected {FORMAT}", manifest.format),
            ));
        }
        let read = |p: PathBuf| std::fs::read(&p).map_err(io(&p));
        let mut cas = Vec::new();
        for name in &manifest.cas {
            if name.contains('/') || name.contains("..") {
                return Err(Error::malformed(
                    manifest_path.display().to_string(),
                    format!("bad CA name {name:?}"),
                ));
            }
            let status_path = rel.join("status").join(format!("{name}.bin"));
            let statuses = parse_status(&read(status_path.clone())?)
                .map_err(|e| Error::malformed(status_path.display().to_string(), e))?;
            cas.push(PublishedCa {
                name: name.clone(),
                cert_der: read(rel.join("ca").join(format!("{name}.crt")))?,
                crl_der: read(rel.join("crl").join(format!("{name}.crl")))?,
                responder_cert_der: read(rel.join("ocsp").join(format!("{name}.crt")))?,
                responder_key_pkcs8: Zeroizing::new(read(
                    rel.join("ocsp").join(format!("{name}.key")),
                )?),
                statuses,
            });
        }
        Ok(Publication { cas, id })
    }
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
    /// Writes a new release into `out` and makes it current.
    pub fn publish(&mut self, out: &Path) -> Result<PublishReport> {
        std::fs::create_dir_all(out.join("releases")).map_err(io(out))?;
        remove_leftovers(out);
        let now = now_seconds();
        let mut rnd = [0u8; 4];
        getrandom::fill(&mut rnd).map_err(|e| Error::key("system RNG", e))?;
        let id = format!("{}-{}", now.unix_timestamp(), hex::encode(rnd));
        let staging = out.join(format!(".staging-{id}"));
        for sub in ["ca", "crl", "status", "ocsp", "cross"] {
            create_private_dir(&staging.join(sub))?;
        }
        // Cross-certificates in both directions (ours and imported), for path building.
        for (name, der) in self.cross_certificates()? {
            write_private_file(
                &staging.join("cross").join(format!("{name}.crt")),
                &der,
                true,
            )?;
        }
        let previous = Publication::load(out).ok();
        let mut report = Vec::new();
        let names: Vec<String> = self.cas()?.into_iter().map(|c| c.name).collect();
        for name in &names {
            let rec = self.ca_record(name)?;
            write_private_file(
                &staging.join("ca").join(format!("{name}.crt")),
                &rec.cert_der,
                true,
            )?;
            let crl = self.crl(name, false)?;
            write_private_file(&staging.join("crl").join(format!("{name}.crl")), &crl, true)?;
            let (cert, key) = self.responder_for(name, previous.as_ref())?;
            write_private_file(
                &staging.join("ocsp").join(format!("{name}.crt")),
                &cert,
                true,
            )?;
            write_private_file(
                &staging.join("ocsp").join(format!("{name}.key")),
                &key,
                true,
            )?;
            let mut snapshot = Vec::new();
            let mut count: u32 = 0;
            self.store
                .for_each_status(name, &mut |serial, revoked_at, reason| {
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
                            let code = reason
                                .map(ReasonCode::from_str)
                                .transpose()?
                                .map_or(255, |r| r.code());
                            snapshot.push(code);
                        }
                    }
                    count += 1;
                    Ok(())
                })?;
            let mut file = STATUS_MAGIC.to_vec();
            file.extend_from_slice(&count.to_be_bytes());
            file.extend_from_slice(&snapshot);
            write_private_file(
                &staging.join("status").join(format!("{name}.bin")),
                &file,
                true,
            )?;
            report.push((name.clone(), count as usize));
        }
        let manifest = Manifest {
            format: FORMAT.into(),
            id: id.clone(),
            created: crate::issue::rfc3339(now.unix_timestamp()),
            cas: names,
        };
        write_private_file(
            &staging.join("manifest.json"),
            &serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
            true,
        )?;
        // Make the staging directory readable (0755) for a responder running as another user;
        // the key files stay 0600.
        set_mode(&staging, 0o755)?;
        set_mode(&staging.join("manifest.json"), 0o644)?;
        for sub in ["ca", "crl", "status", "ocsp", "cross"] {
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
            "publish",
            &out.display().to_string(),
            "ok",
            &serde_json::json!({"release": id}),
        )?;
        prune_releases(out, &id);
        Ok(PublishReport {
            id,
            path: release,
            cas: report,
        })
    }

    /// The delegated OCSP responder certificate and key for `ca`: the previous release's if its
    /// certificate was issued by this CA and has more than half its lifetime left, else a new
    /// P-256 key and an `ocsp-signing` certificate.
    fn responder_for(
        &mut self,
        ca: &str,
        previous: Option<&Publication>,
    ) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>)> {
        let ca_rec = self.ca_record(ca)?;
        if let Some(prev) = previous.and_then(|p| p.cas.iter().find(|c| c.name == ca))
            && let Ok(cert) = x509_cert::Certificate::from_der(&prev.responder_cert_der)
        {
            let ca_cert = x509_cert::Certificate::from_der(&ca_rec.cert_der)
                .map_err(|e| Error::malformed("CA certificate", e))?;
            let v = cert.tbs_certificate().validity();
            let nb = v.not_before.to_unix_duration().as_secs() as i64;
            let na = v.not_after.to_unix_duration().as_secs() as i64;
            let same_issuer =
                cert.tbs_certificate().issuer() == ca_cert.tbs_certificate().subject();
            let key_matches = SoftwareSigner::from_pkcs8(&prev.responder_key_pkcs8, "responder")
                .ok()
                .and_then(|s| {
                    cert.tbs_certificate()
                        .subject_public_key_info()
                        .to_der()
                        .ok()
                        .map(|d| d == s_public(&s))
                })
                .unwrap_or(false);
            if same_issuer && key_matches && now_seconds().unix_timestamp() < nb + (na - nb) / 2 {
                return Ok((
                    prev.responder_cert_der.clone(),
                    prev.responder_key_pkcs8.clone(),
                ));
            }
        }
        let pkcs8 = generate_pkcs8(KeyAlgorithm::EcdsaP256)?;
        let signer = SoftwareSigner::from_pkcs8(&pkcs8, "responder")?;
        let subject = crate::name::DistinguishedName::parse(&format!(
            "CN=LGPKI OCSP Responder {ca},O=LGPKI,C=JP"
        ))?;
        let csr = crate::csr::build_csr(&signer, &subject.to_der()?)?;
        let issued = self.issue(IssuanceRequest {
            profile: "ocsp-signing".into(),
            csr_der: csr,
            ca: Some(ca.to_string()),
            ..IssuanceRequest::default()
        })?;
        Ok((issued.der, pkcs8))
    }
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
