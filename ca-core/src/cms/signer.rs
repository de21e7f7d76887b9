//! The cryptographic check of one SignerInfo (RFC 5652 §5.4, §5.6, §11): the signer's
//! certificate, the signed attributes (content-type, message-digest, signing-time, and the ESS
//! signing-certificate attributes of RFC 2634 §5.4 / RFC 5035 §3) and the signature, with RSA
//! PKCS#1 v1.5, RSASSA-PSS or ECDSA ([`crate::sigverify`]). Path validation is not done here.

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5912;
use der::{Decode, Encode};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;

use super::oids;
use super::parse::{SignedData, SignerId, SignerInfo};
use super::tlv::{self, Reader, tag};

/// A hash algorithm CMS digests may use here (RFC 5754 §2): SHA-1 is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Digest {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl Digest {
    /// The algorithm of `oid`, if one we accept.
    pub fn from_oid(oid: ObjectIdentifier) -> Option<Digest> {
        match oid {
            o if o == rfc5912::ID_SHA_256 => Some(Digest::Sha256),
            o if o == rfc5912::ID_SHA_384 => Some(Digest::Sha384),
            o if o == rfc5912::ID_SHA_512 => Some(Digest::Sha512),
            _ => None,
        }
    }

    /// Its OID.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Digest::Sha256 => rfc5912::ID_SHA_256,
            Digest::Sha384 => rfc5912::ID_SHA_384,
            Digest::Sha512 => rfc5912::ID_SHA_512,
        }
    }

    /// The AlgorithmIdentifier with absent parameters (RFC 5754 §2: absent is preferred).
    pub fn algorithm_identifier(self) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid: self.oid(),
            parameters: None,
        }
    }

    /// Hashes `data`.
    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        let alg = match self {
            Digest::Sha256 => &ring::digest::SHA256,
            Digest::Sha384 => &ring::digest::SHA384,
            Digest::Sha512 => &ring::digest::SHA512,
        };
        ring::digest::digest(alg, data).as_ref().to_vec()
    }

    /// The name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Digest::Sha256 => "SHA-256",
            Digest::Sha384 => "SHA-384",
            Digest::Sha512 => "SHA-512",
        }
    }
}

/// What a SignerInfo that verified says.
#[derive(Clone, Debug)]
pub struct SignerOk {
    /// The signer's certificate (DER).
    pub cert: Vec<u8>,
    /// The signing-time attribute, seconds since the Unix epoch.
    pub signing_time: Option<i64>,
    /// Which ESS signing-certificate attribute bound the certificate (`v2`, `v1`), if any.
    pub ess: Option<&'static str>,
}

