//! OCSP (RFC 6960) with the lightweight profile of RFC 5019: request parsing (DER and GET
//! paths), a [`StatusSource`] seam for the status lookup, signed BasicOCSPResponses, the
//! non-success responses, issuer hashes for indexing CAs, and a response parser for tests and
//! clients.
//!
//! Structures are from RFC 6960 §4.1.1 (requests) and §4.2.1 (responses); the ASN.1 module
//! (appendix B.1) uses EXPLICIT tags. Responses are encoded directly as DER byte strings
//! (X.690 §10); requests and responses are decoded with `der`'s derive.

use std::collections::HashSet;
use std::fmt;

use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5280, rfc5912, rfc6960};
use der::asn1::{Any, BitString, GeneralizedTime, Int, OctetString};
use der::{Decode, Encode, Tag, Tagged};
use spki::AlgorithmIdentifierOwned;
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::ext::Extension;

use crate::crl::{ReasonCode, decode_reason};
use crate::derw;
use crate::error::{Error, Result};
use crate::key::{CaSigner, parse_spki};
use crate::sigverify::{SignatureError, verify_signature};

/// Largest OCSP request accepted, in octets (DER, or after base64 decoding for GET).
///
/// A request for one certificate is under 100 octets, and RFC 5019 §2.1.1 profiles requests to
/// one CertID with no signature. The full RFC 6960 syntax still allows several CertIDs, a
/// requestor signature and a `certs` chain (§4.1.1), which with RSA-4096 certificates stays
/// within a few KiB; 64 KiB leaves wide room for that while bounding the memory and parsing
/// work an unauthenticated client can cause (RFC 6960 §5, denial of service).
pub const MAX_REQUEST_SIZE: usize = 64 * 1024;

/// Nonce length limits of RFC 8954 §2.1: `Nonce ::= OCTET STRING (SIZE(1..32))`.
pub const MAX_NONCE_LEN: usize = 32;

/// A CertID hash algorithm this responder can match (RFC 6960 §4.1.1; RFC 5019 §2.1.1 requires
/// SHA-1, SHA-256 is the modern choice).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// SHA-1 (id-sha1).
    Sha1,
    /// SHA-256 (id-sha256).
    Sha256,
}

impl HashAlgorithm {
    /// Both algorithms.
    pub const ALL: [HashAlgorithm; 2] = [HashAlgorithm::Sha1, HashAlgorithm::Sha256];

    /// The algorithm's OID.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            HashAlgorithm::Sha1 => rfc5912::ID_SHA_1,
            HashAlgorithm::Sha256 => rfc5912::ID_SHA_256,
        }
    }

    /// The algorithm for an OID, if supported.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<HashAlgorithm> {
        HashAlgorithm::ALL.into_iter().find(|h| h.oid() == *oid)
    }

    /// A short name (`sha1`, `sha256`).
    pub fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Sha1 => "sha1",
            HashAlgorithm::Sha256 => "sha256",
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let alg = match self {
            HashAlgorithm::Sha1 => &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
            HashAlgorithm::Sha256 => &ring::digest::SHA256,
        };
        ring::digest::digest(alg, data).as_ref().to_vec()
    }
}

/// A CertID (RFC 6960 §4.1.1) as received, with its DER kept to echo it in the response.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CertId {
    /// hashAlgorithm's OID, as received.
    pub hash_algorithm: ObjectIdentifier,
    /// The hash algorithm, when it is one we support.
    pub hash: Option<HashAlgorithm>,
    /// issuerNameHash: hash of the issuer's DER Name.
    pub issuer_name_hash: Vec<u8>,
    /// issuerKeyHash: hash of the issuer's subjectPublicKey BIT STRING value.
    pub issuer_key_hash: Vec<u8>,
    /// serialNumber: big-endian magnitude (a negative serial keeps its two's-complement octets).
    pub serial: Vec<u8>,
    der: Vec<u8>,
}

impl fmt::Debug for CertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertId")
            .field("hash_algorithm", &self.hash_algorithm)
            .field("issuer_name_hash", &hex::encode(&self.issuer_name_hash))
            .field("issuer_key_hash", &hex::encode(&self.issuer_key_hash))
            .field("serial", &hex::encode(&self.serial))
            .finish()
    }
}

#[derive(der::Sequence)]
struct CertIdAsn {
    hash_algorithm: AlgorithmIdentifierOwned,
    issuer_name_hash: OctetString,
    issuer_key_hash: OctetString,
    serial_number: Int,
}

