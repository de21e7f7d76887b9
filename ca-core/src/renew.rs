//! CA key generations (`ca renew`): a CA gets a new key and a new certificate, and issuance
//! switches to it in one store transaction.
//!
//! - A self-signed CA signs its new certificate itself and gets the two link certificates of
//!   RFC 4210 §4.4 (LGPKI's リンク証明書): OldWithNew (the old key certified by the new one)
//!   and NewWithOld (the new key certified by the old one), so relying parties holding either
//!   anchor validate certificates issued under either key.
//! - A subordinate CA is re-issued by its parent (RFC 5280 §3.2: a new certificate for the
//!   same subject); cross-certificates lgpki issued to or by the CA are re-issued for the new
//!   key, signed before the switch and recorded in its transaction.
//!
//! The old generation's key is kept: it signs OCSP answers for what it issued until the last
//! of those certificates expires ([`Authority::live_generations`]), and CRLs and ARLs at its
//! own distribution point ([`crate::dist::ListPoint`]) one CRL period longer
//! ([`Authority::list_generations`]). What a generation signs names that generation's CRL.
//!
//! A renewal killed at any point leaves the old generation in force or the new one: the new
//! key's label is recorded before the key exists ([`PendingKey`]), the switch is one
//! transaction ([`crate::store::CaStore::renew_ca`]), and the next renewal removes a key a
//! stopped one left behind.

use der::{Decode, Encode};
use time::{Duration, OffsetDateTime};
use x509_cert::Certificate;
use x509_cert::ext::Extension;

use crate::authority::{Authority, LoadedCa, loaded_ca};
use crate::build::{self, from_x509_time};
use crate::cross::CrossCertRequest;
use crate::dist::ListPoint;
use crate::error::{Error, Result};
use crate::key::{CaSigner, KeyAlgorithm, KeyRef};
use crate::lint::{Expectation, IssuerFacts};
use crate::name::name_to_string;
use crate::serial::Serial;
use crate::store::{
    CaGeneration, CaRecord, CaRenewal, CertFilter, CertRecord, CrossPairSide, PendingCert,
    PendingKey,
};

/// The longest CA certificate `ca renew --days` makes (100 years).
pub const MAX_CA_DAYS: u32 = 36_500;

/// Profile name under which link certificates are recorded.
pub const LINK_PROFILE: &str = "link";

/// Environment variable naming a point where `ca renew` stops and waits (for crash tests:
/// the test kills the process there). Points: `renew-pending` (the new key's label recorded),
/// `renew-key` (the key generated), `renew-signed` (every certificate signed, nothing
/// switched), `renew-committed` (switched, with the re-issued cross-certificates; not yet
/// reported).
pub const PAUSE_ENV: &str = "LGPKI_TEST_PAUSE_AT";

/// What `ca renew` may change.
#[derive(Clone, Debug, Default)]
pub struct RenewOptions {
    /// The new key's algorithm (None: the current key's).
    pub key_alg: Option<KeyAlgorithm>,
    /// PKCS#11 token for the new key (None: where the current key is).
    pub key_uri: Option<String>,
    /// Validity of the new CA certificate in days (None: the current certificate's).
    pub days: Option<u32>,
}

/// The outcome of a renewal.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Renewed {
    /// The CA.
    pub ca: String,
    /// Its new generation.
    pub generation: u32,
    /// Serial of its new CA certificate.
    pub serial: Serial,
    /// Serials of the link certificates (OldWithNew, NewWithOld); none for a subordinate CA.
    pub links: Vec<Serial>,
    /// Serials of the re-issued cross-certificates.
    #[serde(skip)]
    pub crosses: Vec<Serial>,
}

/// How long a pause at [`PAUSE_ENV`] lasts, in seconds (default 600).
pub const PAUSE_SECS_ENV: &str = "LGPKI_TEST_PAUSE_SECS";

/// Stops at `point` when [`PAUSE_ENV`] names it, so a test can kill the process there (or
/// act meanwhile, for [`PAUSE_SECS_ENV`] seconds).
fn pause_at(point: &str) {
    if std::env::var(PAUSE_ENV).is_ok_and(|p| p == point) {
        let secs = std::env::var(PAUSE_SECS_ENV)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(600);
        eprintln!("lgpki: paused at {point}");
        std::thread::sleep(std::time::Duration::from_secs(secs));
    }
}

