//! The time-stamping authority's protocol (RFC 3161, with RFC 5816's signing-certificate-v2):
//! TimeStampReq in, TimeStampResp out.
//!
//! [`parse_request`] decodes a TimeStampReq (§2.4.1) with der's derive macros and checks it
//! against the TSA's [`TsaPolicy`], so each refusal is a [`Rejection`] with its PKIFailureInfo
//! bit (§2.4.2). [`Tsa::grant`] then encodes TSTInfo and signs it as a CMS SignedData with
//! eContentType id-ct-TSTInfo ([`crate::signed_data`]). Choosing the serial number and
//! recording it is the caller's job (`lgpki serve` keeps every serial in the store).

use std::sync::Arc;

use const_oid::ObjectIdentifier;
use der::asn1::{Int, OctetString};
use der::{Decode, Encode, Sequence, Tagged};
use spki::AlgorithmIdentifierOwned;
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::ext::Extensions;

use crate::derw::{self, SEQUENCE};
use crate::error::{Error, Result};
use crate::key::CaSigner;
use crate::signed_data::{self, DigestAlgorithm, SignRequest, Signer};

/// id-ct-TSTInfo (RFC 3161 §2.4.2).
pub const ID_CT_TST_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");

/// Media type of a request (RFC 3161 §4).
pub const QUERY_MEDIA_TYPE: &str = "application/timestamp-query";
/// Media type of a response (RFC 3161 §4).
pub const REPLY_MEDIA_TYPE: &str = "application/timestamp-reply";

/// Octets of a time-stamp serial number before DER: 128 random bits (RFC 3161 §2.4.2 asks for
/// unique integers of at most 160 bits; 128 random bits make a collision negligible, and the
/// store refuses one anyway).
pub const SERIAL_OCTETS: usize = 16;

/// MessageImprint ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, hashedMessage OCTET
/// STRING } (RFC 3161 §2.4.1).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct MessageImprint {
    /// The hash algorithm the requester used.
    pub hash_algorithm: AlgorithmIdentifierOwned,
    /// The hash of the datum to be time-stamped.
    pub hashed_message: OctetString,
}

/// TimeStampReq (RFC 3161 §2.4.1).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TimeStampReq {
    /// `v1(1)`.
    pub version: Int,
    /// What is to be time-stamped.
    pub message_imprint: MessageImprint,
    /// The TSA policy the requester asks for.
    pub req_policy: Option<ObjectIdentifier>,
    /// A nonce to echo.
    pub nonce: Option<Int>,
    /// Whether the TSA's certificate must be in the token.
    #[asn1(default = "Default::default")]
    pub cert_req: bool,
    /// `[0] IMPLICIT Extensions`.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Extensions>,
}

/// PKIFailureInfo bits (RFC 3161 §2.4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureInfo {
    /// Unrecognized or unsupported algorithm identifier (bit 0).
    BadAlg,
    /// Transaction not permitted or supported (bit 2).
    BadRequest,
    /// The data submitted has the wrong format (bit 5).
    BadDataFormat,
    /// The requested TSA policy is not supported (bit 15).
    UnacceptedPolicy,
    /// The requested extension is not supported (bit 16).
    UnacceptedExtension,
    /// The request cannot be handled due to system failure (bit 25).
    SystemFailure,
}

impl FailureInfo {
    /// The bit number.
    pub fn bit(self) -> usize {
        match self {
            FailureInfo::BadAlg => 0,
            FailureInfo::BadRequest => 2,
            FailureInfo::BadDataFormat => 5,
            FailureInfo::UnacceptedPolicy => 15,
            FailureInfo::UnacceptedExtension => 16,
            FailureInfo::SystemFailure => 25,
        }
    }

    /// The RFC 3161 name.
    pub fn name(self) -> &'static str {
        match self {
            FailureInfo::BadAlg => "badAlg",
            FailureInfo::BadRequest => "badRequest",
            FailureInfo::BadDataFormat => "badDataFormat",
            FailureInfo::UnacceptedPolicy => "unacceptedPolicy",
            FailureInfo::UnacceptedExtension => "unacceptedExtension",
            FailureInfo::SystemFailure => "systemFailure",
        }
    }

    /// DER BIT STRING with this one named bit set, trailing zero bits removed (X.690 §11.2.2).
    fn bit_string(self) -> Vec<u8> {
        let bit = self.bit();
        let mut content = vec![0u8; bit / 8 + 2];
        content[0] = 7 - (bit % 8) as u8;
        content[bit / 8 + 1] = 0x80 >> (bit % 8);
        derw::tlv(derw::BIT_STRING, &content)
    }
}