impl CertId {
    /// Builds a CertID for a certificate of the CA `ca` (clients and tests).
    pub fn new(hash: HashAlgorithm, ca: &CaHashes, serial: &[u8]) -> Result<CertId> {
        let (name, key) = ca.hashes(hash);
        let mut body = Vec::new();
        // AlgorithmIdentifier with NULL parameters, as OpenSSL and most clients send it.
        let mut alg = Vec::new();
        derw::push_oid(&mut alg, &hash.oid());
        alg.extend_from_slice(&[0x05, 0x00]);
        derw::push_tlv(&mut body, derw::SEQUENCE, &alg);
        derw::push_tlv(&mut body, derw::OCTET_STRING, name);
        derw::push_tlv(&mut body, derw::OCTET_STRING, key);
        derw::push_uint(&mut body, serial);
        CertId::from_der(&derw::tlv(derw::SEQUENCE, &body))
    }

    /// Parses a DER CertID.
    pub fn from_der(der_bytes: &[u8]) -> Result<CertId> {
        let asn = CertIdAsn::from_der(der_bytes).map_err(|e| Error::malformed("OCSP CertID", e))?;
        let serial = match asn.serial_number.as_bytes() {
            [0, rest @ ..] if !rest.is_empty() => rest.to_vec(),
            b => b.to_vec(),
        };
        Ok(CertId {
            hash_algorithm: asn.hash_algorithm.oid,
            hash: HashAlgorithm::from_oid(&asn.hash_algorithm.oid),
            issuer_name_hash: asn.issuer_name_hash.as_bytes().to_vec(),
            issuer_key_hash: asn.issuer_key_hash.as_bytes().to_vec(),
            serial,
            der: der_bytes.to_vec(),
        })
    }

    /// The CertID's DER, as received.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
}

/// The CertID hashes of one CA (RFC 6960 §4.1.1), for both supported algorithms, so a
/// responder can index its CAs by (algorithm, issuerNameHash, issuerKeyHash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaHashes {
    /// SHA-1 of the CA's subject Name DER.
    pub name_sha1: Vec<u8>,
    /// SHA-1 of the CA's subjectPublicKey BIT STRING value (no tag, length or unused-bits octet).
    pub key_sha1: Vec<u8>,
    /// SHA-256 of the CA's subject Name DER.
    pub name_sha256: Vec<u8>,
    /// SHA-256 of the CA's subjectPublicKey BIT STRING value.
    pub key_sha256: Vec<u8>,
}

/// The subjectPublicKey BIT STRING value of a DER SubjectPublicKeyInfo.
fn spki_key_bits(spki_der: &[u8]) -> Result<Vec<u8>> {
    let spki = parse_spki(spki_der)?;
    Ok(spki.subject_public_key.raw_bytes().to_vec())
}

impl CaHashes {
    /// From the CA's subject Name DER and SubjectPublicKeyInfo DER.
    pub fn from_parts(subject_name_der: &[u8], spki_der: &[u8]) -> Result<CaHashes> {
        let key = spki_key_bits(spki_der)?;
        Ok(CaHashes {
            name_sha1: HashAlgorithm::Sha1.digest(subject_name_der),
            key_sha1: HashAlgorithm::Sha1.digest(&key),
            name_sha256: HashAlgorithm::Sha256.digest(subject_name_der),
            key_sha256: HashAlgorithm::Sha256.digest(&key),
        })
    }

    /// From the CA's DER certificate.
    pub fn from_certificate(cert_der: &[u8]) -> Result<CaHashes> {
        let cert =
            Certificate::from_der(cert_der).map_err(|e| Error::malformed("CA certificate", e))?;
        let tbs = cert.tbs_certificate();
        let name = tbs
            .subject()
            .to_der()
            .map_err(Error::encode("CA subject"))?;
        let spki = tbs
            .subject_public_key_info()
            .to_der()
            .map_err(Error::encode("CA public key"))?;
        CaHashes::from_parts(&name, &spki)
    }

    /// The (name hash, key hash) pair for an algorithm.
    pub fn hashes(&self, hash: HashAlgorithm) -> (&[u8], &[u8]) {
        match hash {
            HashAlgorithm::Sha1 => (&self.name_sha1, &self.key_sha1),
            HashAlgorithm::Sha256 => (&self.name_sha256, &self.key_sha256),
        }
    }

    /// Whether a CertID names this CA as issuer (false for unsupported hash algorithms).
    pub fn matches(&self, id: &CertId) -> bool {
        match id.hash {
            Some(h) => {
                let (n, k) = self.hashes(h);
                n == id.issuer_name_hash.as_slice() && k == id.issuer_key_hash.as_slice()
            }
            None => false,
        }
    }
}

/// A parsed OCSPRequest (RFC 6960 §4.1.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OcspRequest {
    /// The CertIDs of requestList, in order.
    pub cert_ids: Vec<CertId>,
    /// The nonce (RFC 8954): the inner OCTET STRING's value, 1..=32 octets.
    pub nonce: Option<Vec<u8>>,
    /// Whether optionalSignature is present (it is not checked: RFC 5019 §2.1.2 requests are
    /// unsigned, and this responder does not authorize by requestor).
    pub signed: bool,
}