/// A signed certificate not yet recorded: its record and DER.
type SignedCert = (PendingCert, Vec<u8>);

/// One certificate to sign: subject, key, extensions, validity and the signing generation.
struct ToSign<'a> {
    subject_der: &'a [u8],
    subject: &'a str,
    spki: &'a [u8],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    extensions: Vec<Extension>,
}

/// Who signs: name, key identifier, validity (None: self-signed, being made) and key.
struct Signer<'a> {
    ca: &'a str,
    generation: u32,
    subject_der: &'a [u8],
    ski: &'a [u8],
    validity: Option<(OffsetDateTime, OffsetDateTime)>,
    key: &'a dyn CaSigner,
}

/// Lints, signs and returns the record and DER of one CA certificate.
fn sign(profile: &str, cert: &ToSign<'_>, by: &Signer<'_>) -> Result<(PendingCert, Vec<u8>)> {
    let alg = by.key.algorithm();
    let (serial, tbs) = build::linted_tbs(
        &IssuerFacts {
            subject_der: by.subject_der,
            ski: by.ski,
            validity: by.validity,
            signature_algorithm: alg,
        },
        &Expectation {
            ca: true,
            min_rsa_bits: 2048,
        },
        cert.subject_der,
        cert.spki,
        cert.not_before,
        cert.not_after,
        &cert.extensions,
    )?;
    let sig = by.key.sign(&tbs)?;
    let der = build::assemble(&tbs, alg.algorithm_identifier(), &sig)?;
    Ok((
        PendingCert {
            serial: Serial::from_der_content(&serial),
            ca: by.ca.to_string(),
            profile: profile.to_string(),
            subject: cert.subject.to_string(),
            not_before: cert.not_before.unix_timestamp(),
            not_after: cert.not_after.unix_timestamp(),
            tbs_der: tbs,
            request_id: None,
            issuer_generation: Some(by.generation),
            by_retired_key: false,
        },
        der,
    ))
}

/// The extensions of `template` with its key identifiers replaced: subjectKeyIdentifier
/// `ski` and authorityKeyIdentifier `aki` (RFC 5280 §4.2.1.1-2), and a cRLDistributionPoints
/// it has pointing at `crl_url`, the CRL of the key generation that signs the new certificate
/// ([`crate::dist::ListPoint`]); every other extension (basicConstraints, keyUsage, policies,
/// EKU, access descriptions…) is kept as it is.
fn with_key_ids(
    template: &Certificate,
    ski: &[u8],
    aki: &[u8],
    crl_url: &str,
) -> Result<Vec<Extension>> {
    use const_oid::db::rfc5280::{
        ID_CE_AUTHORITY_KEY_IDENTIFIER, ID_CE_CRL_DISTRIBUTION_POINTS, ID_CE_SUBJECT_KEY_IDENTIFIER,
    };
    let mut out = Vec::new();
    let (mut had_ski, mut had_aki) = (false, false);
    for e in template
        .tbs_certificate()
        .extensions()
        .into_iter()
        .flatten()
    {
        if e.extn_id == ID_CE_SUBJECT_KEY_IDENTIFIER {
            out.push(build::subject_key_identifier(ski)?);
            had_ski = true;
        } else if e.extn_id == ID_CE_AUTHORITY_KEY_IDENTIFIER {
            out.push(build::authority_key_identifier(aki)?);
            had_aki = true;
        } else if e.extn_id == ID_CE_CRL_DISTRIBUTION_POINTS {
            out.push(build::crl_distribution_point(crl_url)?);
        } else {
            out.push(e.clone());
        }
    }
    if !had_ski {
        out.push(build::subject_key_identifier(ski)?);
    }
    if !had_aki {
        out.push(build::authority_key_identifier(aki)?);
    }
    Ok(out)
}