/// A refused request: the failure bit and a reason for the operator and the requester.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The PKIFailureInfo bit.
    pub fail: FailureInfo,
    /// What was wrong (goes into statusString).
    pub reason: String,
}

impl Rejection {
    fn new(fail: FailureInfo, reason: impl Into<String>) -> Rejection {
        Rejection {
            fail,
            reason: reason.into(),
        }
    }

    /// The DER TimeStampResp: status rejection(2), statusString, failInfo (RFC 3161 §2.4.2).
    pub fn to_der(&self) -> Vec<u8> {
        let mut info = Vec::new();
        derw::push_uint(&mut info, &[2]);
        let text = derw::tlv(0x0c, self.reason.as_bytes());
        derw::push_tlv(&mut info, SEQUENCE, &text);
        info.extend_from_slice(&self.fail.bit_string());
        derw::tlv(SEQUENCE, &derw::tlv(SEQUENCE, &info))
    }
}

/// What the TSA accepts: its policy OID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TsaPolicy {
    /// The TSA policy (the `timestamping` class of `policies/oids.toml`), put in every token.
    pub policy: ObjectIdentifier,
}

/// A request that passed every check of [`parse_request`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptedRequest {
    /// The request.
    pub request: TimeStampReq,
    /// Its hash algorithm.
    pub digest: DigestAlgorithm,
}

/// Decodes and checks a DER TimeStampReq (RFC 3161 §2.4.1): malformed DER is badDataFormat,
/// a version other than 1 badRequest, a hash algorithm other than SHA-256/384/512 badAlg
/// (SHA-1 included: it no longer resists collisions), a hashedMessage whose length is not the
/// algorithm's badDataFormat, a reqPolicy that is not ours unacceptedPolicy, any extension
/// unacceptedExtension (this TSA supports none).
pub fn parse_request(
    der: &[u8],
    policy: &TsaPolicy,
) -> std::result::Result<AcceptedRequest, Rejection> {
    let request = TimeStampReq::from_der(der).map_err(|e| {
        Rejection::new(
            FailureInfo::BadDataFormat,
            format!("malformed TimeStampReq: {e}"),
        )
    })?;
    if request.version.as_bytes() != [1] {
        return Err(Rejection::new(
            FailureInfo::BadRequest,
            "unsupported TimeStampReq version (only v1)",
        ));
    }
    let alg = &request.message_imprint.hash_algorithm;
    let digest = DigestAlgorithm::from_oid(&alg.oid).ok_or_else(|| {
        Rejection::new(
            FailureInfo::BadAlg,
            format!(
                "unsupported hash algorithm {} (use SHA-256, SHA-384 or SHA-512)",
                alg.oid
            ),
        )
    })?;
    // RFC 5754 §2: parameters absent, or NULL from older implementations.
    if alg
        .parameters
        .as_ref()
        .is_some_and(|p| p.tag() != der::Tag::Null || !p.value().is_empty())
    {
        return Err(Rejection::new(
            FailureInfo::BadAlg,
            "hash algorithm parameters must be absent or NULL",
        ));
    }
    let got = request.message_imprint.hashed_message.as_bytes().len();
    if got != digest.output_len() {
        return Err(Rejection::new(
            FailureInfo::BadDataFormat,
            format!(
                "hashedMessage is {got} octets, but a {} hash is {}",
                digest.name(),
                digest.output_len()
            ),
        ));
    }
    if let Some(p) = &request.req_policy
        && *p != policy.policy
    {
        return Err(Rejection::new(
            FailureInfo::UnacceptedPolicy,
            format!("policy {p} is not this TSA's ({})", policy.policy),
        ));
    }
    match &request.extensions {
        Some(exts) if exts.is_empty() => {
            return Err(Rejection::new(
                FailureInfo::BadDataFormat,
                "empty extensions (SIZE (1..MAX))",
            ));
        }
        Some(exts) => {
            let oids: Vec<String> = exts.iter().map(|e| e.extn_id.to_string()).collect();
            return Err(Rejection::new(
                FailureInfo::UnacceptedExtension,
                format!("unsupported extensions: {}", oids.join(", ")),
            ));
        }
        None => {}
    }
    Ok(AcceptedRequest { request, digest })
}