#[derive(der::Sequence)]
struct OcspRequestAsn {
    tbs_request: TbsRequestAsn,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    optional_signature: Option<Any>,
}

#[derive(der::Sequence)]
struct TbsRequestAsn {
    #[asn1(context_specific = "0", default = "Default::default")]
    version: u8,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    requestor_name: Option<Any>,
    request_list: Vec<RequestAsn>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    request_extensions: Option<Vec<Extension>>,
}

#[derive(der::Sequence)]
struct RequestAsn {
    req_cert: Any,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    single_request_extensions: Option<Vec<Extension>>,
}

fn check_unique(exts: &[Extension], what: &str) -> Result<()> {
    let mut seen = HashSet::new();
    for e in exts {
        if !seen.insert(e.extn_id) {
            return Err(Error::malformed(
                what,
                format!(
                    "extension {} appears twice (RFC 5280 §4.2, RFC 6960 §4.4)",
                    e.extn_id
                ),
            ));
        }
    }
    Ok(())
}

/// Parses a DER OCSPRequest: at most [`MAX_REQUEST_SIZE`] octets, at least one CertID, version
/// v1, no duplicate extensions, no unknown critical extensions, a nonce of 1..=32 octets.
pub fn parse_request(der_bytes: &[u8]) -> Result<OcspRequest> {
    const W: &str = "OCSP request";
    if der_bytes.len() > MAX_REQUEST_SIZE {
        return Err(Error::TooLarge {
            what: W.into(),
            size: der_bytes.len(),
            limit: MAX_REQUEST_SIZE,
        });
    }
    let req = OcspRequestAsn::from_der(der_bytes).map_err(|e| Error::malformed(W, e))?;
    let tbs = &req.tbs_request;
    if tbs.version != 0 {
        return Err(Error::malformed(
            W,
            format!("version {} is not v1 (RFC 6960 §4.1.1)", tbs.version),
        ));
    }
    if tbs.request_list.is_empty() {
        return Err(Error::malformed(W, "requestList is empty"));
    }
    let mut cert_ids = Vec::with_capacity(tbs.request_list.len());
    for r in &tbs.request_list {
        let der_id = r.req_cert.to_der().map_err(|e| Error::malformed(W, e))?;
        cert_ids.push(CertId::from_der(&der_id)?);
        if let Some(exts) = &r.single_request_extensions {
            check_unique(exts, W)?;
            // §4.4.6 service locator is the one defined single-request extension.
            if let Some(e) = exts
                .iter()
                .find(|e| e.critical && e.extn_id != rfc6960::ID_PKIX_OCSP_SERVICE_LOCATOR)
            {
                return Err(Error::malformed(
                    W,
                    format!("unknown critical extension {}", e.extn_id),
                ));
            }
        }
    }
    let mut nonce = None;
    if let Some(exts) = &tbs.request_extensions {
        check_unique(exts, W)?;
        for e in exts {
            match e.extn_id {
                rfc6960::ID_PKIX_OCSP_NONCE => {
                    // RFC 8954 §2.1: extnValue holds a DER OCTET STRING of 1..32 octets.
                    let inner = OctetString::from_der(e.extn_value.as_bytes())
                        .map_err(|err| Error::malformed("OCSP nonce", err))?;
                    let n = inner.as_bytes();
                    if n.is_empty() || n.len() > MAX_NONCE_LEN {
                        return Err(Error::malformed(
                            "OCSP nonce",
                            format!("{} octets, outside 1..32 (RFC 8954 §2.1)", n.len()),
                        ));
                    }
                    nonce = Some(n.to_vec());
                }
                // §4.4.3 acceptable response types; we only produce id-pkix-ocsp-basic.
                rfc6960::ID_PKIX_OCSP_RESPONSE | rfc6960::ID_PKIX_OCSP_PREF_SIG_ALGS => {}
                other if e.critical => {
                    return Err(Error::malformed(
                        W,
                        format!("unknown critical extension {other}"),
                    ));
                }
                _ => {}
            }
        }
    }
    Ok(OcspRequest {
        cert_ids,
        nonce,
        signed: req.optional_signature.is_some(),
    })
}

fn percent_decode(s: &str) -> Result<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hexpair = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| Error::malformed("OCSP GET path", "bad percent-encoding"))?;
            out.push(hexpair);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// Decodes the request carried in an OCSP GET path (RFC 6960 appendix A.1: `{url}/{url-encoding
