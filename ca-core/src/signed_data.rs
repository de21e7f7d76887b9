//! A CMS SignedData builder (RFC 5652 §5): one signer, signed attributes, encapsulated or
//! detached content. It signs the validation service's answers (detached, id-data) and the
//! time-stamp tokens of the TSA (encapsulated id-ct-TSTInfo, RFC 3161 §2.4.2).
//!
//! Every SignerInfo carries the signed attributes content-type and message-digest (RFC 5652
//! §5.3, §11.1–11.2) and signing-certificate-v2 (RFC 5035 §5.4, required for time-stamp tokens
//! by RFC 5816 §2.2.1), so the signer certificate cannot be substituted. The signer is named by
//! issuerAndSerialNumber (SignerInfo version 1).

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5912;
use der::{Decode, Encode};
use time::OffsetDateTime;
use x509_cert::Certificate;

use crate::derw::{self, OCTET_STRING, SEQUENCE};
use crate::error::{Error, Result};
use crate::key::{CaSigner, SignatureAlgorithm};

/// id-data (RFC 5652 §4).
pub const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
/// id-signedData (RFC 5652 §5.1).
pub const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// id-contentType (RFC 5652 §11.1).
pub const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
/// id-messageDigest (RFC 5652 §11.2).
pub const ID_MESSAGE_DIGEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
/// id-signingTime (RFC 5652 §11.3).
pub const ID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
/// id-aa-signingCertificateV2 (RFC 5035 §5.4).
pub const ID_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");

const SET: u8 = 0x31;
/// `[0]` constructed (IMPLICIT SET OF or EXPLICIT wrapper).
const CTX0: u8 = 0xa0;

/// A digest algorithm of the SHA-2 family (RFC 5754 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// id-sha256.
    Sha256,
    /// id-sha384.
    Sha384,
    /// id-sha512.
    Sha512,
}

impl DigestAlgorithm {
    /// Every algorithm, strongest last.
    pub const ALL: [DigestAlgorithm; 3] = [
        DigestAlgorithm::Sha256,
        DigestAlgorithm::Sha384,
        DigestAlgorithm::Sha512,
    ];

    /// The algorithm's OID.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            DigestAlgorithm::Sha256 => rfc5912::ID_SHA_256,
            DigestAlgorithm::Sha384 => rfc5912::ID_SHA_384,
            DigestAlgorithm::Sha512 => rfc5912::ID_SHA_512,
        }
    }

    /// The algorithm with this OID, if it is one of ours.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<DigestAlgorithm> {
        DigestAlgorithm::ALL.into_iter().find(|d| d.oid() == *oid)
    }

    /// The length of a digest in octets.
    pub fn output_len(self) -> usize {
        match self {
            DigestAlgorithm::Sha256 => 32,
            DigestAlgorithm::Sha384 => 48,
            DigestAlgorithm::Sha512 => 64,
        }
    }

    /// A short name for logs.
    pub fn name(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha256 => "sha256",
            DigestAlgorithm::Sha384 => "sha384",
            DigestAlgorithm::Sha512 => "sha512",
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let alg = match self {
            DigestAlgorithm::Sha256 => &ring::digest::SHA256,
            DigestAlgorithm::Sha384 => &ring::digest::SHA384,
            DigestAlgorithm::Sha512 => &ring::digest::SHA512,
        };
        ring::digest::digest(alg, data).as_ref().to_vec()
    }

    /// The digest a signature algorithm signs with.
    pub fn of_signature(alg: SignatureAlgorithm) -> DigestAlgorithm {
        match alg {
            SignatureAlgorithm::EcdsaSha256 | SignatureAlgorithm::RsaPkcs1Sha256 => {
                DigestAlgorithm::Sha256
            }
            SignatureAlgorithm::EcdsaSha384 | SignatureAlgorithm::RsaPkcs1Sha384 => {
                DigestAlgorithm::Sha384
            }
            SignatureAlgorithm::RsaPkcs1Sha512 => DigestAlgorithm::Sha512,
        }
    }

    /// DER AlgorithmIdentifier with absent parameters (RFC 5754 §2: "the parameters field
    /// MUST be absent" is what implementations SHOULD generate).
    pub fn algorithm_identifier_der(self) -> Vec<u8> {
        let mut oid = Vec::new();
        derw::push_oid(&mut oid, &self.oid());
        derw::tlv(SEQUENCE, &oid)
    }
}

