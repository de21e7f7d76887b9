//! Encoding certificates: extensions, the TBSCertificate, and assembly with a signature
//! (RFC 5280 §4.1). The TBS is produced first and signed separately (finalize/assemble), so the
//! linter sees exactly the bytes that will be signed.

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280;
use const_oid::db::rfc6960::ID_PKIX_OCSP_NOCHECK;
use der::asn1::{AnyRef, BitStringRef, Ia5String, Null, OctetString, UintRef};
use der::{Decode, Encode};
use spki::AlgorithmIdentifierOwned;
use time::OffsetDateTime;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints,
    CrlDistributionPoints, KeyUsage, SubjectAltName, SubjectInfoAccessSyntax, SubjectKeyIdentifier,
    certpolicy::{CertificatePolicies, PolicyInformation},
};
use x509_cert::time::Time;

use crate::error::{Error, Result};
use crate::profile::{ExtendedKeyUsage, KeyUsageBit};
use crate::san::SanEntry;

/// Converts a time to the X.509 Time choice: UTCTime through 2049, GeneralizedTime from 2050
/// (RFC 5280 §4.1.2.5).
pub fn x509_time(t: OffsetDateTime) -> Result<Time> {
    let secs = u64::try_from(t.unix_timestamp()).map_err(|_| Error::InvalidArgument {
        name: "time",
        value: t.to_string(),
        reason: "before 1970".into(),
    })?;
    let dt = der::DateTime::from_unix_duration(std::time::Duration::from_secs(secs))
        .map_err(Error::encode("time"))?;
    if t.year() < 2050 {
        Ok(Time::UtcTime(
            der::asn1::UtcTime::from_date_time(dt).map_err(Error::encode("UTCTime"))?,
        ))
    } else {
        Ok(Time::GeneralTime(
            der::asn1::GeneralizedTime::from_date_time(dt),
        ))
    }
}

/// Converts an X.509 Time back to `OffsetDateTime`.
pub fn from_x509_time(t: &Time) -> OffsetDateTime {
    let secs = t.to_unix_duration().as_secs();
    OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(i64::MAX))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The key identifier of a public key: the leftmost 160 bits of the SHA-256 of the
/// subjectPublicKey BIT STRING value (RFC 7093 §2 method 1, an RFC 5280 §4.2.1.2 alternative).
pub fn key_identifier(spki_der: &[u8]) -> Result<Vec<u8>> {
    let spki = crate::key::parse_spki(spki_der)?;
    let bits = spki.subject_public_key.raw_bytes();
    let digest = ring::digest::digest(&ring::digest::SHA256, bits);
    Ok(digest.as_ref()[..20].to_vec())
}

fn ext<T: Encode>(
    oid: ObjectIdentifier,
    critical: bool,
    value: &T,
    what: &'static str,
) -> Result<Extension> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value.to_der().map_err(Error::encode(what))?)
            .map_err(Error::encode(what))?,
    })
}

/// basicConstraints, critical on CAs (RFC 5280 §4.2.1.9). End-entity certificates carry it
/// non-critical with cA FALSE (encoded as an empty SEQUENCE).
pub fn basic_constraints(ca: bool, path_len: Option<u8>) -> Result<Extension> {
    ext(
        rfc5280::ID_CE_BASIC_CONSTRAINTS,
        ca,
        &BasicConstraints {
            ca,
            path_len_constraint: if ca { path_len } else { None },
        },
        "basicConstraints",
    )
}

/// keyUsage, critical (RFC 5280 §4.2.1.3: SHOULD be critical).
pub fn key_usage(bits: &[KeyUsageBit]) -> Result<Extension> {
    let mut flags = flagset::FlagSet::default();
    for b in bits {
        flags |= b.flag();
    }
    ext(rfc5280::ID_CE_KEY_USAGE, true, &KeyUsage(flags), "keyUsage")
}

