//! Certificate profiles and the default hierarchy, read from `policies/` (data, not code).
//!
//! The files are compiled into the library so that the binary works anywhere; `Policies::load_dir`
//! reads an operator's own copy instead.

use std::collections::BTreeMap;
use std::path::Path;

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280;
use serde::{Deserialize, Serialize};
use x509_cert::ext::pkix::KeyUsages;

use crate::error::{Error, Result};
use crate::key::KeyAlgorithm;
use crate::name::AttrType;

/// The profile files compiled in, by file name.
const EMBEDDED_PROFILES: &[(&str, &str)] = &[
    (
        "official-position.toml",
        include_str!("../../policies/profiles/official-position.toml"),
    ),
    (
        "staff.toml",
        include_str!("../../policies/profiles/staff.toml"),
    ),
    (
        "encryption.toml",
        include_str!("../../policies/profiles/encryption.toml"),
    ),
    (
        "organization.toml",
        include_str!("../../policies/profiles/organization.toml"),
    ),
    (
        "server.toml",
        include_str!("../../policies/profiles/server.toml"),
    ),
    (
        "mail.toml",
        include_str!("../../policies/profiles/mail.toml"),
    ),
    (
        "code-signing.toml",
        include_str!("../../policies/profiles/code-signing.toml"),
    ),
    (
        "ocsp-signing.toml",
        include_str!("../../policies/profiles/ocsp-signing.toml"),
    ),
    (
        "sub-ca.toml",
        include_str!("../../policies/profiles/sub-ca.toml"),
    ),
    ("va.toml", include_str!("../../policies/profiles/va.toml")),
    (
        "timestamping.toml",
        include_str!("../../policies/profiles/timestamping.toml"),
    ),
    (
        "sanitiser.toml",
        include_str!("../../policies/profiles/sanitiser.toml"),
    ),
];
const EMBEDDED_OIDS: &str = include_str!("../../policies/oids.toml");
const EMBEDDED_HIERARCHY: &str = include_str!("../../policies/hierarchy.toml");

/// A keyUsage bit by its RFC 5280 §4.2.1.3 name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum KeyUsageBit {
    /// digitalSignature (0).
    DigitalSignature,
    /// nonRepudiation / contentCommitment (1).
    NonRepudiation,
    /// keyEncipherment (2).
    KeyEncipherment,
    /// dataEncipherment (3).
    DataEncipherment,
    /// keyAgreement (4).
    KeyAgreement,
    /// keyCertSign (5).
    KeyCertSign,
    /// cRLSign (6).
    #[serde(rename = "cRLSign")]
    CrlSign,
}

impl KeyUsageBit {
    /// The x509-cert flag.
    pub fn flag(self) -> KeyUsages {
        match self {
            KeyUsageBit::DigitalSignature => KeyUsages::DigitalSignature,
            KeyUsageBit::NonRepudiation => KeyUsages::NonRepudiation,
            KeyUsageBit::KeyEncipherment => KeyUsages::KeyEncipherment,
            KeyUsageBit::DataEncipherment => KeyUsages::DataEncipherment,
            KeyUsageBit::KeyAgreement => KeyUsages::KeyAgreement,
            KeyUsageBit::KeyCertSign => KeyUsages::KeyCertSign,
            KeyUsageBit::CrlSign => KeyUsages::CRLSign,
        }
    }
}

/// An extended key usage purpose by its RFC 5280 §4.2.1.12 name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExtendedKeyUsage {
    /// id-kp-serverAuth.
    #[serde(rename = "serverAuth")]
    ServerAuth,
    /// id-kp-clientAuth.
    #[serde(rename = "clientAuth")]
    ClientAuth,
    /// id-kp-codeSigning.
    #[serde(rename = "codeSigning")]
    CodeSigning,
    /// id-kp-emailProtection.
    #[serde(rename = "emailProtection")]
    EmailProtection,
    /// id-kp-OCSPSigning.
    #[serde(rename = "OCSPSigning")]
    OcspSigning,
    /// id-kp-timeStamping.
    #[serde(rename = "timeStamping")]
    TimeStamping,
}

