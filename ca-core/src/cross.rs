//! Cross-certification (RFC 5280 §3.2, §4.2.1.5, §4.2.1.10, §4.2.1.11, §4.2.1.14): our CA (the
//! bridge) certifies another domain's CA — e.g. the GPKI bridge CA — with policy mappings and
//! constraints; and certificates the other side issued to our CAs are imported and published.

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280;
use der::asn1::OctetString;
use der::{Decode, Encode};
use time::Duration;
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::constraints::name::GeneralSubtree;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    InhibitAnyPolicy, NameConstraints, PolicyConstraints, SubjectKeyIdentifier,
};

use crate::authority::{Authority, LoadedCa};
use crate::build::{self};
use crate::error::{Error, Result};
use crate::issue::Issued;
use crate::lint::Expectation;
use crate::name::{DistinguishedName, name_to_string};
use crate::oid::Oid;
use crate::profile::KeyUsageBit;
use crate::serial::Serial;
use crate::store::{CaRecord, CrossDirection, CrossPair, CrossPairSide, PendingCert};

/// anyPolicy (RFC 5280 §4.2.1.4).
pub const ANY_POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.32.0");

/// What a cross-certificate says.
#[derive(Clone, Debug, Default)]
pub struct CrossCertRequest {
    /// Our issuing CA (usually `bridge`).
    pub ca: String,
    /// The other CA's certificate, DER.
    pub subject_cert_der: Vec<u8>,
    /// policyMappings: (issuerDomainPolicy = ours, subjectDomainPolicy = theirs); OIDs of any
    /// X.660 shape (`2.999.1.1` included).
    pub mappings: Vec<(Oid, Oid)>,
    /// certificatePolicies to assert. Empty: the mapped issuer-domain policies, else every
    /// LGPKI class.
    pub policies: Vec<Oid>,
    /// policyConstraints requireExplicitPolicy.
    pub require_explicit_policy: Option<u32>,
    /// policyConstraints inhibitPolicyMapping.
    pub inhibit_policy_mapping: Option<u32>,
    /// inhibitAnyPolicy skipCerts.
    pub inhibit_any_policy: Option<u32>,
    /// nameConstraints permitted directoryName subtrees (RFC 4514 DNs).
    pub permitted: Vec<String>,
    /// nameConstraints excluded directoryName subtrees.
    pub excluded: Vec<String>,
    /// pathLenConstraint.
    pub path_len: Option<u8>,
    /// Validity in days (clamped to our CA's).
    pub days: u32,
}

/// Parses `ISSUER_OID=SUBJECT_OID`: dotted OIDs of any X.660 shape (under arc 2 the second arc
/// may exceed 39, X.660 §A.3).
pub fn parse_mapping(s: &str) -> Result<(Oid, Oid)> {
    let bad = |reason: &str| Error::InvalidArgument {
        name: "--map",
        value: s.to_string(),
        reason: reason.to_string(),
    };
    let (a, b) = s
        .split_once('=')
        .ok_or_else(|| bad("expected ISSUER_OID=SUBJECT_OID"))?;
    let a: Oid = a
        .trim()
        .parse()
        .map_err(|e| bad(&format!("issuer-domain policy is not an OID ({e})")))?;
    let b: Oid = b
        .trim()
        .parse()
        .map_err(|e| bad(&format!("subject-domain policy is not an OID ({e})")))?;
    // RFC 5280 §4.2.1.5: policies MUST NOT be mapped to or from anyPolicy.
    if a == ANY_POLICY || b == ANY_POLICY {
        return Err(bad("anyPolicy cannot be mapped (RFC 5280 §4.2.1.5)"));
    }
    Ok((a, b))
}

fn ext<T: Encode>(
    oid: ObjectIdentifier,
    critical: bool,
    v: &T,
    what: &'static str,
) -> Result<Extension> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(v.to_der().map_err(Error::encode(what))?)
            .map_err(Error::encode(what))?,
    })
}

/// Signs `tbs` with `ca`'s key: the certificate, DER.
fn sign_tbs(ca: &LoadedCa, tbs: &[u8]) -> Result<Vec<u8>> {
    let sig = ca.signer.sign(tbs)?;
    build::assemble(tbs, ca.signer.algorithm().algorithm_identifier(), &sig)
}