/// The time-stamping authority: its key, certificate and chain, policy and accuracy.
#[derive(Clone, Debug)]
pub struct Tsa {
    key: Arc<dyn CaSigner>,
    cert_der: Vec<u8>,
    chain: Vec<Vec<u8>>,
    subject_der: Vec<u8>,
    policy: TsaPolicy,
    accuracy_seconds: u32,
}

/// A granted time-stamp: what to record and the DER TimeStampResp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Granted {
    /// The DER TimeStampResp (status granted, with the token).
    pub der: Vec<u8>,
}

impl Tsa {
    /// A TSA signing with `key`, whose certificate is `cert_der`; `chain` are the
    /// intermediate certificates put in tokens beside it when certReq asks.
    pub fn new(
        key: Arc<dyn CaSigner>,
        cert_der: Vec<u8>,
        chain: Vec<Vec<u8>>,
        policy: TsaPolicy,
        accuracy_seconds: u32,
    ) -> Result<Tsa> {
        let cert = Certificate::from_der(&cert_der).map_err(|e| Error::Malformed {
            what: "TSA certificate".into(),
            detail: e.to_string(),
        })?;
        if cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .ok()
            != Some(key.public_key_der().to_vec())
        {
            return Err(Error::PolicyRefused {
                detail: "the TSA key does not match the TSA certificate".into(),
            });
        }
        let subject_der = cert
            .tbs_certificate()
            .subject()
            .to_der()
            .map_err(Error::encode("TSA subject"))?;
        Ok(Tsa {
            key,
            cert_der,
            chain,
            subject_der,
            policy,
            accuracy_seconds,
        })
    }

    /// What the TSA accepts.
    pub fn policy(&self) -> &TsaPolicy {
        &self.policy
    }

    /// The token's accuracy in seconds.
    pub fn accuracy_seconds(&self) -> u32 {
        self.accuracy_seconds
    }

    /// Signs a token for `req` with serial number `serial` (big-endian magnitude) and genTime
    /// `gen_time` (truncated to the second: within the accuracy of at least a second).
    pub fn grant(
        &self,
        req: &AcceptedRequest,
        serial: &[u8],
        gen_time: OffsetDateTime,
    ) -> Result<Granted> {
        let tst = self.tst_info(req, serial, gen_time)?;
        let mut certs = Vec::new();
        if req.request.cert_req {
            // RFC 3161 §2.4.1: certReq TRUE puts the TSA's certificate in the token.
            certs.push(self.cert_der.clone());
            certs.extend(self.chain.iter().cloned());
        }
        let token = signed_data::sign(
            Signer {
                key: self.key.as_ref(),
                cert_der: &self.cert_der,
            },
            &SignRequest {
                content_type: ID_CT_TST_INFO,
                content: &tst,
                detached: false,
                certificates: &certs,
                signing_time: None,
            },
        )?;
        // TimeStampResp ::= SEQUENCE { status PKIStatusInfo { granted(0) }, timeStampToken }.
        let mut resp = derw::tlv(SEQUENCE, &[derw::INTEGER, 1, 0]);
        resp.extend_from_slice(&token);
        Ok(Granted {
            der: derw::tlv(SEQUENCE, &resp),
        })
    }