/// of base-64 encoding of the DER encoding of the OCSPRequest}`; RFC 5019 §5). `path` is the
/// part after the responder's base URL, with or without a leading `/`. Percent-escapes are
/// decoded first; then standard base64 is tried, then base64url (which some clients send);
/// padding may be present or not.
pub fn decode_get_path(path: &str) -> Result<Vec<u8>> {
    use base64::Engine;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let path = path.strip_prefix('/').unwrap_or(path);
    // Base64 grows 4/3; the escaped form up to 3x that again.
    if path.len() > MAX_REQUEST_SIZE * 4 {
        return Err(Error::TooLarge {
            what: "OCSP GET path".into(),
            size: path.len(),
            limit: MAX_REQUEST_SIZE * 4,
        });
    }
    let text = percent_decode(path)?;
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let standard = GeneralPurpose::new(&base64::alphabet::STANDARD, config);
    let url = GeneralPurpose::new(&base64::alphabet::URL_SAFE, config);
    let der_bytes = standard
        .decode(&text)
        .or_else(|_| url.decode(&text))
        .map_err(|e| Error::malformed("OCSP GET path", format!("not base64: {e}")))?;
    if der_bytes.len() > MAX_REQUEST_SIZE {
        return Err(Error::TooLarge {
            what: "OCSP request".into(),
            size: der_bytes.len(),
            limit: MAX_REQUEST_SIZE,
        });
    }
    Ok(der_bytes)
}

/// OCSPResponseStatus (RFC 6960 §4.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResponseStatus {
    /// successful (0).
    Successful = 0,
    /// malformedRequest (1).
    MalformedRequest = 1,
    /// internalError (2).
    InternalError = 2,
    /// tryLater (3).
    TryLater = 3,
    /// sigRequired (5).
    SigRequired = 5,
    /// unauthorized (6).
    Unauthorized = 6,
}

impl ResponseStatus {
    /// The ENUMERATED value.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The status for a value (4 and > 6 are undefined).
    pub fn from_code(code: u8) -> Option<ResponseStatus> {
        [
            ResponseStatus::Successful,
            ResponseStatus::MalformedRequest,
            ResponseStatus::InternalError,
            ResponseStatus::TryLater,
            ResponseStatus::SigRequired,
            ResponseStatus::Unauthorized,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }

    /// The RFC 6960 name.
    pub fn name(self) -> &'static str {
        match self {
            ResponseStatus::Successful => "successful",
            ResponseStatus::MalformedRequest => "malformedRequest",
            ResponseStatus::InternalError => "internalError",
            ResponseStatus::TryLater => "tryLater",
            ResponseStatus::SigRequired => "sigRequired",
            ResponseStatus::Unauthorized => "unauthorized",
        }
    }
}

/// An OCSPResponse without responseBytes (RFC 6960 §4.2.1: only `successful` carries a body).
/// For [`ResponseStatus::Successful`] use [`Responder::build_response`].
pub fn status_response(status: ResponseStatus) -> Vec<u8> {
    vec![derw::SEQUENCE, 3, derw::ENUMERATED, 1, status.code()]
}

/// A certificate's status as a StatusSource reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Issued by this CA and not revoked.
    Good,
    /// Revoked at `time`, for `reason` (RFC 6960 §2.2, §4.2.1 RevokedInfo). A reason of
    /// removeFromCRL (a hold that was released, RFC 5280 §5.3.1) is answered `good`.
    Revoked {
        /// revocationTime.
        time: OffsetDateTime,
        /// revocationReason; `None` and `Some(Unspecified)` are both sent without a reason.
        reason: Option<ReasonCode>,
    },
    /// The issuer is ours but the serial is not known (RFC 6960 §2.2 "unknown").
    Unknown,
    /// The issuer (name and key hash) is not served here: the response is `unauthorized`
    /// (RFC 5019 §2.2.3).
    UnknownIssuer,
}

/// Where a responder looks statuses up: maps (hashAlgorithm, issuerNameHash, issuerKeyHash,
/// serial) to a [`Lookup`]. CertIDs with an unsupported hash algorithm are answered `unknown`
/// without a call.
pub trait StatusSource {
    /// The status of the certificate `cert_id` names.
    fn lookup(&self, cert_id: &CertId) -> Lookup;
}

/// A signing OCSP responder: the CA's own key, or a delegated responder (RFC 6960 §4.2.2.2)
/// whose certificate goes into `certs`.
pub struct Responder<'a> {
    signer: &'a dyn CaSigner,
    certs: Vec<Vec<u8>>,
    key_hash: Vec<u8>,
    validity: time::Duration,
    sig_alg_der: Vec<u8>,
}

impl fmt::Debug for Responder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("key_hash", &hex::encode(&self.key_hash))
            .field("delegated", &!self.certs.is_empty())
            .field("validity", &self.validity)
            .finish_non_exhaustive()
    }
}