/// Checks `si` of `sd` over `content`, taking the signer's certificate from the SignedData or
/// `pool`. `Err` is the reason the signature is invalid.
pub fn check(
    sd: &SignedData,
    si: &SignerInfo,
    content: &[u8],
    pool: &[Vec<u8>],
) -> Result<SignerOk, String> {
    let digest = Digest::from_oid(si.digest_algorithm.oid).ok_or_else(|| {
        format!(
            "digest algorithm {} is not accepted (SHA-256, SHA-384 or SHA-512)",
            si.digest_algorithm.oid
        )
    })?;
    let cert_der = find_cert(&si.sid, sd.certificates.iter().chain(pool.iter()))
        .ok_or("the signer's certificate is neither in the SignedData nor in --untrusted")?;
    let cert = Certificate::from_der(&cert_der)
        .map_err(|e| format!("signer certificate does not decode: {e}"))?;
    let mut signing_time = None;
    let mut ess = None;
    let message: Vec<u8> = match &si.signed_attrs {
        None => {
            // §5.3: without signed attributes the content type must be id-data.
            if sd.content_type != oids::DATA {
                return Err(format!(
                    "eContentType {} requires signed attributes (RFC 5652 §5.3)",
                    sd.content_type
                ));
            }
            content.to_vec()
        }
        Some((_, der)) => {
            // §11.1: content-type, exactly one value, equal to eContentType.
            let ct = si.signed(oids::CONTENT_TYPE);
            let [ct] = ct.as_slice() else {
                return Err("signed attributes lack a single content-type (RFC 5652 §11.1)".into());
            };
            let ct = tlv::single(ct, "content-type")
                .and_then(|t| tlv::oid(&t, "content-type"))
                .map_err(|e| e.to_string())?;
            if ct != sd.content_type {
                return Err(format!(
                    "content-type attribute {ct} differs from eContentType {} (RFC 5652 §11.1)",
                    sd.content_type
                ));
            }
            // §11.2: message-digest, one value, the digest of the content.
            let md = si.signed(oids::MESSAGE_DIGEST);
            let [md] = md.as_slice() else {
                return Err(
                    "signed attributes lack a single message-digest (RFC 5652 §11.2)".into(),
                );
            };
            let md = tlv::single(md, "message-digest").map_err(|e| e.to_string())?;
            if md.tag != tag::OCTET_STRING {
                return Err("message-digest is not an OCTET STRING".into());
            }
            if md.value != digest.hash(content).as_slice() {
                return Err(format!(
                    "message digest mismatch: the content's {} differs from the signed \
                     message-digest (content altered, or the wrong --content)",
                    digest.name()
                ));
            }
            // §11.3: signing-time, one value.
            match si.signed(oids::SIGNING_TIME).as_slice() {
                [] => {}
                [t] => {
                    let t = tlv::single(t, "signing-time")
                        .and_then(|t| tlv::time(&t, "signing-time"))
                        .map_err(|e| e.to_string())?;
                    signing_time = Some(t);
                }
                _ => return Err("signing-time has several values (RFC 5652 §11.3)".into()),
            }
            if let [v] = si.signed(oids::SIGNING_CERTIFICATE_V2).as_slice() {
                ess_v2(v, &cert_der, &cert)?;
                ess = Some("v2");
            } else if let [v] = si.signed(oids::SIGNING_CERTIFICATE).as_slice() {
                ess_v1(v, &cert_der, &cert)?;
                ess = Some("v1");
            }
            der.clone()
        }
    };
    let spki = cert.tbs_certificate().subject_public_key_info();
    let alg = signature_algorithm(&si.signature_algorithm, digest)?;
    crate::sigverify::verify_signature(spki, &alg, &message, &si.signature).map_err(|e| {
        format!(
            "signature does not verify with the key of {}: {e}",
            crate::name_to_string(cert.tbs_certificate().subject())
        )
    })?;
    Ok(SignerOk {
        cert: cert_der,
        signing_time,
        ess,
    })
}

/// The certificate `sid` names, from `certs`.
pub(crate) fn find_cert<'a>(
    sid: &SignerId,
    certs: impl Iterator<Item = &'a Vec<u8>>,
) -> Option<Vec<u8>> {
    for d in certs {
        let Ok(c) = Certificate::from_der(d) else {
            continue;
        };
        let tbs = c.tbs_certificate();
        let hit = match sid {
            SignerId::IssuerSerial { issuer, serial } => {
                tbs.serial_number().as_bytes() == serial.as_slice()
                    && tbs.issuer().to_der().ok().as_deref() == Some(issuer.as_slice())
            }
            SignerId::KeyId(k) => tbs
                .get_extension::<x509_cert::ext::pkix::SubjectKeyIdentifier>()
                .ok()
                .flatten()
                .is_some_and(|(_, ski)| ski.0.as_bytes() == k.as_slice()),
        };
        if hit {
            return Some(d.clone());
        }
    }
    None
}

/// The algorithm to verify with: CMS lets RSA signers name `rsaEncryption` and EC signers
/// `id-ecPublicKey` with the hash given by digestAlgorithm (RFC 3370 §3.2, RFC 5753 §2.1.1,
/// RFC 5754 §3).
fn signature_algorithm(
    alg: &AlgorithmIdentifierOwned,
    digest: Digest,
) -> Result<AlgorithmIdentifierOwned, String> {
    let null = || Some(der::asn1::AnyRef::NULL.into());
    Ok(match alg.oid {
        o if o == rfc5912::RSA_ENCRYPTION => AlgorithmIdentifierOwned {
            oid: match digest {
                Digest::Sha256 => rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
                Digest::Sha384 => rfc5912::SHA_384_WITH_RSA_ENCRYPTION,
                Digest::Sha512 => rfc5912::SHA_512_WITH_RSA_ENCRYPTION,
            },
            parameters: null(),
        },
        o if o == rfc5912::ID_EC_PUBLIC_KEY => AlgorithmIdentifierOwned {
            oid: match digest {
                Digest::Sha256 => rfc5912::ECDSA_WITH_SHA_256,
                Digest::Sha384 => rfc5912::ECDSA_WITH_SHA_384,
                Digest::Sha512 => rfc5912::ECDSA_WITH_SHA_512,
            },
            parameters: None,
        },
        _ => alg.clone(),
    })
}