impl ExtendedKeyUsage {
    /// The purpose's OID.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            ExtendedKeyUsage::ServerAuth => rfc5280::ID_KP_SERVER_AUTH,
            ExtendedKeyUsage::ClientAuth => rfc5280::ID_KP_CLIENT_AUTH,
            ExtendedKeyUsage::CodeSigning => rfc5280::ID_KP_CODE_SIGNING,
            ExtendedKeyUsage::EmailProtection => rfc5280::ID_KP_EMAIL_PROTECTION,
            ExtendedKeyUsage::OcspSigning => rfc5280::ID_KP_OCSP_SIGNING,
            ExtendedKeyUsage::TimeStamping => rfc5280::ID_KP_TIME_STAMPING,
        }
    }
}

/// A subjectAltName type a profile may allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SanType {
    /// dNSName.
    Dns,
    /// rfc822Name.
    Email,
    /// uniformResourceIdentifier.
    Uri,
    /// iPAddress.
    Ip,
}

impl SanType {
    /// The CLI prefix (`dns`, `email`, `uri`, `ip`).
    pub fn prefix(self) -> &'static str {
        match self {
            SanType::Dns => "dns",
            SanType::Email => "email",
            SanType::Uri => "uri",
            SanType::Ip => "ip",
        }
    }
}

/// Subject rules of a profile.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectRules {
    /// Attributes the CA sets itself; a request giving another value is refused.
    #[serde(default)]
    pub fixed: BTreeMap<String, String>,
    /// Attributes that must be present.
    #[serde(default)]
    pub required: Vec<String>,
    /// Attributes that may be present (fixed and required ones included).
    pub allowed: Vec<String>,
    /// How many values of a type a subject may carry, e.g. `{ OU = 2 }` (団体, then 部署);
    /// types not listed may appear once. Values of a repeated type keep the order given.
    #[serde(default)]
    pub max: BTreeMap<String, usize>,
    /// A commonName, when present, must equal one of the dNSNames.
    #[serde(default)]
    pub cn_in_san: bool,
}

impl SubjectRules {
    /// How many values of `ty` a subject may carry (1 unless `max` says otherwise).
    pub fn max_of(&self, ty: AttrType) -> usize {
        self.max
            .iter()
            .find(|(k, _)| AttrType::from_short(k) == Some(ty))
            .map_or(1, |(_, n)| *n)
    }
}

/// subjectAltName rules of a profile.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SanRules {
    /// Types of which at least one entry must be present.
    #[serde(default)]
    pub required: Vec<SanType>,
    /// At least one entry of one of these types must be present.
    #[serde(default)]
    pub required_any: Vec<SanType>,
    /// Types that may be present.
    #[serde(default)]
    pub allowed: Vec<SanType>,
    /// dNSNames must equal or end under one of these domains.
    #[serde(default)]
    pub dns_suffixes: Vec<String>,
}