impl<'a> Responder<'a> {
    /// A responder signing with `signer`. With `responder_cert` (DER) it is a delegated
    /// responder: the certificate must hold the signer's key and the id-kp-OCSPSigning EKU
    /// (§4.2.2.2) and is sent in `certs`; without it the signer is the CA itself and `certs`
    /// is left out (RFC 5019 §2.2.1). Each SingleResponse's nextUpdate is thisUpdate plus
    /// `validity` (none when `validity` is zero).
    pub fn new(
        signer: &'a dyn CaSigner,
        responder_cert: Option<&[u8]>,
        validity: time::Duration,
    ) -> Result<Responder<'a>> {
        let mut certs = Vec::new();
        if let Some(cert_der) = responder_cert {
            let cert = Certificate::from_der(cert_der)
                .map_err(|e| Error::malformed("OCSP responder certificate", e))?;
            let spki = cert
                .tbs_certificate()
                .subject_public_key_info()
                .to_der()
                .map_err(Error::encode("responder public key"))?;
            if spki != signer.public_key_der() {
                return Err(Error::key(
                    "OCSP responder",
                    "the responder certificate does not hold the signing key",
                ));
            }
            let eku = cert
                .tbs_certificate()
                .get_extension::<x509_cert::ext::pkix::ExtendedKeyUsage>()
                .map_err(|e| Error::malformed("OCSP responder certificate", e))?;
            if !eku.is_some_and(|(_, e)| e.0.contains(&rfc5280::ID_KP_OCSP_SIGNING)) {
                return Err(Error::PolicyRefused {
                    detail: "a delegated OCSP responder certificate needs id-kp-OCSPSigning (RFC 6960 §4.2.2.2)".into(),
                });
            }
            certs.push(cert_der.to_vec());
        }
        let key_hash = HashAlgorithm::Sha1.digest(&spki_key_bits(signer.public_key_der())?);
        let sig_alg_der = signer
            .algorithm()
            .algorithm_identifier()
            .to_der()
            .map_err(Error::encode("OCSP signature algorithm"))?;
        Ok(Responder {
            signer,
            certs,
            key_hash,
            validity,
            sig_alg_der,
        })
    }

    /// The responder's KeyHash (SHA-1 of its subjectPublicKey BIT STRING value, §4.2.1).
    pub fn key_hash(&self) -> &[u8] {
        &self.key_hash
    }

    /// Answers a parsed request: `unauthorized` when any CertID's issuer is not served here,
    /// otherwise a signed `successful` response with one SingleResponse per CertID, in order.
    /// `now` is producedAt and thisUpdate.
    pub fn build_response(
        &self,
        request: &OcspRequest,
        source: &dyn StatusSource,
        now: OffsetDateTime,
    ) -> Result<Vec<u8>> {
        let mut statuses = Vec::with_capacity(request.cert_ids.len());
        for id in &request.cert_ids {
            let status = if id.hash.is_none() {
                Lookup::Unknown
            } else {
                source.lookup(id)
            };
            if status == Lookup::UnknownIssuer {
                return Ok(status_response(ResponseStatus::Unauthorized));
            }
            statuses.push(status);
        }
        let now = now
            .replace_nanosecond(0)
            .map_err(|e| Error::InvalidArgument {
                name: "now",
                value: now.to_string(),
                reason: e.to_string(),
            })?;
        let next_update = if self.validity.is_positive() {
            Some(now + self.validity)
        } else {
            None
        };

        let mut responses = Vec::new();
        for (id, status) in request.cert_ids.iter().zip(&statuses) {
            let mut s = Vec::with_capacity(id.der.len() + 64);
            s.extend_from_slice(&id.der);
            // CertStatus (§4.2.1): good [0] IMPLICIT NULL, revoked [1] IMPLICIT RevokedInfo,
            // unknown [2] IMPLICIT UnknownInfo (NULL).
            match status {
                Lookup::Revoked {
                    reason: Some(ReasonCode::RemoveFromCrl),
                    ..
                }
                | Lookup::Good => {
                    s.extend_from_slice(&[0x80, 0]);
                }
                Lookup::Revoked { time, reason } => {
                    let mut info = Vec::new();
                    derw::push_generalized_time(&mut info, time, "revocationTime")?;
                    if let Some(r) = reason.filter(|r| *r != ReasonCode::Unspecified) {
                        // revocationReason [0] EXPLICIT CRLReason.
                        info.extend_from_slice(&[0xa0, 3, derw::ENUMERATED, 1, r.code()]);
                    }
                    derw::push_tlv(&mut s, 0xa1, &info);
                }
                Lookup::Unknown | Lookup::UnknownIssuer => s.extend_from_slice(&[0x82, 0]),
            }
            derw::push_generalized_time(&mut s, &now, "thisUpdate")?;
            if let Some(nu) = &next_update {
                let mut t = Vec::new();
                derw::push_generalized_time(&mut t, nu, "nextUpdate")?;
                derw::push_tlv(&mut s, 0xa0, &t);
            }
            derw::push_tlv(&mut responses, derw::SEQUENCE, &s);
        }

        // ResponseData (§4.2.1): version DEFAULT v1 omitted; responderID byKey [2] EXPLICIT
        // KeyHash (RFC 5019 §2.2.2 recommends byKey).
        let mut rd = Vec::new();
        derw::push_tlv(
            &mut rd,
            0xa2,
            &derw::tlv(derw::OCTET_STRING, &self.key_hash),
        );
        derw::push_generalized_time(&mut rd, &now, "producedAt")?;
        derw::push_tlv(&mut rd, derw::SEQUENCE, &responses);
        if let Some(nonce) = &request.nonce {
            // §4.4.1 / RFC 8954: echo the nonce in responseExtensions [1] EXPLICIT.
            let mut exts = Vec::new();
            derw::push_extension(
                &mut exts,
                &rfc6960::ID_PKIX_OCSP_NONCE,
                false,
                &derw::tlv(derw::OCTET_STRING, nonce),
            );
            derw::push_tlv(&mut rd, 0xa1, &derw::tlv(derw::SEQUENCE, &exts));
        }
        let tbs = derw::tlv(derw::SEQUENCE, &rd);
        let signature = self.signer.sign(&tbs)?;

        // BasicOCSPResponse (§4.2.1).
        let mut basic = tbs;
        basic.extend_from_slice(&self.sig_alg_der);
        derw::push_header(&mut basic, derw::BIT_STRING, signature.len() + 1);
        basic.push(0);
        basic.extend_from_slice(&signature);
        if !self.certs.is_empty() {
            let all: Vec<u8> = self.certs.concat();
            derw::push_tlv(&mut basic, 0xa0, &derw::tlv(derw::SEQUENCE, &all));
        }
        let basic = derw::tlv(derw::SEQUENCE, &basic);

        // OCSPResponse { successful, [0] EXPLICIT ResponseBytes { id-pkix-ocsp-basic, OCTET STRING } }.
        let mut rb = Vec::new();
        derw::push_oid(&mut rb, &rfc6960::ID_PKIX_OCSP_BASIC);
        derw::push_tlv(&mut rb, derw::OCTET_STRING, &basic);
        let mut body = vec![derw::ENUMERATED, 1, ResponseStatus::Successful.code()];
        derw::push_tlv(&mut body, 0xa0, &derw::tlv(derw::SEQUENCE, &rb));
        Ok(derw::tlv(derw::SEQUENCE, &body))
    }

    /// Answers a DER request; never fails: a request that does not parse gets
    /// `malformedRequest`, a signing failure `internalError` (RFC 6960 §2.3).
    pub fn respond(
        &self,
        request_der: &[u8],
        source: &dyn StatusSource,
        now: OffsetDateTime,
    ) -> Vec<u8> {
        match parse_request(request_der) {
            Ok(req) => self
                .build_response(&req, source, now)
                .unwrap_or_else(|_| status_response(ResponseStatus::InternalError)),
            Err(_) => status_response(ResponseStatus::MalformedRequest),
        }
    }
}