fn subtrees(dns: &[String]) -> Result<Option<Vec<GeneralSubtree>>> {
    if dns.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for d in dns {
        let mut dn = DistinguishedName::parse(d)?;
        dn.canonicalize();
        out.push(GeneralSubtree {
            base: GeneralName::DirectoryName(dn.to_name()?),
            minimum: 0,
            maximum: None,
        });
    }
    Ok(Some(out))
}

impl Authority {
    /// Issues a cross-certificate from our CA `req.ca` to the CA in `req.subject_cert_der`,
    /// records it (profile `cross`) and returns it.
    pub fn cross_certify(&mut self, req: &CrossCertRequest) -> Result<Issued> {
        let ca = self.load_ca(&req.ca)?;
        let pending = self.cross_tbs(&ca, req)?;
        self.store.reserve(std::slice::from_ref(&pending))?;
        let der = sign_tbs(&ca, &pending.tbs_der)?;
        self.store
            .complete(&self.actor, &[(pending.serial.clone(), der.clone())])?;
        // Recorded as a pair half of our CA (and of the subject's, when it is ours too); also
        // finishes any cross-certificate an interrupted run left unpaired.
        self.sync_cross_pairs()?;
        Ok(crate::issue::issued_from(
            pending.serial,
            pending.ca,
            pending.profile,
            pending.subject,
            pending.not_before,
            pending.not_after,
            der,
            false,
        ))
    }

    /// A cross-certificate from `ca` (as its key generation in `ca.record` signs) to the CA in
    /// `req.subject_cert_der`, linted and signed; nothing recorded (`ca renew` records it with
    /// the switch to a new key).
    pub(crate) fn sign_cross(
        &self,
        ca: &LoadedCa,
        req: &CrossCertRequest,
    ) -> Result<(PendingCert, Vec<u8>)> {
        let pending = self.cross_tbs(ca, req)?;
        let der = sign_tbs(ca, &pending.tbs_der)?;
        Ok((pending, der))
    }

