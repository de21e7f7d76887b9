//! PKCS#10 certification requests (RFC 2986): parsing and proof of possession.

use const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME;
use const_oid::db::rfc5912::ID_EXTENSION_REQ;
use der::asn1::{AnyRef, BitStringRef};
use der::{Decode, Encode};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::ext::Extensions;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::request::CertReq;

use crate::error::{Error, Result};
use crate::name::DistinguishedName;
use crate::san::SanEntry;

/// Largest CSR accepted: 64 KiB. An RSA-4096 CSR with many SANs is under 8 KiB; the limit bounds
/// work done on hostile input.
pub const MAX_CSR_BYTES: usize = 64 * 1024;

/// A parsed CSR. Its signature is checked by [`ParsedCsr::verify_signature`] (done by
/// [`verify_csr`]); the split lets a caller refuse a weak key by name before the signature check.
#[derive(Clone, Debug)]
pub struct ParsedCsr {
    info_der: Vec<u8>,
    algorithm: AlgorithmIdentifierOwned,
    signature: Vec<u8>,
    /// What the request asks for.
    pub request: VerifiedCsr,
}

impl ParsedCsr {
    /// Checks the self-signature over the request info (proof of possession, RFC 2986 §3).
    pub fn verify_signature(self) -> Result<VerifiedCsr> {
        crate::sigverify::verify_signature(
            &self.request.public_key,
            &self.algorithm,
            &self.info_der,
            &self.signature,
        )
        .map_err(|e| Error::CsrSignature {
            detail: e.to_string(),
        })?;
        Ok(self.request)
    }
}

/// What a CSR asks for (after [`verify_csr`], with its signature verified).
#[derive(Clone, Debug)]
pub struct VerifiedCsr {
    /// The requested subject.
    pub subject: DistinguishedName,
    /// The subject public key.
    pub public_key: SubjectPublicKeyInfoOwned,
    /// The DER SubjectPublicKeyInfo, as in the CSR.
    pub public_key_der: Vec<u8>,
    /// subjectAltNames from the extensionRequest attribute (RFC 2985 §5.4.2), if any.
    pub requested_sans: Vec<SanEntry>,
}

/// CertificationRequest with the request info kept as raw bytes, so the signature is checked
/// over exactly what was signed (RFC 2986 §4.2).
#[derive(der::Sequence)]
struct RawCsr<'a> {
    info: AnyRef<'a>,
    algorithm: AlgorithmIdentifierOwned,
    signature: BitStringRef<'a>,
}

/// Parses a DER CSR, verifies its self-signature and reads subject, key and requested SANs.
pub fn verify_csr(der_bytes: &[u8]) -> Result<VerifiedCsr> {
    parse_csr(der_bytes)?.verify_signature()
}

/// Parses a DER CSR and reads subject, key and requested SANs, without checking the signature.
pub fn parse_csr(der_bytes: &[u8]) -> Result<ParsedCsr> {
    if der_bytes.len() > MAX_CSR_BYTES {
        return Err(Error::TooLarge {
            what: "CSR".into(),
            size: der_bytes.len(),
            limit: MAX_CSR_BYTES,
        });
    }
    let raw = RawCsr::from_der(der_bytes).map_err(|e| Error::malformed("CSR", e))?;
    let req = CertReq::from_der(der_bytes).map_err(|e| Error::malformed("CSR", e))?;
    if req.info.version != x509_cert::request::Version::V1 {
        return Err(Error::malformed("CSR", "version must be 0 (RFC 2986 §4.1)"));
    }
    let info_der = raw.info.to_der().map_err(|e| Error::malformed("CSR", e))?;
    let sig = raw
        .signature
        .as_bytes()
        .ok_or_else(|| Error::malformed("CSR", "signature BIT STRING has unused bits"))?;
    let subject = DistinguishedName::from_name(&req.info.subject)?;
    let public_key_der = req
        .info
        .public_key
        .to_der()
        .map_err(|e| Error::malformed("CSR public key", e))?;
    let mut requested_sans = Vec::new();
    for attr in req.info.attributes.iter() {
        if attr.oid != ID_EXTENSION_REQ {
            continue;
        }
        for value in attr.values.iter() {
            let exts: Extensions = value
                .decode_as()
                .map_err(|e| Error::malformed("CSR extensionRequest", e))?;
            for ext in exts.iter().filter(|e| e.extn_id == ID_CE_SUBJECT_ALT_NAME) {
                let san = SubjectAltName::from_der(ext.extn_value.as_bytes())
                    .map_err(|e| Error::malformed("CSR subjectAltName", e))?;
                for gn in san.0 {
                    requested_sans.push(SanEntry::from_general_name(&gn).ok_or_else(|| {
                        Error::malformed("CSR subjectAltName", unsupported_gn(&gn))
                    })?);
                }
            }
        }
    }
    Ok(ParsedCsr {
        info_der,
        algorithm: raw.algorithm,
        signature: sig.to_vec(),
        request: VerifiedCsr {
            subject,
            public_key: req.info.public_key,
            public_key_der,
            requested_sans,
        },
    })
}

fn unsupported_gn(gn: &GeneralName) -> String {
    let kind = match gn {
        GeneralName::OtherName(_) => "otherName",
        GeneralName::DirectoryName(_) => "directoryName",
        GeneralName::EdiPartyName(_) => "ediPartyName",
        GeneralName::RegisteredId(_) => "registeredID",
        _ => "name",
    };
    format!("unsupported {kind} (dNSName, rfc822Name, URI and iPAddress are supported)")
}

/// Builds a PKCS#10 request (RFC 2986 §4) for `signer`'s key and `subject_der`, with no
/// attributes, signed by that key. Used for keys the CA makes itself (delegated OCSP responders).
pub fn build_csr(signer: &dyn crate::key::CaSigner, subject_der: &[u8]) -> Result<Vec<u8>> {
    #[derive(der::Sequence)]
    struct InfoDer<'a> {
        version: u8,
        subject: AnyRef<'a>,
        spki: AnyRef<'a>,
        #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
        attributes: der::asn1::SetOfVec<AnyRef<'a>>,
    }
    let info = InfoDer {
        version: 0,
        subject: AnyRef::from_der(subject_der).map_err(Error::encode("CSR subject"))?,
        spki: AnyRef::from_der(signer.public_key_der()).map_err(Error::encode("CSR key"))?,
        attributes: der::asn1::SetOfVec::new(),
    }
    .to_der()
    .map_err(Error::encode("CertificationRequestInfo"))?;
    let alg = signer.algorithm();
    let sig = signer.sign(&info)?;
    RawCsr {
        info: AnyRef::from_der(&info).map_err(Error::encode("CertificationRequestInfo"))?,
        algorithm: alg.algorithm_identifier(),
        signature: BitStringRef::from_bytes(&sig).map_err(Error::encode("CSR signature"))?,
    }
    .to_der()
    .map_err(Error::encode("CertificationRequest"))
}