impl Authority {
    /// Renews CA `name`: a new key (generation one above the one in force), a new CA
    /// certificate and, for a self-signed CA, the link certificates; recorded in one store
    /// transaction with the cross-certificates lgpki issued to or by the CA re-issued for the
    /// new key, after which issuance uses the new key.
    pub fn renew_ca(&mut self, name: &str, opts: &RenewOptions) -> Result<Renewed> {
        let record = self.ca_record(name)?;
        if let Some(days) = opts.days
            && (days == 0 || days > MAX_CA_DAYS)
        {
            return Err(Error::InvalidArgument {
                name: "--days",
                value: days.to_string(),
                reason: format!("a CA certificate is valid for 1 to {MAX_CA_DAYS} days"),
            });
        }
        let old = self.load_ca(name)?;
        let parent = match &record.parent {
            Some(p) => Some(self.load_ca(p)?),
            None => None,
        };
        let generation = record.generation + 1;
        let key_alg = opts.key_alg.unwrap_or(record.key_alg);
        let key_uri = match &opts.key_uri {
            Some(u) => Some(u.clone()),
            None if record.key_ref.starts_with("pkcs11:") => Some(record.key_ref.clone()),
            None => None,
        };
        // The token (or the passphrase) must be usable before anything is recorded.
        let backend = self.keys.generator(key_uri.as_deref())?;
        // Keys of renewals that stopped (or still run: they are cancelled).
        for p in self.store.pending_keys(name)? {
            self.discard_pending_key(&p)?;
        }
        let mut rnd = [0u8; 4];
        getrandom::fill(&mut rnd).map_err(|e| Error::key("system RNG", e))?;
        let pending = PendingKey {
            ca: name.to_string(),
            generation,
            label: format!("{name}-g{generation}-{}", hex::encode(rnd)),
            key_uri: key_uri.clone(),
        };
        self.store.record_pending_key(&pending)?;
        pause_at("renew-pending");
        let result = backend
            .generate(key_alg, &pending.label)
            .and_then(|key| {
                pause_at("renew-key");
                let signer = backend.load(&key)?;
                let mut renewal = self.renewal(
                    &record,
                    &old,
                    parent.as_ref(),
                    generation,
                    (key, key_alg),
                    signer.clone(),
                    opts,
                )?;
                // The cross-certificates for the new key, signed now and recorded with the
                // switch: a renewal stopped at any point leaves the old key with its crosses or
                // the new key with its re-issued ones, never the new key without them.
                let new = loaded_ca(renewal.ca.clone(), signer)?;
                let (crosses, sides) = self.renewal_crosses(&old, &new)?;
                renewal.crosses = crosses;
                renewal.cross_sides = sides;
                Ok(renewal)
            })
            .and_then(|mut renewal| {
                renewal.pending_label = Some(pending.label.clone());
                pause_at("renew-signed");
                self.store.renew_ca(&self.actor, &renewal)?;
                Ok(renewal)
            });
        let renewal = match result {
            Ok(r) => r,
            Err(e) => {
                // Nothing switched: remove the new key (best effort; a key left behind stays
                // recorded as pending and the next renewal removes it).
                let _ = self.discard_pending_key(&pending);
                return Err(e);
            }
        };
        pause_at("renew-committed");
        self.loaded.remove(name);
        let crosses = renewal
            .crosses
            .iter()
            .map(|(p, _)| p.serial.clone())
            .collect();
        Ok(Renewed {
            ca: name.to_string(),
            generation,
            serial: renewal.cert.serial.clone(),
            links: renewal
                .links
                .iter()
                .map(|(p, _)| p.serial.clone())
                .collect(),
            crosses,
        })
    }

    /// Removes the key a renewal was generating and did not switch to, and forgets it:
    /// claimed first, so that the renewal that made it can no longer switch to it.
    fn discard_pending_key(&mut self, p: &PendingKey) -> Result<()> {
        if !self.store.claim_pending_key(&p.ca, &p.label)? {
            return Ok(());
        }
        self.keys
            .generator(p.key_uri.as_deref())?
            .discard(&p.label)?;
        self.store.clear_pending_key(&p.ca, &p.label)
    }