/// A certificate profile: what a certificate of one class looks like.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The profile's fixed name (contract: `official-position`, `staff`, …).
    pub name: String,
    /// What it is for.
    pub description: String,
    /// The policy class, looked up in `oids.toml`.
    pub policy_class: String,
    /// Default validity.
    pub validity_days: u32,
    /// Longest validity `--days` may ask for.
    pub max_validity_days: u32,
    /// A CA certificate profile (basicConstraints cA=TRUE).
    #[serde(default)]
    pub ca: bool,
    /// keyUsage for EC subject keys.
    pub key_usage_ec: Vec<KeyUsageBit>,
    /// keyUsage for RSA subject keys.
    pub key_usage_rsa: Vec<KeyUsageBit>,
    /// extendedKeyUsage purposes (none: no extension).
    #[serde(default)]
    pub extended_key_usage: Vec<ExtendedKeyUsage>,
    /// Marks extendedKeyUsage critical (RFC 3161 §2.3 for a TSA; default false).
    #[serde(default)]
    pub extended_key_usage_critical: bool,
    /// Adds id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1).
    #[serde(default)]
    pub ocsp_no_check: bool,
    /// Adds CRL distribution point and AIA (default true).
    #[serde(default = "default_true")]
    pub revocation_pointers: bool,
    /// Any CA may issue it with `--ca` (e.g. a delegated OCSP responder for that CA).
    #[serde(default)]
    pub any_ca: bool,
    /// Registration officers may request it (`request submit`); CA and OCSP-responder
    /// certificates are the center's own (default true).
    #[serde(default = "default_true")]
    pub officer_requests: bool,
    /// Subject key algorithms accepted.
    pub key_algorithms: Vec<KeyAlgorithm>,
    /// Smallest RSA modulus accepted.
    pub min_rsa_bits: usize,
    /// Subject rules.
    pub subject: SubjectRules,
    /// subjectAltName rules.
    pub san: SanRules,
    /// The certificatePolicies OID, resolved from `policy_class` at load.
    #[serde(skip_deserializing)]
    pub policy_oid: String,
}

fn default_true() -> bool {
    true
}

impl Profile {
    /// keyUsage for a subject key of the given family.
    pub fn key_usage(&self, rsa: bool) -> &[KeyUsageBit] {
        if rsa {
            &self.key_usage_rsa
        } else {
            &self.key_usage_ec
        }
    }

    /// The policy OID.
    pub fn policy(&self) -> Result<ObjectIdentifier> {
        ObjectIdentifier::new(&self.policy_oid).map_err(|e| Error::PolicyData {
            file: format!("{}.toml", self.name),
            detail: format!("bad policy OID {}: {e}", self.policy_oid),
        })
    }
}

/// One CA of the default hierarchy.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaSpec {
    /// The CA's name (`root`, `organization`, …).
    pub name: String,
    /// What it is.
    pub description: String,
    /// Its issuer (absent: self-signed trust anchor).
    #[serde(default)]
    pub parent: Option<String>,
    /// Subject DN (RFC 4514).
    pub subject: String,
    /// Validity of its certificate.
    pub validity_days: u32,
    /// pathLenConstraint.
    #[serde(default)]
    pub path_len: Option<u8>,
    /// Profiles it issues by default.
    pub profiles: Vec<String>,
    /// extendedKeyUsage of its certificate (a purpose-split issuing CA: CA/Browser Forum TLS
    /// BR §7.1.2.10.6 and Code Signing BR §7.1.2.2 ask for it; RFC 5280 §4.2.1.12). Empty: no
    /// extension. Every profile it (or a CA beneath it) issues must fit within it.
    #[serde(default)]
    pub extended_key_usage: Vec<ExtendedKeyUsage>,
    /// The policy classes (`oids.toml`) its certificate asserts. Absent: the classes of the
    /// profiles issued by it and by the CAs beneath it, plus `ocsp-signing` where a delegated
    /// responder is made. Ignored for a self-signed CA (a trust anchor carries no policies).
    #[serde(default)]
    pub policies: Option<Vec<String>>,
    /// `init` issues this CA a delegated OCSP responder certificate (profile `ocsp-signing`,
    /// RFC 6960 §4.2.2.2).
    #[serde(default)]
    pub ocsp_responder: bool,
}