    /// The linted, unsigned cross-certificate from `ca` that `req` asks for, as a record.
    fn cross_tbs(&self, ca: &LoadedCa, req: &CrossCertRequest) -> Result<PendingCert> {
        let subject = Certificate::from_der(&req.subject_cert_der)
            .map_err(|e| Error::malformed("subject CA certificate", e))?;
        let stbs = subject.tbs_certificate();
        let is_ca = stbs
            .get_extension::<x509_cert::ext::pkix::BasicConstraints>()
            .ok()
            .flatten()
            .is_some_and(|(_, bc)| bc.ca);
        if !is_ca {
            return Err(Error::PolicyRefused {
                detail: "the subject certificate is not a CA certificate (basicConstraints cA)"
                    .into(),
            });
        }
        let subject_der = stbs.subject().to_der().map_err(Error::encode("subject"))?;
        if subject_der == ca.subject_der {
            return Err(Error::PolicyRefused {
                detail: "a CA does not cross-certify itself".into(),
            });
        }
        let spki = stbs
            .subject_public_key_info()
            .to_der()
            .map_err(Error::encode("subject key"))?;
        // Keep the subject CA's own key identifier so AKI matching works in both domains.
        let ski = match stbs.get_extension::<SubjectKeyIdentifier>().ok().flatten() {
            Some((_, s)) => s.0.as_bytes().to_vec(),
            None => build::key_identifier(&spki)?,
        };
        let base = self.base_url()?;
        let mut policies: Vec<Oid> = req.policies.clone();
        if policies.is_empty() {
            policies = req.mappings.iter().map(|(a, _)| a.clone()).collect();
        }
        if policies.is_empty() {
            policies = self.lgpki_policy_oids()?.iter().map(Oid::from).collect();
        }
        policies.sort();
        policies.dedup();
        // RFC 5280 §4.2.1.5: each issuerDomainPolicy should also be asserted in
        // certificatePolicies, else the mapping can never apply.
        if let Some((a, _)) = req.mappings.iter().find(|(a, _)| !policies.contains(a)) {
            return Err(Error::PolicyRefused {
                detail: format!("mapped policy {a} is not among the asserted policies"),
            });
        }
        let mut exts = vec![
            build::basic_constraints(true, req.path_len)?,
            build::key_usage(&[KeyUsageBit::KeyCertSign, KeyUsageBit::CrlSign])?,
            build::subject_key_identifier(&ski)?,
            build::authority_key_identifier(&ca.ski)?,
            build::certificate_policies_oids(&policies)?,
        ];
        if !req.mappings.is_empty() {
            // RFC 5280 §4.2.1.5: conforming CAs SHOULD mark this extension critical.
            exts.push(build::policy_mappings(&req.mappings)?);
        }
        if req.require_explicit_policy.is_some() || req.inhibit_policy_mapping.is_some() {
            let pc = PolicyConstraints {
                require_explicit_policy: req.require_explicit_policy,
                inhibit_policy_mapping: req.inhibit_policy_mapping,
            };
            // RFC 5280 §4.2.1.11: MUST be critical.
            exts.push(ext(
                rfc5280::ID_CE_POLICY_CONSTRAINTS,
                true,
                &pc,
                "policyConstraints",
            )?);
        }
        if let Some(n) = req.inhibit_any_policy {
            // RFC 5280 §4.2.1.14: MUST be critical.
            exts.push(ext(
                rfc5280::ID_CE_INHIBIT_ANY_POLICY,
                true,
                &InhibitAnyPolicy(n),
                "inhibitAnyPolicy",
            )?);
        }
        let permitted = subtrees(&req.permitted)?;
        let excluded = subtrees(&req.excluded)?;
        if permitted.is_some() || excluded.is_some() {
            // RFC 5280 §4.2.1.10: MUST be critical.
            exts.push(ext(
                rfc5280::ID_CE_NAME_CONSTRAINTS,
                true,
                &NameConstraints {
                    permitted_subtrees: permitted,
                    excluded_subtrees: excluded,
                },
                "nameConstraints",
            )?);
        }
        exts.push(build::crl_distribution_point(&ca.crl_url(&base))?);
        exts.push(build::issuer_access(&base, &ca.record.name, true)?);
        // The subject's repository is ours to name only when the subject is one of our CAs
        // (RFC 5280 §4.2.2.2).
        if let Some(ours) = self.cas()?.into_iter().find(|c| {
            Certificate::from_der(&c.cert_der).ok().is_some_and(|cc| {
                cc.tbs_certificate().subject().to_der().ok().as_deref()
                    == Some(subject_der.as_slice())
            })
        }) {
            exts.push(build::ca_repository(&base, &ours.name)?);
        }

        let now = self.now();
        let not_after = (now + Duration::days(i64::from(req.days.max(1)))).min(ca.not_after);
        let (serial, tbs) = build::linted_tbs(
            &ca.issuer_facts(),
            &Expectation {
                ca: true,
                min_rsa_bits: 2048,
            },
            &subject_der,
            &spki,
            now,
            not_after,
            &exts,
        )?;
        Ok(PendingCert {
            serial: Serial::from_der_content(&serial),
            ca: ca.record.name.clone(),
            profile: "cross".into(),
            subject: name_to_string(stbs.subject()),
            not_before: now.unix_timestamp(),
            not_after: not_after.unix_timestamp(),
            tbs_der: tbs,
            request_id: None,
            issuer_generation: Some(ca.record.generation),
            by_retired_key: false,
        })
    }

    /// Imports a cross-certificate another domain issued to one of our CAs: its subject and key
    /// must be one of ours. Returns the name it is published under.
    pub fn import_cross(&mut self, der_bytes: &[u8]) -> Result<String> {
        let cert = Certificate::from_der(der_bytes)
            .map_err(|e| Error::malformed("cross-certificate", e))?;
        let tbs = cert.tbs_certificate();
        let spki = tbs
            .subject_public_key_info()
            .to_der()
            .map_err(Error::encode("key"))?;
        let subject = tbs.subject().to_der().map_err(Error::encode("subject"))?;
        let ours = self.cas()?.into_iter().find(|c| {
            Certificate::from_der(&c.cert_der).ok().is_some_and(|cc| {
                cc.tbs_certificate()
                    .subject_public_key_info()
                    .to_der()
                    .ok()
                    .as_deref()
                    == Some(spki.as_slice())
                    && cc.tbs_certificate().subject().to_der().ok().as_deref()
                        == Some(subject.as_slice())
            })
        });
        let ours = ours.ok_or_else(|| Error::PolicyRefused {
            detail: "the certificate does not certify one of our CAs (subject and key)".into(),
        })?;
        let name = format!(
            "imported-{}",
            &hex::encode(ring::digest::digest(&ring::digest::SHA256, der_bytes))[..16]
        );
        self.store.import_cert(
            &self.actor,
            &name,
            &ours.name,
            &name_to_string(tbs.issuer()),
            der_bytes,
        )?;
        self.sync_cross_pairs()?;
        Ok(name)
    }