    /// Signs everything a renewal records (nothing is recorded yet).
    #[allow(clippy::too_many_arguments)]
    fn renewal(
        &self,
        record: &CaRecord,
        old: &LoadedCa,
        parent: Option<&LoadedCa>,
        generation: u32,
        (key, key_alg): (KeyRef, KeyAlgorithm),
        signer: std::sync::Arc<dyn CaSigner>,
        opts: &RenewOptions,
    ) -> Result<CaRenewal> {
        let spki = signer.public_key_der().to_vec();
        let ski = build::key_identifier(&spki)?;
        let old_spki = old
            .cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(Error::encode("CA public key"))?;
        let subject = name_to_string(old.cert.tbs_certificate().subject());
        let now = self.now();
        let days = opts.days.map_or(old.not_after - old.not_before, |d| {
            Duration::days(i64::from(d))
        });
        let mut not_after = now + days;
        if let Some(p) = parent {
            // RFC 5280 §6.1.3 (a)(2): nothing outlives its issuer.
            not_after = not_after.min(p.not_after);
        }
        if not_after <= now {
            return Err(Error::PolicyRefused {
                detail: format!("CA {:?}'s issuer expires now: renew it first", record.name),
            });
        }
        let new_self = Signer {
            ca: &record.name,
            generation,
            subject_der: &old.subject_der,
            ski: &ski,
            validity: None,
            key: signer.as_ref(),
        };
        let (issuer, aki) = match parent {
            Some(p) => (
                Signer {
                    ca: &p.record.name,
                    generation: p.record.generation,
                    subject_der: &p.subject_der,
                    ski: &p.ski,
                    validity: Some((p.not_before, p.not_after)),
                    key: p.signer.as_ref(),
                },
                p.ski.clone(),
            ),
            None => (
                Signer {
                    validity: None,
                    ..new_self
                },
                ski.clone(),
            ),
        };
        // Each certificate names the CRL of the key generation that signs it.
        let base = self.base_url()?;
        let crl_of = |ca: &str, g: u32| ListPoint::new(ca, g).crl_url(&base);
        let new_cert = ToSign {
            subject_der: &old.subject_der,
            subject: &subject,
            spki: &spki,
            not_before: now,
            not_after,
            extensions: with_key_ids(&old.cert, &ski, &aki, &crl_of(issuer.ca, issuer.generation))?,
        };
        let (cert, cert_der) = sign(
            if parent.is_some() { "sub-ca" } else { "root" },
            &new_cert,
            &issuer,
        )?;
        let mut links = Vec::new();
        if parent.is_none() {
            // RFC 4210 §4.4: OldWithNew, the old public key signed with the new private key;
            // within the new certificate's validity and no longer than the old one's.
            let old_with_new = ToSign {
                subject_der: &old.subject_der,
                subject: &subject,
                spki: &old_spki,
                not_before: now,
                not_after: old.not_after.min(not_after),
                extensions: with_key_ids(
                    &old.cert,
                    &old.ski,
                    &ski,
                    &crl_of(&record.name, generation),
                )?,
            };
            links.push(sign(
                LINK_PROFILE,
                &old_with_new,
                &Signer {
                    validity: Some((now, not_after)),
                    ..new_self
                },
            )?);
            // NewWithOld, the new public key signed with the old private key; within the old
            // certificate's validity.
            let new_cert_parsed = Certificate::from_der(&cert_der)
                .map_err(|e| Error::malformed("new CA certificate", e))?;
            let new_with_old = ToSign {
                subject_der: &old.subject_der,
                subject: &subject,
                spki: &spki,
                not_before: now,
                not_after: old.not_after.min(not_after),
                extensions: with_key_ids(
                    &new_cert_parsed,
                    &ski,
                    &old.ski,
                    &crl_of(&record.name, record.generation),
                )?,
            };
            links.push(sign(
                LINK_PROFILE,
                &new_with_old,
                &Signer {
                    ca: &record.name,
                    generation: record.generation,
                    subject_der: &old.subject_der,
                    ski: &old.ski,
                    validity: Some((old.not_before, old.not_after)),
                    key: old.signer.as_ref(),
                },
            )?);
        }
        Ok(CaRenewal {
            ca: CaRecord {
                key_ref: key.0,
                key_alg,
                cert_der: cert_der.clone(),
                generation,
                ..record.clone()
            },
            cert,
            cert_der,
            links,
            crosses: Vec::new(),
            cross_sides: Vec::new(),
            pending_label: None,
        })
    }

    /// The link certificates of CA `name` (profile `link`), oldest first: for each renewal,
    /// OldWithNew then NewWithOld.
    pub fn ca_links(&self, name: &str) -> Result<Vec<CertRecord>> {
        self.ca_record(name)?;
        self.store.certs(&CertFilter {
            ca: Some(name.to_string()),
            profile: Some(LINK_PROFILE.to_string()),
            ..Default::default()
        })
    }