/// A certificate status as read from a response (RFC 6960 §4.2.1 CertStatus).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertStatus {
    /// good.
    Good,
    /// revoked.
    Revoked {
        /// revocationTime.
        time: OffsetDateTime,
        /// revocationReason, if present.
        reason: Option<ReasonCode>,
    },
    /// unknown.
    Unknown,
}

/// ResponderID (§4.2.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponderId {
    /// byName: the responder's Name, DER.
    ByName(Vec<u8>),
    /// byKey: SHA-1 of the responder's subjectPublicKey value.
    ByKey(Vec<u8>),
}

/// One SingleResponse read from a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SingleResponse {
    /// certID.
    pub cert_id: CertId,
    /// certStatus.
    pub status: CertStatus,
    /// thisUpdate.
    pub this_update: OffsetDateTime,
    /// nextUpdate, if present.
    pub next_update: Option<OffsetDateTime>,
}

/// A parsed BasicOCSPResponse.
#[derive(Clone, Debug)]
pub struct BasicResponse {
    /// responderID.
    pub responder_id: ResponderId,
    /// producedAt.
    pub produced_at: OffsetDateTime,
    /// The SingleResponses.
    pub responses: Vec<SingleResponse>,
    /// The nonce's value (inner OCTET STRING), if the response carries one.
    pub nonce: Option<Vec<u8>>,
    /// Unknown critical responseExtensions (a client must then reject the response).
    pub unknown_critical_extensions: Vec<ObjectIdentifier>,
    /// The DER certificates in `certs`.
    pub certs: Vec<Vec<u8>>,
    /// signatureAlgorithm.
    pub signature_algorithm: AlgorithmIdentifierOwned,
    tbs_der: Vec<u8>,
    signature: Vec<u8>,
}