    /// Cross-certificates in both directions, by published name: `cross-SERIAL` (ours) and
    /// `imported-…` (issued to us).
    pub fn cross_certificates(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let mut out: Vec<(String, Vec<u8>)> = self
            .store
            .certs(&crate::store::CertFilter {
                profile: Some("cross".into()),
                ..Default::default()
            })?
            .into_iter()
            .map(|c| (format!("cross-{}", c.serial), c.der))
            .collect();
        out.extend(self.store.imported_certs()?);
        Ok(out)
    }
}

/// Meta key set once the cross-certificates of a home made before pairs were stored have been
/// recorded as pairs.
const PAIRS_MIGRATED_KEY: &str = "cross_pairs_migrated";

/// The key identifiers a certificate names: (subjectKeyIdentifier, authorityKeyIdentifier),
/// hex; the SKI is computed (RFC 5280 §4.2.1.2 method 1) when absent, the AKI empty.
fn key_ids(cert: &Certificate) -> Result<(String, String)> {
    let tbs = cert.tbs_certificate();
    let ski = match tbs.get_extension::<SubjectKeyIdentifier>().ok().flatten() {
        Some((_, s)) => s.0.as_bytes().to_vec(),
        None => build::key_identifier(
            &tbs.subject_public_key_info()
                .to_der()
                .map_err(Error::encode("key"))?,
        )?,
    };
    let aki = tbs
        .get_extension::<x509_cert::ext::pkix::AuthorityKeyIdentifier>()
        .ok()
        .flatten()
        .and_then(|(_, a)| a.key_identifier)
        .map(|k| k.as_bytes().to_vec())
        .unwrap_or_default();
    Ok((hex::encode(ski), hex::encode(aki)))
}

/// The pair halves a cross-certificate fills among our CAs `cas`: issuedByThisCA of the CA
/// whose name issued it (`issuer_ca`, when ours), issuedToThisCA of the CA whose name and key
/// it certifies (RFC 4523 §2.5).
pub(crate) fn sides_of(
    cas: &[CaRecord],
    issuer_ca: Option<&str>,
    der_bytes: &[u8],
) -> Result<Vec<CrossPairSide>> {
    let cert =
        Certificate::from_der(der_bytes).map_err(|e| Error::malformed("cross-certificate", e))?;
    let tbs = cert.tbs_certificate();
    let (ski, aki) = key_ids(&cert)?;
    let subject = tbs.subject().to_der().map_err(Error::encode("subject"))?;
    let spki = tbs
        .subject_public_key_info()
        .to_der()
        .map_err(Error::encode("key"))?;
    let mut sides = Vec::new();
    if let Some(issuer) = issuer_ca {
        sides.push(CrossPairSide {
            ca: issuer.to_string(),
            ca_key: aki.clone(),
            peer: name_to_string(tbs.subject()),
            peer_key: ski,
            direction: CrossDirection::IssuedByThisCa,
            der: der_bytes.to_vec(),
        });
    }
    let to_us = cas.iter().find_map(|c| {
        let cc = Certificate::from_der(&c.cert_der).ok()?;
        let t = cc.tbs_certificate();
        (t.subject().to_der().ok().as_deref() == Some(subject.as_slice())
            && t.subject_public_key_info().to_der().ok().as_deref() == Some(spki.as_slice()))
        .then_some((c, cc))
    });
    if let Some((ours, ours_cert)) = to_us {
        // Our key as our own certificate names it (the other domain may compute its SKI
        // another way).
        let (ours_ski, _) = key_ids(&ours_cert)?;
        sides.push(CrossPairSide {
            ca: ours.name.clone(),
            ca_key: ours_ski,
            peer: name_to_string(tbs.issuer()),
            peer_key: aki,
            direction: CrossDirection::IssuedToThisCa,
            der: der_bytes.to_vec(),
        });
    }
    Ok(sides)
}