    /// The retired generations of CA `name` that still sign CRLs and OCSP answers: those
    /// that signed a certificate that has not expired yet (RFC 5280 §5: a CRL covers a
    /// certificate until it expires), oldest first.
    pub fn live_generations(&self, name: &str) -> Result<Vec<CaGeneration>> {
        let now = self.now().unix_timestamp();
        let mut out = Vec::new();
        for g in self.store.ca_generations(name)? {
            if self
                .store
                .generation_last_expiry(name, g.generation)?
                .is_some_and(|t| t >= now)
            {
                out.push(g);
            }
        }
        Ok(out)
    }

    /// The key generations of CA `name` that publish a CRL and an ARL now, oldest first: the
    /// one in force, and each retired one until `keep` (the lists' validity) after the last
    /// certificate it signed expires ([`crate::dist::ListPoint`] names their URLs).
    ///
    /// Why `keep` past the last expiry: an entry must appear on one regularly scheduled CRL
    /// issued after the certificate's validity period (RFC 5280 §3.3), and a generation's
    /// certificates can be revoked until the last of them expires. After that, every
    /// certificate that names the generation's distribution point has expired, and a relying
    /// party rejects it whatever a CRL says (RFC 5280 §6.1.3 (a)(2)): the generation's lists
    /// are no longer refreshed, and `serve` and `publish` stop offering them rather than serve
    /// one past its nextUpdate as current.
    pub fn list_generations(&self, name: &str, keep: Duration) -> Result<Vec<u32>> {
        let record = self.ca_record(name)?;
        let now = self.now().unix_timestamp();
        let mut out = Vec::new();
        for g in self.store.ca_generations(name)? {
            if g.generation != record.generation
                && self
                    .store
                    .generation_last_expiry(name, g.generation)?
                    .is_some_and(|t| t.saturating_add(keep.whole_seconds()) >= now)
            {
                out.push(g.generation);
            }
        }
        out.sort_unstable();
        out.dedup();
        out.push(record.generation);
        Ok(out)
    }

    /// CA `name` as generation `generation` (None: the one in force) signs: a retired
    /// generation's certificate and key, checked against each other.
    pub fn load_generation(&mut self, name: &str, generation: Option<u32>) -> Result<LoadedCa> {
        let record = self.ca_record(name)?;
        let generation = match generation {
            Some(g) if g != record.generation => g,
            _ => return self.load_ca(name),
        };
        let g = self
            .store
            .ca_generations(name)?
            .into_iter()
            .find(|g2| g2.generation == generation)
            .ok_or_else(|| Error::InvalidArgument {
                name: "--generation",
                value: generation.to_string(),
                reason: format!("CA {name:?} has generations 1 to {}", record.generation),
            })?;
        let key = KeyRef(g.key_ref.clone());
        let signer = self.keys.backend_for(&key)?.load(&key)?;
        let mut ca = loaded_ca(
            CaRecord {
                cert_der: g.cert_der,
                key_ref: g.key_ref,
                key_alg: g.key_alg,
                generation: g.generation,
                ..record
            },
            signer,
        )?;
        ca.retired = true;
        Ok(ca)
    }