/// extendedKeyUsage (RFC 5280 §4.2.1.12): non-critical, except where a profile needs it
/// critical (a TSA's id-kp-timeStamping, RFC 3161 §2.3).
pub fn extended_key_usage(purposes: &[ExtendedKeyUsage], critical: bool) -> Result<Extension> {
    let oids: Vec<ObjectIdentifier> = purposes.iter().map(|p| p.oid()).collect();
    ext(
        rfc5280::ID_CE_EXT_KEY_USAGE,
        critical,
        &x509_cert::ext::pkix::ExtendedKeyUsage(oids),
        "extendedKeyUsage",
    )
}

/// subjectKeyIdentifier (RFC 5280 §4.2.1.2), non-critical.
pub fn subject_key_identifier(ski: &[u8]) -> Result<Extension> {
    let v = SubjectKeyIdentifier(OctetString::new(ski).map_err(Error::encode("SKI"))?);
    ext(
        rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER,
        false,
        &v,
        "subjectKeyIdentifier",
    )
}

/// authorityKeyIdentifier with keyIdentifier = the issuer's SKI (RFC 5280 §4.2.1.1), non-critical.
pub fn authority_key_identifier(issuer_ski: &[u8]) -> Result<Extension> {
    let v = AuthorityKeyIdentifier {
        key_identifier: Some(OctetString::new(issuer_ski).map_err(Error::encode("AKI"))?),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    };
    ext(
        rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER,
        false,
        &v,
        "authorityKeyIdentifier",
    )
}

/// certificatePolicies with the given OIDs and no qualifiers (RFC 5280 §4.2.1.4), non-critical.
pub fn certificate_policies(oids: &[ObjectIdentifier]) -> Result<Extension> {
    let v = CertificatePolicies(
        oids.iter()
            .map(|o| PolicyInformation {
                policy_identifier: *o,
                policy_qualifiers: None,
            })
            .collect(),
    );
    ext(
        rfc5280::ID_CE_CERTIFICATE_POLICIES,
        false,
        &v,
        "certificatePolicies",
    )
}

/// certificatePolicies (RFC 5280 §4.2.1.4), non-critical, for OIDs of any X.660 shape (e.g.
/// `2.999.1.1`, which `const_oid` cannot hold): one PolicyInformation without qualifiers each.
pub fn certificate_policies_oids(oids: &[crate::Oid]) -> Result<Extension> {
    let mut infos = Vec::new();
    for o in oids {
        crate::derw::push_tlv(&mut infos, crate::derw::SEQUENCE, &o.to_der());
    }
    raw_ext(
        rfc5280::ID_CE_CERTIFICATE_POLICIES,
        false,
        crate::derw::tlv(crate::derw::SEQUENCE, &infos),
        "certificatePolicies",
    )
}

/// policyMappings (RFC 5280 §4.2.1.5: SHOULD be critical) of (issuerDomainPolicy,
/// subjectDomainPolicy) pairs, OIDs of any X.660 shape.
pub fn policy_mappings(pairs: &[(crate::Oid, crate::Oid)]) -> Result<Extension> {
    let mut maps = Vec::new();
    for (a, b) in pairs {
        let mut pair = a.to_der();
        pair.extend_from_slice(&b.to_der());
        crate::derw::push_tlv(&mut maps, crate::derw::SEQUENCE, &pair);
    }
    raw_ext(
        rfc5280::ID_CE_POLICY_MAPPINGS,
        true,
        crate::derw::tlv(crate::derw::SEQUENCE, &maps),
        "policyMappings",
    )
}

fn raw_ext(
    oid: ObjectIdentifier,
    critical: bool,
    der: Vec<u8>,
    what: &'static str,
) -> Result<Extension> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(der).map_err(Error::encode(what))?,
    })
}

fn uri(u: &str) -> Result<GeneralName> {
    Ok(GeneralName::UniformResourceIdentifier(
        Ia5String::new(u).map_err(Error::encode("URI"))?,
    ))
}