/// RFC 5035 §3: SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2, policies
/// OPTIONAL }; ESSCertIDv2 ::= SEQUENCE { hashAlgorithm DEFAULT id-sha256, certHash, issuerSerial
/// OPTIONAL }. The first ESSCertIDv2 names the signer's certificate (RFC 5035 §5.4).
fn ess_v2(v: &[u8], cert_der: &[u8], cert: &Certificate) -> Result<(), String> {
    let e = |d: crate::Error| format!("signing-certificate-v2: {d}");
    let s = tlv::single(v, "signing-certificate-v2").map_err(e)?;
    let mut r = s.reader("signing-certificate-v2");
    let certs = r.expect(tag::SEQUENCE, "certs").map_err(e)?;
    let mut cr = certs.reader("signing-certificate-v2");
    let first = cr.expect(tag::SEQUENCE, "ESSCertIDv2").map_err(e)?;
    let mut f = first.reader("ESSCertIDv2");
    let digest = match f.optional(tag::SEQUENCE).map_err(e)? {
        None => Digest::Sha256,
        Some(a) => {
            let a = super::parse::alg(&a).map_err(e)?;
            Digest::from_oid(a.oid)
                .ok_or_else(|| format!("signing-certificate-v2 hash {} not accepted", a.oid))?
        }
    };
    let hash = f.expect(tag::OCTET_STRING, "certHash").map_err(e)?;
    if hash.value != digest.hash(cert_der).as_slice() {
        return Err(
            "signing-certificate-v2 names another certificate than the signer's (RFC 5035 §5.4)"
                .into(),
        );
    }
    issuer_serial(&mut f, cert).map_err(|d| format!("signing-certificate-v2: {d}"))
}

/// RFC 2634 §5.4: SigningCertificate with ESSCertID { certHash (SHA-1), issuerSerial OPTIONAL },
/// as RFC 3161 §2.4.1 time-stamp tokens carry it.
fn ess_v1(v: &[u8], cert_der: &[u8], cert: &Certificate) -> Result<(), String> {
    let e = |d: crate::Error| format!("signing-certificate: {d}");
    let s = tlv::single(v, "signing-certificate").map_err(e)?;
    let mut r = s.reader("signing-certificate");
    let certs = r.expect(tag::SEQUENCE, "certs").map_err(e)?;
    let mut cr = certs.reader("signing-certificate");
    let first = cr.expect(tag::SEQUENCE, "ESSCertID").map_err(e)?;
    let mut f = first.reader("ESSCertID");
    let hash = f.expect(tag::OCTET_STRING, "certHash").map_err(e)?;
    let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, cert_der);
    if hash.value != sha1.as_ref() {
        return Err(
            "signing-certificate names another certificate than the signer's (RFC 2634 §5.4)"
                .into(),
        );
    }
    issuer_serial(&mut f, cert).map_err(|d| format!("signing-certificate: {d}"))
}

/// IssuerSerial ::= SEQUENCE { issuer GeneralNames, serialNumber } (RFC 5035 §4), when present:
/// the serial must be the certificate's, and a directoryName must be its issuer.
fn issuer_serial(r: &mut Reader<'_>, cert: &Certificate) -> Result<(), String> {
    let Some(is) = r.optional(tag::SEQUENCE).map_err(|e| e.to_string())? else {
        return Ok(());
    };
    let mut s = is.reader("IssuerSerial");
    let names = s
        .expect(tag::SEQUENCE, "issuer")
        .map_err(|e| e.to_string())?;
    let serial = s
        .expect(tag::INTEGER, "serialNumber")
        .map_err(|e| e.to_string())?;
    let tbs = cert.tbs_certificate();
    if serial.value != tbs.serial_number().as_bytes() {
        return Err("issuerSerial names another serial number".into());
    }
    let issuer = tbs.issuer().to_der().map_err(|e| e.to_string())?;
    for n in names
        .reader("GeneralNames")
        .all()
        .map_err(|e| e.to_string())?
    {
        if n.tag == tag::ctx(4) && n.value != issuer.as_slice() {
            return Err("issuerSerial names another issuer".into());
        }
    }
    Ok(())
}