    /// Signs, for CA `old`'s new key (`new`, not yet in force), the unexpired, unrevoked
    /// cross-certificates lgpki issued by it (now signed by the new key) and to it (now
    /// certifying the new key); with the pair halves they fill (RFC 4523 §2.5). Nothing is
    /// recorded: [`crate::store::Store::renew_ca`] records them with the switch.
    fn renewal_crosses(
        &mut self,
        old: &LoadedCa,
        new: &LoadedCa,
    ) -> Result<(Vec<SignedCert>, Vec<CrossPairSide>)> {
        let name = new.record.name.as_str();
        let now = self.now().unix_timestamp();
        let crosses = self.store.certs(&CertFilter {
            profile: Some("cross".into()),
            ..Default::default()
        })?;
        let old_spki = old
            .cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(Error::encode("CA public key"))?;
        // Our CAs as they are once the switch commits, for the pair halves.
        let cas: Vec<CaRecord> = self
            .cas()?
            .into_iter()
            .map(|c| {
                if c.name == name {
                    new.record.clone()
                } else {
                    c
                }
            })
            .collect();
        let mut out = Vec::new();
        let mut sides = Vec::new();
        // Newest first, one re-issue per (issuer, subject): an earlier renewal's re-issue
        // and the cross-certificate it replaced are both still valid, and stand for one.
        let mut done: Vec<(String, String)> = Vec::new();
        for c in crosses.into_iter().rev() {
            if c.revoked_at.is_some() || c.not_after < now {
                continue;
            }
            let pair = (c.ca.clone(), c.subject.clone());
            if done.contains(&pair) {
                continue;
            }
            done.push(pair);
            let cert = Certificate::from_der(&c.der)
                .map_err(|e| Error::malformed("stored cross-certificate", e))?;
            let to_old_key = cert
                .tbs_certificate()
                .subject_public_key_info()
                .to_der()
                .ok()
                .is_some_and(|s| s == old_spki);
            let mut req = request_from_certificate(&cert)?;
            req.ca = c.ca.clone();
            let signed = if c.ca == name {
                // Issued by the CA: the same subject, now signed with the new key.
                req.subject_cert_der = c.der.clone();
                self.sign_cross(new, &req)?
            } else if to_old_key {
                // Issued to the CA by another of ours: certify the new key instead.
                req.subject_cert_der = new.record.cert_der.clone();
                let issuer = self.load_ca(&c.ca)?;
                self.sign_cross(&issuer, &req)?
            } else {
                continue;
            };
            sides.extend(crate::cross::sides_of(&cas, Some(&c.ca), &signed.1)?);
            out.push(signed);
        }
        Ok((out, sides))
    }
}

/// The cross-certification request that `cert` (a cross-certificate lgpki issued) answered:
/// its policy mappings and constraints, name constraints, pathLenConstraint and lifetime.
fn request_from_certificate(cert: &Certificate) -> Result<CrossCertRequest> {
    use const_oid::db::rfc5280;
    use x509_cert::ext::pkix::name::GeneralName;
    use x509_cert::ext::pkix::{
        BasicConstraints, InhibitAnyPolicy, NameConstraints, PolicyConstraints,
    };
    let tbs = cert.tbs_certificate();
    let bad = |e: der::Error| Error::malformed("stored cross-certificate", e);
    let mut req = CrossCertRequest::default();
    // certificatePolicies and policyMappings as DER OIDs (any X.660 arc, e.g. 2.999.1.1).
    for e in tbs.extensions().into_iter().flatten() {
        let v = e.extn_value.as_bytes();
        let malformed = |d: String| Error::malformed("stored cross-certificate", d);
        if e.extn_id == rfc5280::ID_CE_CERTIFICATE_POLICIES {
            req.policies = crate::verify::cert::decode_policies(v).map_err(malformed)?;
        } else if e.extn_id == rfc5280::ID_CE_POLICY_MAPPINGS {
            req.mappings = crate::verify::cert::decode_mappings(v).map_err(malformed)?;
        }
    }
    if let Some((_, pc)) = tbs.get_extension::<PolicyConstraints>().map_err(bad)? {
        req.require_explicit_policy = pc.require_explicit_policy;
        req.inhibit_policy_mapping = pc.inhibit_policy_mapping;
    }
    if let Some((_, ia)) = tbs.get_extension::<InhibitAnyPolicy>().map_err(bad)? {
        req.inhibit_any_policy = Some(ia.0);
    }
    if let Some((_, nc)) = tbs.get_extension::<NameConstraints>().map_err(bad)? {
        let dns = |t: &Option<Vec<x509_cert::ext::pkix::constraints::name::GeneralSubtree>>| {
            t.iter()
                .flatten()
                .filter_map(|s| match &s.base {
                    GeneralName::DirectoryName(n) => Some(name_to_string(n)),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        req.permitted = dns(&nc.permitted_subtrees);
        req.excluded = dns(&nc.excluded_subtrees);
    }
    if let Some((_, bc)) = tbs.get_extension::<BasicConstraints>().map_err(bad)? {
        req.path_len = bc.path_len_constraint;
    }
    let v = tbs.validity();
    let lifetime = from_x509_time(&v.not_after) - from_x509_time(&v.not_before);
    req.days = u32::try_from(lifetime.whole_days().max(1)).unwrap_or(MAX_CA_DAYS);
    Ok(req)
}