/// cRLDistributionPoints with one fullName URI (RFC 5280 §4.2.1.13), non-critical.
pub fn crl_distribution_point(url: &str) -> Result<Extension> {
    let v = CrlDistributionPoints(vec![DistributionPoint {
        distribution_point: Some(DistributionPointName::FullName(vec![uri(url)?])),
        reasons: None,
        crl_issuer: None,
    }]);
    ext(
        rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS,
        false,
        &v,
        "cRLDistributionPoints",
    )
}

/// authorityInfoAccess with OCSP and caIssuers URIs (RFC 5280 §4.2.2.1), non-critical.
pub fn authority_info_access(ocsp: Option<&str>, ca_issuers: &str) -> Result<Extension> {
    let mut v = Vec::new();
    if let Some(o) = ocsp {
        v.push(AccessDescription {
            access_method: rfc5280::ID_AD_OCSP,
            access_location: uri(o)?,
        });
    }
    v.push(AccessDescription {
        access_method: rfc5280::ID_AD_CA_ISSUERS,
        access_location: uri(ca_issuers)?,
    });
    ext(
        rfc5280::ID_PE_AUTHORITY_INFO_ACCESS,
        false,
        &AuthorityInfoAccessSyntax(v),
        "authorityInfoAccess",
    )
}

/// authorityInfoAccess of a certificate CA `ca` issues (RFC 5280 §4.2.2.1): OCSP (when
/// `ocsp`) and two caIssuers, the CA's certificate (`{base}/ca/CA.crt`) and the certs-only
/// bundle of every certificate issued to it (`{base}/issued-to/CA.p7c`: its own and the
/// cross-certificates to it), so that a relying party can discover paths across bridges.
pub fn issuer_access(base: &str, ca: &str, ocsp: bool) -> Result<Extension> {
    let mut v = Vec::new();
    if ocsp {
        v.push(AccessDescription {
            access_method: rfc5280::ID_AD_OCSP,
            access_location: uri(&format!("{base}/ocsp"))?,
        });
    }
    for loc in [
        format!("{base}/ca/{ca}.crt"),
        format!("{base}/issued-to/{ca}.p7c"),
    ] {
        v.push(AccessDescription {
            access_method: rfc5280::ID_AD_CA_ISSUERS,
            access_location: uri(&loc)?,
        });
    }
    ext(
        rfc5280::ID_PE_AUTHORITY_INFO_ACCESS,
        false,
        &AuthorityInfoAccessSyntax(v),
        "authorityInfoAccess",
    )
}

/// subjectInfoAccess of CA `ca`'s certificate (RFC 5280 §4.2.2.2, non-critical): id-ad-
/// caRepository, the certs-only bundle of the CA certificates `ca` issues
/// (`{base}/issued-by/CA.p7c`).
pub fn ca_repository(base: &str, ca: &str) -> Result<Extension> {
    ext(
        rfc5280::ID_PE_SUBJECT_INFO_ACCESS,
        false,
        &SubjectInfoAccessSyntax(vec![AccessDescription {
            access_method: rfc5280::ID_AD_CA_REPOSITORY,
            access_location: uri(&format!("{base}/issued-by/{ca}.p7c"))?,
        }]),
        "subjectInfoAccess",
    )
}

/// subjectAltName; critical exactly when the subject is empty (RFC 5280 §4.2.1.6).
pub fn subject_alt_name(sans: &[SanEntry], subject_empty: bool) -> Result<Extension> {
    let names = sans
        .iter()
        .map(SanEntry::to_general_name)
        .collect::<Result<Vec<_>>>()?;
    ext(
        rfc5280::ID_CE_SUBJECT_ALT_NAME,
        subject_empty,
        &SubjectAltName(names),
        "subjectAltName",
    )
}

/// id-pkix-ocsp-nocheck with a NULL value (RFC 6960 §4.2.2.2.1), non-critical.
pub fn ocsp_no_check() -> Result<Extension> {
    ext(ID_PKIX_OCSP_NOCHECK, false, &Null, "ocspNoCheck")
}