impl BasicResponse {
    /// Verifies the response signature with the signer's public key (the CA's, or the delegated
    /// responder's from [`BasicResponse::certs`]).
    pub fn verify_signature(
        &self,
        spki: &spki::SubjectPublicKeyInfoOwned,
    ) -> Result<(), SignatureError> {
        verify_signature(
            spki,
            &self.signature_algorithm,
            &self.tbs_der,
            &self.signature,
        )
    }

    /// The SingleResponse for a CertID (matched by hash algorithm, hashes and serial).
    pub fn find(&self, id: &CertId) -> Option<&SingleResponse> {
        self.responses.iter().find(|r| {
            r.cert_id.hash_algorithm == id.hash_algorithm
                && r.cert_id.issuer_name_hash == id.issuer_name_hash
                && r.cert_id.issuer_key_hash == id.issuer_key_hash
                && r.cert_id.serial == id.serial
        })
    }
}

/// A parsed OCSPResponse.
#[derive(Clone, Debug)]
pub struct OcspResponse {
    /// responseStatus.
    pub status: ResponseStatus,
    /// The BasicOCSPResponse, present exactly when the status is successful.
    pub basic: Option<BasicResponse>,
}

#[derive(der::Sequence)]
struct OcspResponseAsn {
    response_status: Any,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    response_bytes: Option<ResponseBytesAsn>,
}

#[derive(der::Sequence)]
struct ResponseBytesAsn {
    response_type: ObjectIdentifier,
    response: OctetString,
}

#[derive(der::Sequence)]
struct BasicAsn {
    tbs_response_data: Any,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    certs: Option<Vec<Any>>,
}

#[derive(der::Sequence)]
struct ResponseDataAsn {
    #[asn1(context_specific = "0", default = "Default::default")]
    version: u8,
    responder_id: Any,
    produced_at: GeneralizedTime,
    responses: Vec<SingleResponseAsn>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    response_extensions: Option<Vec<Extension>>,
}

#[derive(der::Sequence)]
struct SingleResponseAsn {
    cert_id: Any,
    cert_status: Any,
    this_update: GeneralizedTime,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    next_update: Option<GeneralizedTime>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    single_extensions: Option<Vec<Extension>>,
}

#[derive(der::Sequence)]
struct RevokedInfoAsn {
    revocation_time: GeneralizedTime,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    revocation_reason: Option<Any>,
}

fn gt(t: &GeneralizedTime) -> Result<OffsetDateTime> {
    i64::try_from(t.to_unix_duration().as_secs())
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .ok_or_else(|| Error::malformed("OCSP response", "time out of range"))
}