/// What to sign and how.
#[derive(Clone, Debug)]
pub struct SignRequest<'a> {
    /// eContentType: [`ID_DATA`] or a specific type such as id-ct-TSTInfo.
    pub content_type: ObjectIdentifier,
    /// The content (the DER of TSTInfo, or the octets of a detached document).
    pub content: &'a [u8],
    /// Detached (RFC 5652 §5.2: eContent absent) or encapsulated.
    pub detached: bool,
    /// Certificates to put in `certificates` (the signer's first, then its chain); empty for
    /// none.
    pub certificates: &'a [Vec<u8>],
    /// A signing-time attribute (RFC 5652 §11.3), when given.
    pub signing_time: Option<OffsetDateTime>,
}

/// The signer: its key and its certificate (DER).
#[derive(Clone, Copy, Debug)]
pub struct Signer<'a> {
    /// The private key.
    pub key: &'a dyn CaSigner,
    /// The signer's certificate: named in the SignerInfo and in signing-certificate-v2.
    pub cert_der: &'a [u8],
}

/// DER ContentInfo (RFC 5652 §3) holding the SignedData of `request`, signed by `signer`.
pub fn sign(signer: Signer<'_>, request: &SignRequest<'_>) -> Result<Vec<u8>> {
    let cert = Certificate::from_der(signer.cert_der).map_err(|e| Error::Malformed {
        what: "signer certificate".into(),
        detail: e.to_string(),
    })?;
    let tbs = cert.tbs_certificate();
    // The key must be the certificate's: a SignedData naming a certificate whose key did not
    // sign it verifies nowhere (RFC 5652 §5.6).
    let spki = tbs
        .subject_public_key_info()
        .to_der()
        .map_err(Error::encode("subject public key info"))?;
    if spki != signer.key.public_key_der() {
        return Err(Error::PolicyRefused {
            detail: "the signing key does not belong to the signer certificate".into(),
        });
    }
    let issuer_der = tbs
        .issuer()
        .to_der()
        .map_err(Error::encode("issuer name"))?;
    let serial = tbs.serial_number().as_bytes();
    let digest = DigestAlgorithm::of_signature(signer.key.algorithm());
    let digest_alg = digest.algorithm_identifier_der();

    // Signed attributes (RFC 5652 §5.3): a SET OF, so in DER order (X.690 §11.6).
    let mut attrs = vec![
        attribute(&ID_CONTENT_TYPE, &oid_der(&request.content_type)),
        attribute(
            &ID_MESSAGE_DIGEST,
            &derw::tlv(OCTET_STRING, &digest.digest(request.content)),
        ),
        attribute(
            &ID_SIGNING_CERTIFICATE_V2,
            &signing_certificate_v2(signer.cert_der, &issuer_der, serial),
        ),
    ];
    if let Some(t) = request.signing_time {
        let mut v = Vec::new();
        derw::push_x509_time(&mut v, &t, "signing time")?;
        attrs.push(attribute(&ID_SIGNING_TIME, &v));
    }
    attrs.sort();
    let attrs_content = attrs.concat();
    // RFC 5652 §5.4: the signature is over the DER of the attributes with the SET OF tag.
    let signature = signer.key.sign(&derw::tlv(SET, &attrs_content))?;

    let mut sid = issuer_der;
    derw::push_uint(&mut sid, serial);
    let sig_alg = signer
        .key
        .algorithm()
        .algorithm_identifier()
        .to_der()
        .map_err(Error::encode("signature algorithm"))?;
    let mut si = Vec::new();
    derw::push_uint(&mut si, &[1]);
    derw::push_tlv(&mut si, SEQUENCE, &sid);
    si.extend_from_slice(&digest_alg);
    derw::push_tlv(&mut si, CTX0, &attrs_content);
    si.extend_from_slice(&sig_alg);
    derw::push_tlv(&mut si, OCTET_STRING, &signature);

    // EncapsulatedContentInfo (RFC 5652 §5.2).
    let mut eci = oid_der(&request.content_type);
    if !request.detached {
        derw::push_tlv(&mut eci, CTX0, &derw::tlv(OCTET_STRING, request.content));
    }

    // RFC 5652 §5.1: version 3 when eContentType is not id-data, else 1 (no v2 structures,
    // no attribute certificates, issuerAndSerialNumber).
    let version = if request.content_type == ID_DATA {
        1
    } else {
        3
    };
    let mut sd = Vec::new();
    derw::push_uint(&mut sd, &[version]);
    derw::push_tlv(&mut sd, SET, &digest_alg);
    derw::push_tlv(&mut sd, SEQUENCE, &eci);
    if !request.certificates.is_empty() {
        let mut certs: Vec<&Vec<u8>> = request.certificates.iter().collect();
        certs.sort();
        certs.dedup();
        let certs: Vec<u8> = certs.into_iter().flatten().copied().collect();
        derw::push_tlv(&mut sd, CTX0, &certs);
    }
    derw::push_tlv(&mut sd, SET, &derw::tlv(SEQUENCE, &si));

    let mut ci = oid_der(&ID_SIGNED_DATA);
    derw::push_tlv(&mut ci, CTX0, &derw::tlv(SEQUENCE, &sd));
    Ok(derw::tlv(SEQUENCE, &ci))
}