impl Authority {
    /// Records every cross-certificate (issued here or imported) not yet in a pair; returns
    /// how many halves were recorded. Idempotent.
    pub fn sync_cross_pairs(&mut self) -> Result<usize> {
        let cas = self.cas()?;
        let mut sides = Vec::new();
        for c in self.store.certs(&crate::store::CertFilter {
            profile: Some("cross".into()),
            ..Default::default()
        })? {
            sides.extend(sides_of(&cas, Some(&c.ca), &c.der)?);
        }
        for (_, der_bytes) in self.store.imported_certs()? {
            sides.extend(sides_of(&cas, None, &der_bytes)?);
        }
        self.store.record_cross_sides(&self.actor, &sides)
    }

    /// Records, once, the cross-certificates of a home made before pairs were stored (called
    /// when the CA is opened).
    pub(crate) fn migrate_cross_pairs(&mut self) -> Result<()> {
        if self.store.meta(PAIRS_MIGRATED_KEY)?.is_some() {
            return Ok(());
        }
        self.sync_cross_pairs()?;
        self.store.set_meta(PAIRS_MIGRATED_KEY, "1")
    }

    /// The cross-certificate pairs of CA `name` (RFC 4523 §2.5), oldest first.
    pub fn cross_pairs(&self, name: &str) -> Result<Vec<CrossPair>> {
        self.ca_record(name)?;
        self.store.cross_pairs(Some(name))
    }

    /// Every cross-certificate issued to or by CA `name`, DER, oldest pair first
    /// (`ca cert NAME --cross`).
    pub fn cross_certificates_of(&self, name: &str) -> Result<Vec<Vec<u8>>> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        for p in self.cross_pairs(name)? {
            for d in [p.issued_to_this_ca, p.issued_by_this_ca]
                .into_iter()
                .flatten()
            {
                if !out.contains(&d) {
                    out.push(d);
                }
            }
        }
        Ok(out)
    }
}

impl Authority {
    /// The certificates issued to CA `name`, DER (what `issued-to/NAME.p7c` bundles, the
    /// target of authorityInfoAccess caIssuers in what NAME issues, RFC 5280 §4.2.2.1): its
    /// own certificate; the cross-certificates other CAs issued to it; then, after a key
    /// rollover, the certificates of its retired keys that still have live certificates
    /// under them, and its unexpired link certificates (RFC 4210 §4.4). A certificate signed
    /// by a retired key names the same caIssuers URL, and a relying party that holds only
    /// the new self-signed certificate finds OldWithNew there.
    pub fn certificates_issued_to(&self, name: &str) -> Result<Vec<Vec<u8>>> {
        let mut out = vec![self.ca_record(name)?.cert_der];
        let mut add = |d: Vec<u8>| {
            if !out.contains(&d) {
                out.push(d);
            }
        };
        for p in self.store.cross_pairs(Some(name))? {
            if let Some(d) = p.issued_to_this_ca {
                add(d);
            }
        }
        for g in self.live_generations(name)? {
            add(g.cert_der);
        }
        let now = self.now().unix_timestamp();
        for link in self.ca_links(name)? {
            if link.not_after >= now {
                add(link.der);
            }
        }
        Ok(out)
    }

    /// The CA certificates CA `name` issued to other CAs, DER: its subordinate CAs'
    /// certificates and its cross-certificates (what `issued-by/NAME.p7c` bundles, the target
    /// of subjectInfoAccess caRepository in NAME's certificates, RFC 5280 §4.2.2.2).
    pub fn ca_certificates_issued_by(&self, name: &str) -> Result<Vec<Vec<u8>>> {
        self.ca_record(name)?;
        let mut out: Vec<Vec<u8>> = self
            .cas()?
            .into_iter()
            .filter(|c| c.parent.as_deref() == Some(name) && c.name != name)
            .map(|c| c.cert_der)
            .collect();
        for p in self.store.cross_pairs(Some(name))? {
            if let Some(d) = p.issued_by_this_ca
                && !out.contains(&d)
            {
                out.push(d);
            }
        }
        Ok(out)
    }
}