    /// TSTInfo (RFC 3161 §2.4.2): version, policy, messageImprint (as requested), serialNumber,
    /// genTime, accuracy, nonce (as requested), and tsa (the certificate's subject) when
    /// certReq asks.
    fn tst_info(
        &self,
        req: &AcceptedRequest,
        serial: &[u8],
        gen_time: OffsetDateTime,
    ) -> Result<Vec<u8>> {
        let r = &req.request;
        let mut t = Vec::new();
        derw::push_uint(&mut t, &[1]);
        derw::push_oid(&mut t, &self.policy.policy);
        t.extend_from_slice(
            &r.message_imprint
                .to_der()
                .map_err(Error::encode("messageImprint"))?,
        );
        derw::push_uint(&mut t, serial);
        derw::push_generalized_time(&mut t, &gen_time, "genTime")?;
        if self.accuracy_seconds > 0 {
            // Accuracy ::= SEQUENCE { seconds INTEGER OPTIONAL, … }.
            let mut acc = Vec::new();
            derw::push_uint(&mut acc, &self.accuracy_seconds.to_be_bytes());
            derw::push_tlv(&mut t, SEQUENCE, &acc);
        }
        if let Some(n) = &r.nonce {
            t.extend_from_slice(&n.to_der().map_err(Error::encode("nonce"))?);
        }
        if r.cert_req {
            // tsa [0] GeneralName (a CHOICE, so explicitly tagged): directoryName [4] Name.
            derw::push_tlv(&mut t, 0xa0, &derw::tlv(0xa4, &self.subject_der));
        }
        Ok(derw::tlv(SEQUENCE, &t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> TsaPolicy {
        TsaPolicy {
            policy: ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.5.11"),
        }
    }

    /// A TimeStampReq with the given parts.
    fn req(alg: &str, hash_len: usize, policy: Option<&str>, nonce: bool) -> Vec<u8> {
        let r = TimeStampReq {
            version: Int::new(&[1]).expect("int"),
            message_imprint: MessageImprint {
                hash_algorithm: AlgorithmIdentifierOwned {
                    oid: ObjectIdentifier::new(alg).expect("oid"),
                    parameters: None,
                },
                hashed_message: OctetString::new(vec![7u8; hash_len]).expect("octets"),
            },
            req_policy: policy.map(|p| ObjectIdentifier::new(p).expect("oid")),
            nonce: nonce.then(|| Int::new(&[0x01, 0x02]).expect("int")),
            cert_req: true,
            extensions: None,
        };
        r.to_der().expect("der")
    }

    const SHA256: &str = "2.16.840.1.101.3.4.2.1";

    #[test]
    fn checks_fire_with_their_bits() {
        let p = policy();
        let ok = parse_request(&req(SHA256, 32, None, true), &p).expect("accepted");
        assert_eq!(ok.digest, DigestAlgorithm::Sha256);
        assert!(ok.request.cert_req);
        parse_request(&req(SHA256, 32, Some("1.2.392.200149.8.5.5.11"), false), &p)
            .expect("our policy");
        let fail = |der: &[u8]| parse_request(der, &p).expect_err("rejected").fail;
        assert_eq!(
            fail(&req("1.2.840.113549.2.5", 16, None, false)),
            FailureInfo::BadAlg
        );
        assert_eq!(
            fail(&req("1.3.14.3.2.26", 20, None, false)),
            FailureInfo::BadAlg
        );
        assert_eq!(
            fail(&req(SHA256, 20, None, false)),
            FailureInfo::BadDataFormat
        );
        assert_eq!(
            fail(&req(SHA256, 32, Some("1.2.3.4"), false)),
            FailureInfo::UnacceptedPolicy
        );
        assert_eq!(fail(b"\x30\x03\x02\x01"), FailureInfo::BadDataFormat);
        // Version 2, an extension, an empty extension list, NULL parameters (accepted).
        let mut r = TimeStampReq::from_der(&req(SHA256, 32, None, true)).expect("req");
        r.version = Int::new(&[2]).expect("int");
        assert_eq!(fail(&r.to_der().expect("der")), FailureInfo::BadRequest);
        r.version = Int::new(&[1]).expect("int");
        r.extensions = Some(vec![x509_cert::ext::Extension {
            extn_id: ObjectIdentifier::new_unwrap("1.2.3.4"),
            critical: false,
            extn_value: OctetString::new(vec![5u8, 0]).expect("octets"),
        }]);
        assert_eq!(
            fail(&r.to_der().expect("der")),
            FailureInfo::UnacceptedExtension
        );
        r.extensions = Some(Vec::new());
        assert_eq!(fail(&r.to_der().expect("der")), FailureInfo::BadDataFormat);
        r.extensions = None;
        r.message_imprint.hash_algorithm.parameters = Some(der::Any::null());
        parse_request(&r.to_der().expect("der"), &p).expect("NULL parameters");
        r.message_imprint.hash_algorithm.parameters =
            Some(der::Any::new(der::Tag::Integer, vec![1u8]).expect("any"));
        assert_eq!(fail(&r.to_der().expect("der")), FailureInfo::BadAlg);
        assert_eq!(fail(b""), FailureInfo::BadDataFormat);
    }

    #[test]
    fn fail_info_bits_are_minimal() {
        assert_eq!(FailureInfo::BadAlg.bit_string(), vec![3, 2, 7, 0x80]);
        assert_eq!(FailureInfo::BadDataFormat.bit_string(), vec![3, 2, 2, 0x04]);
        assert_eq!(
            FailureInfo::UnacceptedPolicy.bit_string(),
            vec![3, 3, 0, 0, 0x01]
        );
        assert_eq!(
            FailureInfo::SystemFailure.bit_string(),
            vec![3, 5, 6, 0, 0, 0, 0x40]
        );
    }
}