/// A certs-only ("degenerate") SignedData (RFC 5652 §5; the `.p7c` of RFC 5280 §4.2.2.1 and
/// RFC 8894 §3.4): no signers, no content (eContentType id-data, absent eContent), only
/// `certificates`, a DER SET OF (sorted, duplicates dropped).
pub fn certs_only(certificates: &[Vec<u8>]) -> Vec<u8> {
    let mut certs: Vec<&Vec<u8>> = certificates.iter().collect();
    certs.sort();
    certs.dedup();
    let mut sd = Vec::new();
    // RFC 5652 §5.1: version 1 (id-data, no v2+ structures or attribute certificates).
    derw::push_uint(&mut sd, &[1]);
    derw::push_tlv(&mut sd, SET, &[]);
    derw::push_tlv(&mut sd, SEQUENCE, &oid_der(&ID_DATA));
    if !certs.is_empty() {
        let body: Vec<u8> = certs.into_iter().flatten().copied().collect();
        derw::push_tlv(&mut sd, CTX0, &body);
    }
    derw::push_tlv(&mut sd, SET, &[]);
    let mut ci = oid_der(&ID_SIGNED_DATA);
    derw::push_tlv(&mut ci, CTX0, &derw::tlv(SEQUENCE, &sd));
    derw::tlv(SEQUENCE, &ci)
}

/// A detached signature over `content` (eContentType id-data), with a signing time and the
/// signer's certificate and chain: what the validation service puts in its signature header.
pub fn sign_detached(
    signer: Signer<'_>,
    certificates: &[Vec<u8>],
    content: &[u8],
    signing_time: OffsetDateTime,
) -> Result<Vec<u8>> {
    sign(
        signer,
        &SignRequest {
            content_type: ID_DATA,
            content,
            detached: true,
            certificates,
            signing_time: Some(signing_time),
        },
    )
}

fn oid_der(oid: &ObjectIdentifier) -> Vec<u8> {
    let mut v = Vec::new();
    derw::push_oid(&mut v, oid);
    v
}

/// Attribute ::= SEQUENCE { attrType, attrValues SET OF } with one value (RFC 5652 §5.3).
fn attribute(oid: &ObjectIdentifier, value_der: &[u8]) -> Vec<u8> {
    let mut a = oid_der(oid);
    derw::push_tlv(&mut a, SET, value_der);
    derw::tlv(SEQUENCE, &a)
}

/// SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2 } with one ESSCertIDv2
/// { hashAlgorithm DEFAULT id-sha256 (omitted, X.690 §11.5), certHash, issuerSerial } (RFC
/// 5035 §5.4.1). issuerSerial names the certificate's issuer as a directoryName.
fn signing_certificate_v2(cert_der: &[u8], issuer_der: &[u8], serial: &[u8]) -> Vec<u8> {
    let mut issuer_serial = Vec::new();
    // GeneralNames ::= SEQUENCE OF GeneralName; directoryName [4] EXPLICIT Name.
    let general_name = derw::tlv(0xa4, issuer_der);
    derw::push_tlv(&mut issuer_serial, SEQUENCE, &general_name);
    derw::push_uint(&mut issuer_serial, serial);
    let mut id = Vec::new();
    derw::push_tlv(
        &mut id,
        OCTET_STRING,
        &DigestAlgorithm::Sha256.digest(cert_der),
    );
    derw::push_tlv(&mut id, SEQUENCE, &issuer_serial);
    let ids = derw::tlv(SEQUENCE, &derw::tlv(SEQUENCE, &id));
    derw::tlv(SEQUENCE, &ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_have_their_lengths() {
        for d in DigestAlgorithm::ALL {
            assert_eq!(d.digest(b"x").len(), d.output_len());
            assert_eq!(DigestAlgorithm::from_oid(&d.oid()), Some(d));
        }
        assert_eq!(DigestAlgorithm::from_oid(&rfc5912::ID_SHA_1), None);
    }

    #[test]
    fn attributes_are_sequences_with_a_set() {
        let a = attribute(&ID_CONTENT_TYPE, &oid_der(&ID_DATA));
        assert_eq!(a[0], SEQUENCE);
        let pos = 2 + 2 + ID_CONTENT_TYPE.as_bytes().len();
        assert_eq!(a[pos], SET);
    }
}