/// Parses a DER OCSPResponse (RFC 6960 §4.2.1). Rejects undefined statuses, a successful
/// status without responseBytes, response types other than id-pkix-ocsp-basic, and duplicate
/// extensions. The signature is checked separately ([`BasicResponse::verify_signature`]).
pub fn parse_response(der_bytes: &[u8]) -> Result<OcspResponse> {
    const W: &str = "OCSP response";
    let resp = OcspResponseAsn::from_der(der_bytes).map_err(|e| Error::malformed(W, e))?;
    let code = match (resp.response_status.tag(), resp.response_status.value()) {
        (Tag::Enumerated, [c]) => *c,
        _ => {
            return Err(Error::malformed(
                W,
                "responseStatus is not a one-octet ENUMERATED",
            ));
        }
    };
    let status = ResponseStatus::from_code(code)
        .ok_or_else(|| Error::malformed(W, format!("undefined responseStatus {code}")))?;
    let Some(bytes) = resp.response_bytes else {
        if status == ResponseStatus::Successful {
            return Err(Error::malformed(
                W,
                "successful without responseBytes (RFC 6960 §4.2.1)",
            ));
        }
        return Ok(OcspResponse {
            status,
            basic: None,
        });
    };
    if status != ResponseStatus::Successful {
        return Err(Error::malformed(
            W,
            "responseBytes with a non-successful status",
        ));
    }
    if bytes.response_type != rfc6960::ID_PKIX_OCSP_BASIC {
        return Err(Error::malformed(
            W,
            format!(
                "responseType {} is not id-pkix-ocsp-basic",
                bytes.response_type
            ),
        ));
    }
    let basic =
        BasicAsn::from_der(bytes.response.as_bytes()).map_err(|e| Error::malformed(W, e))?;
    let tbs_der = basic
        .tbs_response_data
        .to_der()
        .map_err(|e| Error::malformed(W, e))?;
    let rd = ResponseDataAsn::from_der(&tbs_der).map_err(|e| Error::malformed(W, e))?;
    if rd.version != 0 {
        return Err(Error::malformed(
            W,
            format!("version {} is not v1", rd.version),
        ));
    }
    let responder_id = match rd.responder_id.tag() {
        Tag::ContextSpecific {
            number,
            constructed: true,
        } if number.value() == 1 => {
            x509_cert::name::Name::from_der(rd.responder_id.value())
                .map_err(|e| Error::malformed(W, e))?;
            ResponderId::ByName(rd.responder_id.value().to_vec())
        }
        Tag::ContextSpecific {
            number,
            constructed: true,
        } if number.value() == 2 => {
            let h = OctetString::from_der(rd.responder_id.value())
                .map_err(|e| Error::malformed(W, e))?;
            ResponderId::ByKey(h.as_bytes().to_vec())
        }
        t => return Err(Error::malformed(W, format!("responderID has tag {t}"))),
    };
    let mut responses = Vec::with_capacity(rd.responses.len());
    for sr in &rd.responses {
        let cert_id = CertId::from_der(&sr.cert_id.to_der().map_err(|e| Error::malformed(W, e))?)?;
        let status = match sr.cert_status.tag() {
            Tag::ContextSpecific {
                number,
                constructed: false,
            } if number.value() == 0 && sr.cert_status.value().is_empty() => CertStatus::Good,
            Tag::ContextSpecific {
                number,
                constructed: false,
            } if number.value() == 2 && sr.cert_status.value().is_empty() => CertStatus::Unknown,
            Tag::ContextSpecific {
                number,
                constructed: true,
            } if number.value() == 1 => {
                let info =
                    RevokedInfoAsn::from_der(&derw::tlv(derw::SEQUENCE, sr.cert_status.value()))
                        .map_err(|e| Error::malformed(W, e))?;
                let reason = match &info.revocation_reason {
                    Some(r) => Some(decode_reason(
                        &r.to_der().map_err(|e| Error::malformed(W, e))?,
                        W,
                    )?),
                    None => None,
                };
                CertStatus::Revoked {
                    time: gt(&info.revocation_time)?,
                    reason,
                }
            }
            t => return Err(Error::malformed(W, format!("certStatus has tag {t}"))),
        };
        if let Some(exts) = &sr.single_extensions {
            check_unique(exts, W)?;
        }
        responses.push(SingleResponse {
            cert_id,
            status,
            this_update: gt(&sr.this_update)?,
            next_update: sr.next_update.as_ref().map(gt).transpose()?,
        });
    }
    let mut nonce = None;
    let mut unknown_critical_extensions = Vec::new();
    if let Some(exts) = &rd.response_extensions {
        check_unique(exts, W)?;
        for e in exts {
            if e.extn_id == rfc6960::ID_PKIX_OCSP_NONCE {
                // Older responders put the raw nonce in extnValue; accept both forms when reading.
                nonce = Some(match OctetString::from_der(e.extn_value.as_bytes()) {
                    Ok(inner) => inner.as_bytes().to_vec(),
                    Err(_) => e.extn_value.as_bytes().to_vec(),
                });
            } else if e.critical {
                unknown_critical_extensions.push(e.extn_id);
            }
        }
    }
    let certs = basic
        .certs
        .iter()
        .flatten()
        .map(|c| c.to_der().map_err(|e| Error::malformed(W, e)))
        .collect::<Result<Vec<_>>>()?;
    let signature = basic
        .signature
        .as_bytes()
        .ok_or_else(|| Error::malformed(W, "signature BIT STRING has unused bits"))?
        .to_vec();
    Ok(OcspResponse {
        status,
        basic: Some(BasicResponse {
            responder_id,
            produced_at: gt(&rd.produced_at)?,
            responses,
            nonce,
            unknown_critical_extensions,
            certs,
            signature_algorithm: basic.signature_algorithm,
            tbs_der,
            signature,
        }),
    })
}

/// Builds a DER OCSPRequest for `ids` with an optional nonce (clients and tests; RFC 6960
/// §4.1.1, nonce per RFC 8954).
pub fn build_request(ids: &[CertId], nonce: Option<&[u8]>) -> Result<Vec<u8>> {
    if let Some(n) = nonce.filter(|n| n.is_empty() || n.len() > MAX_NONCE_LEN) {
        return Err(Error::InvalidArgument {
            name: "nonce",
            value: hex::encode(n),
            reason: "nonces are 1..32 octets (RFC 8954 §2.1)".into(),
        });
    }
    let mut list = Vec::new();
    for id in ids {
        derw::push_tlv(&mut list, derw::SEQUENCE, &id.der);
    }
    let mut tbs = derw::tlv(derw::SEQUENCE, &list);
    if let Some(n) = nonce {
        let mut exts = Vec::new();
        derw::push_extension(
            &mut exts,
            &rfc6960::ID_PKIX_OCSP_NONCE,
            false,
            &derw::tlv(derw::OCTET_STRING, n),
        );
        derw::push_tlv(&mut tbs, 0xa2, &derw::tlv(derw::SEQUENCE, &exts));
    }
    Ok(derw::tlv(derw::SEQUENCE, &derw::tlv(derw::SEQUENCE, &tbs)))
}