/// What goes into a TBSCertificate.
#[derive(Debug)]
pub struct TbsFields<'a> {
    /// Serial number: positive, minimal big-endian bytes.
    pub serial: &'a [u8],
    /// The signature algorithm (must be the signer's).
    pub signature: AlgorithmIdentifierOwned,
    /// DER of the issuer Name.
    pub issuer: &'a [u8],
    /// notBefore.
    pub not_before: OffsetDateTime,
    /// notAfter.
    pub not_after: OffsetDateTime,
    /// DER of the subject Name.
    pub subject: &'a [u8],
    /// DER SubjectPublicKeyInfo.
    pub spki: &'a [u8],
    /// Extensions, in order.
    pub extensions: &'a [Extension],
}

#[derive(der::Sequence)]
struct TbsDer<'a> {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    version: u8,
    serial: UintRef<'a>,
    signature: AlgorithmIdentifierOwned,
    issuer: AnyRef<'a>,
    validity: ValidityDer,
    subject: AnyRef<'a>,
    spki: AnyRef<'a>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT")]
    extensions: Vec<Extension>,
}

#[derive(der::Sequence)]
struct ValidityDer {
    not_before: Time,
    not_after: Time,
}

#[derive(der::Sequence)]
struct CertificateDer<'a> {
    tbs: AnyRef<'a>,
    algorithm: AlgorithmIdentifierOwned,
    signature: BitStringRef<'a>,
}

/// Encodes a v3 TBSCertificate.
pub fn encode_tbs(f: &TbsFields<'_>) -> Result<Vec<u8>> {
    let tbs = TbsDer {
        version: 2,
        serial: UintRef::new(f.serial).map_err(Error::encode("serial"))?,
        signature: f.signature.clone(),
        issuer: AnyRef::from_der(f.issuer).map_err(Error::encode("issuer"))?,
        validity: ValidityDer {
            not_before: x509_time(f.not_before)?,
            not_after: x509_time(f.not_after)?,
        },
        subject: AnyRef::from_der(f.subject).map_err(Error::encode("subject"))?,
        spki: AnyRef::from_der(f.spki).map_err(Error::encode("subjectPublicKeyInfo"))?,
        extensions: f.extensions.to_vec(),
    };
    tbs.to_der().map_err(Error::encode("TBSCertificate"))
}

/// Wraps a signed TBS into a Certificate (RFC 5280 §4.1.1).
pub fn assemble(
    tbs_der: &[u8],
    algorithm: AlgorithmIdentifierOwned,
    signature: &[u8],
) -> Result<Vec<u8>> {
    let cert = CertificateDer {
        tbs: AnyRef::from_der(tbs_der).map_err(Error::encode("TBSCertificate"))?,
        algorithm,
        signature: BitStringRef::from_bytes(signature).map_err(Error::encode("signature"))?,
    };
    cert.to_der().map_err(Error::encode("Certificate"))
}

/// Encodes a TBSCertificate with a fresh random serial, signed (in the TBS) with the issuer's
/// algorithm, and lints it against the issuer and what it is meant to be. Nothing reaches a
/// signing key without passing here. Returns the serial and the TBS bytes.
pub fn linted_tbs(
    issuer: &crate::lint::IssuerFacts<'_>,
    expect: &crate::lint::Expectation,
    subject: &[u8],
    spki: &[u8],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    extensions: &[Extension],
) -> Result<([u8; crate::serial::SERIAL_LEN], Vec<u8>)> {
    let serial = crate::serial::random_serial()?;
    let tbs = encode_tbs(&TbsFields {
        serial: &serial,
        signature: issuer.signature_algorithm.algorithm_identifier(),
        issuer: issuer.subject_der,
        not_before,
        not_after,
        subject,
        spki,
        extensions,
    })?;
    crate::lint::lint_tbs(&tbs, issuer, expect)?;
    Ok((serial, tbs))
}