/// One cross-certificate `init` issues between two CAs of the default hierarchy (RFC 5280
/// §3.2): `issuer` certifies `subject`'s key. A pair is two entries, one each way.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrossSpec {
    /// The certifying CA.
    pub issuer: String,
    /// The certified CA.
    pub subject: String,
    /// The policy classes the cross-certificate asserts (certificatePolicies, RFC 5280
    /// §4.2.1.4): those a relying party anchored at `issuer` may accept through `subject`.
    pub policies: Vec<String>,
    /// policyMappings as class pairs `issuer-domain=subject-domain` (RFC 5280 §4.2.1.5); within
    /// one domain none are needed.
    #[serde(default)]
    pub mappings: Vec<String>,
    /// pathLenConstraint.
    #[serde(default)]
    pub path_len: Option<u8>,
    /// policyConstraints requireExplicitPolicy (RFC 5280 §4.2.1.11).
    #[serde(default)]
    pub require_explicit_policy: Option<u32>,
    /// Validity in days (clamped to the issuer's).
    pub validity_days: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OidsFile {
    arc: String,
    classes: BTreeMap<String, u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HierarchyFile {
    ca: Vec<CaSpec>,
    #[serde(default)]
    cross: Vec<CrossSpec>,
}

/// Everything in `policies/`: profiles, policy OIDs and the default hierarchy.
#[derive(Clone, Debug)]
pub struct Policies {
    /// The LGPKI policy arc.
    pub arc: String,
    /// Profiles by name.
    pub profiles: BTreeMap<String, Profile>,
    /// The default hierarchy, parents before children.
    pub hierarchy: Vec<CaSpec>,
    /// The cross-certificates `init` issues between CAs of the hierarchy, in order.
    pub cross: Vec<CrossSpec>,
    /// Policy classes (`oids.toml`): name to number under `arc`.
    pub classes: BTreeMap<String, u32>,
}

impl Policies {
    /// The policies compiled into this build.
    pub fn embedded() -> Result<Policies> {
        Policies::parse(
            EMBEDDED_OIDS,
            EMBEDDED_HIERARCHY,
            EMBEDDED_PROFILES
                .iter()
                .map(|(f, s)| (f.to_string(), s.to_string()))
                .collect(),
        )
    }

    /// Reads `DIR/oids.toml`, `DIR/hierarchy.toml` and `DIR/profiles/*.toml`.
    pub fn load_dir(dir: &Path) -> Result<Policies> {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|source| Error::Io {
                path: p.to_path_buf(),
                source,
            })
        };
        let oids = read(&dir.join("oids.toml"))?;
        let hierarchy = read(&dir.join("hierarchy.toml"))?;
        let pdir = dir.join("profiles");
        let mut files = Vec::new();
        let entries = std::fs::read_dir(&pdir).map_err(|source| Error::Io {
            path: pdir.clone(),
            source,
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "toml") {
                let name = entry.file_name().to_string_lossy().to_string();
                files.push((name, read(&path)?));
            }
        }
        Policies::parse(&oids, &hierarchy, files)
    }

    fn parse(oids: &str, hierarchy: &str, profiles: Vec<(String, String)>) -> Result<Policies> {
        let data_err = |file: &str, detail: String| Error::PolicyData {
            file: file.to_string(),
            detail,
        };
        let oids: OidsFile =
            toml::from_str(oids).map_err(|e| data_err("oids.toml", e.to_string()))?;
        ObjectIdentifier::new(&oids.arc)
            .map_err(|e| data_err("oids.toml", format!("arc {}: {e}", oids.arc)))?;
        let hierarchy: HierarchyFile =
            toml::from_str(hierarchy).map_err(|e| data_err("hierarchy.toml", e.to_string()))?;
        let mut map = BTreeMap::new();
        for (file, text) in profiles {
            let mut p: Profile =
                toml::from_str(&text).map_err(|e| data_err(&file, e.to_string()))?;
            if format!("{}.toml", p.name) != file {
                return Err(data_err(
                    &file,
                    format!("profile name {:?} differs from the file name", p.name),
                ));
            }
            let class = oids.classes.get(&p.policy_class).ok_or_else(|| {
                data_err(
                    &file,
                    format!("policy class {:?} is not in oids.toml", p.policy_class),
                )
            })?;
            p.policy_oid = format!("{}.{class}", oids.arc);
            for attr in p
                .subject
                .allowed
                .iter()
                .chain(&p.subject.required)
                .chain(p.subject.fixed.keys())
                .chain(p.subject.max.keys())
            {
                if AttrType::from_short(attr).is_none() {
                    return Err(data_err(&file, format!("unknown attribute type {attr:?}")));
                }
            }
            for (attr, n) in &p.subject.max {
                if *n == 0 || !p.subject.allowed.contains(attr) {
                    return Err(data_err(
                        &file,
                        format!("[subject] max: {attr} must be allowed and at least 1"),
                    ));
                }
                if p.subject.fixed.contains_key(attr) && *n != 1 {
                    return Err(data_err(
                        &file,
                        format!("[subject] max: {attr} is fixed, so it appears once"),
                    ));
                }
            }
            if p.validity_days == 0 || p.validity_days > p.max_validity_days {
                return Err(data_err(
                    &file,
                    "validity_days must be 1..=max_validity_days".into(),
                ));
            }
            map.insert(p.name.clone(), p);
        }
        let mut seen: Vec<&str> = Vec::new();
        for ca in &hierarchy.ca {
            if let Some(parent) = &ca.parent
                && !seen.contains(&parent.as_str())
            {
                return Err(data_err(
                    "hierarchy.toml",
                    format!("CA {:?}: parent {parent:?} must come first", ca.name),
                ));
            }
            for p in &ca.profiles {
                if !map.contains_key(p) {
                    return Err(data_err(
                        "hierarchy.toml",
                        format!("CA {:?}: unknown profile {p:?}", ca.name),
                    ));
                }
            }
            for c in ca.policies.iter().flatten() {
                if !oids.classes.contains_key(c) {
                    return Err(data_err(
                        "hierarchy.toml",
                        format!("CA {:?}: policy class {c:?} is not in oids.toml", ca.name),
                    ));
                }
            }
            seen.push(&ca.name);
        }
        check_eku_nesting(&hierarchy.ca, &map).map_err(|d| data_err("hierarchy.toml", d))?;
        for x in &hierarchy.cross {
            let known = |n: &str| hierarchy.ca.iter().any(|c| c.name == n);
            if !known(&x.issuer) || !known(&x.subject) || x.issuer == x.subject {
                return Err(data_err(
                    "hierarchy.toml",
                    format!(
                        "cross {:?} -> {:?}: both must be CAs of the hierarchy, and differ",
                        x.issuer, x.subject
                    ),
                ));
            }
            let classes = x.mappings.iter().flat_map(|m| {
                let (a, b) = m.split_once('=').unwrap_or((m, ""));
                [a, b]
            });
            for c in x.policies.iter().map(String::as_str).chain(classes) {
                if !oids.classes.contains_key(c) {
                    return Err(data_err(
                        "hierarchy.toml",
                        format!(
                            "cross {:?} -> {:?}: policy class {c:?} is not in oids.toml",
                            x.issuer, x.subject
                        ),
                    ));
                }
            }
        }
        Ok(Policies {
            arc: oids.arc,
            profiles: map,
            hierarchy: hierarchy.ca,
            cross: hierarchy.cross,
            classes: oids.classes,
        })
    }

    /// The policy OID of class `class` (`oids.toml`).
    pub fn class_oid(&self, class: &str) -> Result<ObjectIdentifier> {
        let n = self.classes.get(class).ok_or_else(|| Error::PolicyData {
            file: "oids.toml".into(),
            detail: format!("no policy class {class:?}"),
        })?;
        let text = format!("{}.{n}", self.arc);
        ObjectIdentifier::new(&text).map_err(|e| Error::PolicyData {
            file: "oids.toml".into(),
            detail: format!("bad policy OID {text}: {e}"),
        })
    }

    /// The hierarchy entry named `name`, when the default hierarchy has one.
    pub fn ca_spec(&self, name: &str) -> Option<&CaSpec> {
        self.hierarchy.iter().find(|c| c.name == name)
    }

    /// The policy classes the certificate of hierarchy CA `name` asserts: its explicit
    /// `policies`, else the classes of every profile issued by it or by a CA beneath it, plus
    /// the delegated OCSP responders' class — only what lies beneath it (RFC 5280 §6.1.3 (d):
    /// a path keeps only policies every CA certificate in it asserts).
    pub fn ca_policy_classes(&self, name: &str) -> Result<Vec<String>> {
        let spec = self.ca_spec(name).ok_or_else(|| Error::UnknownCa {
            name: name.to_string(),
        })?;
        if let Some(p) = &spec.policies {
            return Ok(p.clone());
        }
        let mut classes = Vec::new();
        let mut todo = vec![spec];
        while let Some(ca) = todo.pop() {
            for p in &ca.profiles {
                classes.push(self.profile(p)?.policy_class.clone());
            }
            if ca.ocsp_responder {
                classes.push(self.profile(OCSP_RESPONDER_PROFILE)?.policy_class.clone());
            }
            todo.extend(
                self.hierarchy
                    .iter()
                    .filter(|c| c.parent.as_deref() == Some(ca.name.as_str())),
            );
        }
        classes.sort_by_key(|c| self.classes.get(c).copied());
        classes.dedup();
        Ok(classes)
    }

    /// The profile named `name`.
    pub fn profile(&self, name: &str) -> Result<&Profile> {
        self.profiles
            .get(name)
            .ok_or_else(|| Error::UnknownProfile {
                name: name.to_string(),
                known: self.profiles.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }
}

/// The profile of the delegated OCSP responder certificates `init` issues.
pub const OCSP_RESPONDER_PROFILE: &str = "ocsp-signing";

/// A CA that restricts extendedKeyUsage must cover every purpose of the profiles issued by it
/// and by the CAs beneath it (relying parties such as NSS and GnuTLS chain EKU through issuing
/// CAs); the delegated OCSP responders' id-kp-OCSPSigning is exempt (CA/Browser Forum TLS BR
/// §7.1.2.10.6 forbids it in a CA, and RFC 6960 §4.2.2.2 asks it only of the responder).
fn check_eku_nesting(
    cas: &[CaSpec],
    profiles: &BTreeMap<String, Profile>,
) -> std::result::Result<(), String> {
    for ca in cas.iter().filter(|c| !c.extended_key_usage.is_empty()) {
        let mut todo = vec![ca];
        while let Some(below) = todo.pop() {
            for name in &below.profiles {
                let Some(p) = profiles.get(name) else {
                    continue;
                };
                for e in &p.extended_key_usage {
                    if !ca.extended_key_usage.contains(e) {
                        return Err(format!(
                            "CA {:?}: profile {name:?} (issued by {:?}) has {e:?}, which the CA's extended_key_usage leaves out",
                            ca.name, below.name
                        ));
                    }
                }
            }
            if below.name != ca.name && !below.extended_key_usage.is_empty() {
                for e in &below.extended_key_usage {
                    if !ca.extended_key_usage.contains(e) {
                        return Err(format!(
                            "CA {:?}: CA {:?} beneath it has {e:?}, which it leaves out",
                            ca.name, below.name
                        ));
                    }
                }
            }
            todo.extend(
                cas.iter()
                    .filter(|c| c.parent.as_deref() == Some(below.name.as_str())),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_policies_load_and_name_every_contract_profile() {
        let p = Policies::embedded().expect("policies");
        for name in [
            "official-position",
            "staff",
            "encryption",
            "organization",
            "server",
            "mail",
            "code-signing",
            "ocsp-signing",
            "sub-ca",
        ] {
            let prof = p.profile(name).expect(name);
            assert!(prof.policy_oid.starts_with(&p.arc), "{name}");
            prof.policy().expect("oid");
        }
        let oids: std::collections::BTreeSet<_> =
            p.profiles.values().map(|p| &p.policy_oid).collect();
        assert_eq!(oids.len(), p.profiles.len(), "one policy OID per class");
        assert!(matches!(
            p.profile("nope"),
            Err(Error::UnknownProfile { .. })
        ));
        assert_eq!(p.hierarchy[0].parent, None);
    }

    #[test]
    fn subject_max_is_checked_at_load() {
        let p = Policies::embedded().expect("policies");
        assert_eq!(
            p.profile("staff")
                .expect("staff")
                .subject
                .max_of(AttrType::Ou),
            2
        );
        assert_eq!(
            p.profile("server")
                .expect("server")
                .subject
                .max_of(AttrType::Ou),
            1
        );
        assert_eq!(
            p.profile("staff")
                .expect("staff")
                .subject
                .max_of(AttrType::Cn),
            1
        );
        let staff = EMBEDDED_PROFILES
            .iter()
            .find(|(f, _)| *f == "staff.toml")
            .map(|(_, t)| *t)
            .expect("staff.toml");
        for (bad, why) in [
            ("max = { OU = 0 }", "at least 1"),
            ("max = { title = 2 }", "must be allowed"),
            ("max = { O = 2 }", "is fixed"),
            ("max = { XX = 2 }", "unknown attribute type"),
        ] {
            let text = staff.replace("max = { OU = 2 }", bad);
            assert_ne!(text, staff, "staff.toml has a max line");
            let err = Policies::parse(
                EMBEDDED_OIDS,
                EMBEDDED_HIERARCHY,
                vec![("staff.toml".into(), text)],
            )
            .expect_err(bad);
            assert!(err.to_string().contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn policy_data_errors_name_the_file() {
        let bad = Policies::parse(
            EMBEDDED_OIDS,
            EMBEDDED_HIERARCHY,
            vec![("staff.toml".into(), "name = \"staff\"".into())],
        );
        let err = bad.expect_err("incomplete profile");
        assert!(err.to_string().contains("staff.toml"), "{err}");
    }

    fn embedded_profiles() -> Vec<(String, String)> {
        EMBEDDED_PROFILES
            .iter()
            .map(|(f, s)| (f.to_string(), s.to_string()))
            .collect()
    }

    #[test]
    fn each_ca_asserts_only_the_classes_beneath_it() {
        let p = Policies::embedded().expect("policies");
        let classes = |n: &str| p.ca_policy_classes(n).expect(n);
        assert_eq!(classes("application-server"), ["server", "ocsp-signing"]);
        assert_eq!(
            classes("application-code-signing"),
            ["code-signing", "ocsp-signing"]
        );
        let root = classes("application");
        for c in [
            "server",
            "mail",
            "code-signing",
            "timestamping",
            "ocsp-signing",
        ] {
            assert!(
                root.contains(&c.to_string()),
                "{c} beneath the application root"
            );
        }
        assert!(!root.contains(&"official-position".to_string()), "{root:?}");
        assert!(classes("bridge").is_empty());
        assert_eq!(p.cross.len(), 2, "one cross-certificate each way");
        assert_eq!(
            p.class_oid("staff").expect("staff").to_string(),
            format!("{}.2", p.arc)
        );
    }

    #[test]
    fn hierarchy_errors_are_caught_at_load() {
        for (from, to, why) in [
            (
                "extended_key_usage = [\"serverAuth\"]",
                "extended_key_usage = [\"clientAuth\"]",
                "leaves out",
            ),
            (
                "issuer = \"bridge\"",
                "issuer = \"nope\"",
                "both must be CAs",
            ),
            (
                "policies = [\"official-position\", \"staff\", \"encryption\", \"organization\", \"va\"]",
                "policies = [\"nope\"]",
                "not in oids.toml",
            ),
        ] {
            let text = EMBEDDED_HIERARCHY.replacen(from, to, 1);
            assert_ne!(text, EMBEDDED_HIERARCHY, "hierarchy.toml has {from}");
            let err = Policies::parse(EMBEDDED_OIDS, &text, embedded_profiles()).expect_err(to);
            assert!(err.to_string().contains(why), "{to}: {err}");
            assert!(err.to_string().contains("hierarchy.toml"), "{err}");
        }
    }
}
