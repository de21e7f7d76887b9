//! The sanitisation receipt (無害化証明): what a sanitising gateway signs after it verified a
//! signed document and before it hands the sanitised copy to the LGWAN side. It is the
//! eContent of a CMS SignedData with eContentType [`RECEIPT_CONTENT_TYPE`], signed by the
//! gateway's `sanitiser` certificate and time-stamped (RFC 3161 Appendix A).
//!
//! ```text
//! id-ct-lgpkiSanitisationReceipt OBJECT IDENTIFIER ::= { 1 2 392 200149 8 5 5 900 1 }
//!
//! SanitisationReceipt ::= SEQUENCE {
//!   version          INTEGER { v1(1) },
//!   hashAlgorithm    AlgorithmIdentifier,        -- of the three hashes (id-sha256)
//!   originalHash     OCTET STRING,               -- the original file as received
//!   sanitisedHash    OCTET STRING,               -- the sanitised file handed on
//!   signatureHash    [0] IMPLICIT OCTET STRING OPTIONAL,  -- a detached signature file
//!   originalSigner   Certificate,                -- the original signer's certificate
//!   validation       Validation,                 -- what the gateway found
//!   sanitiser        Name,                       -- the gateway (its certificate's subject)
//!   sanitisedAt      GeneralizedTime }
//!
//! Validation ::= SEQUENCE {
//!   result           ENUMERATED { valid(0) },    -- receipts exist only for valid signatures
//!   reason           UTF8String,
//!   judgedAt         GeneralizedTime,            -- the time the signature was judged at
//!   timeSource       UTF8String,                 -- "timestamp", "signing-time" or "now"
//!   validatedAt      GeneralizedTime,            -- when the gateway validated
//!   signingTime      [0] IMPLICIT GeneralizedTime OPTIONAL,
//!   timeStampTime    [1] IMPLICIT GeneralizedTime OPTIONAL,
//!   path             SEQUENCE OF UTF8String,     -- subjects, signer first (RFC 4514)
//!   policies         SEQUENCE OF OBJECT IDENTIFIER,
//!   revocation       SEQUENCE OF UTF8String }    -- one line per certificate of the path
//! ```
//!
//! The OID sits under the LGPKI policy arc (`policies/oids.toml`), in sub-arc 900, which is
//! kept for protocol objects and never used for a policy class.

use const_oid::ObjectIdentifier;
use der::Encode;

use super::signer::Digest;
use super::tlv::{self, Reader, tag};
use crate::derw;
use crate::error::{Error, Result};

/// id-ct-lgpkiSanitisationReceipt.
pub const RECEIPT_CONTENT_TYPE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.5.900.1");

const WHAT: &str = "sanitisation receipt";

/// A sanitisation receipt's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// SHA-256 of the original file.
    pub original_hash: Vec<u8>,
    /// SHA-256 of the sanitised file.
    pub sanitised_hash: Vec<u8>,
    /// SHA-256 of a detached signature file.
    pub signature_hash: Option<Vec<u8>>,
    /// The original signer's certificate (DER).
    pub signer_cert: Vec<u8>,
    /// The validation's reason text.
    pub reason: String,
    /// The time the signature was judged at.
    pub judged_at: i64,
    /// `timestamp`, `signing-time` or `now`.
    pub time_source: String,
    /// When the gateway validated.
    pub validated_at: i64,
    /// The signing-time attribute.
    pub signing_time: Option<i64>,
    /// The signature time-stamp's genTime.
    pub timestamp_time: Option<i64>,
    /// The path, subjects, signer first.
    pub path: Vec<String>,
    /// The user-constrained-policy-set.
    pub policies: Vec<ObjectIdentifier>,
    /// One line per certificate's revocation status.
    pub revocation: Vec<String>,
    /// The sanitiser's Name (DER).
    pub sanitiser: Vec<u8>,
    /// When the receipt was made.
    pub sanitised_at: i64,
}

fn gtime(out: &mut Vec<u8>, t: i64, what: &'static str) -> Result<()> {
    let t = time::OffsetDateTime::from_unix_timestamp(t).map_err(|e| Error::InvalidArgument {
        name: what,
        value: t.to_string(),
        reason: e.to_string(),
    })?;
    derw::push_generalized_time(out, &t, what)
}

fn strings(out: &mut Vec<u8>, list: &[String]) {
    let body: Vec<u8> = list
        .iter()
        .flat_map(|s| derw::tlv(tag::UTF8_STRING, s.as_bytes()))
        .collect();
    derw::push_tlv(out, tag::SEQUENCE, &body);
}

impl Receipt {
    /// The DER of SanitisationReceipt.
    pub fn to_der(&self) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        derw::push_tlv(&mut v, tag::ENUMERATED, &[0]);
        derw::push_tlv(&mut v, tag::UTF8_STRING, self.reason.as_bytes());
        gtime(&mut v, self.judged_at, "judgedAt")?;
        derw::push_tlv(&mut v, tag::UTF8_STRING, self.time_source.as_bytes());
        gtime(&mut v, self.validated_at, "validatedAt")?;
        for (n, t) in [(0u8, self.signing_time), (1, self.timestamp_time)] {
            if let Some(t) = t {
                let mut g = Vec::new();
                gtime(&mut g, t, "time")?;
                g[0] = tag::ctx_prim(n);
                v.extend_from_slice(&g);
            }
        }
        strings(&mut v, &self.path);
        let pol: Vec<u8> = self
            .policies
            .iter()
            .flat_map(|o| derw::tlv(tag::OID, o.as_bytes()))
            .collect();
        derw::push_tlv(&mut v, tag::SEQUENCE, &pol);
        strings(&mut v, &self.revocation);

        let mut r = Vec::new();
        derw::push_uint(&mut r, &[1]);
        r.extend_from_slice(
            &Digest::Sha256
                .algorithm_identifier()
                .to_der()
                .map_err(|e| Error::malformed(WHAT, e))?,
        );
        derw::push_tlv(&mut r, tag::OCTET_STRING, &self.original_hash);
        derw::push_tlv(&mut r, tag::OCTET_STRING, &self.sanitised_hash);
        if let Some(h) = &self.signature_hash {
            derw::push_tlv(&mut r, tag::ctx_prim(0), h);
        }
        r.extend_from_slice(&self.signer_cert);
        derw::push_tlv(&mut r, tag::SEQUENCE, &v);
        r.extend_from_slice(&self.sanitiser);
        gtime(&mut r, self.sanitised_at, "sanitisedAt")?;
        Ok(derw::tlv(tag::SEQUENCE, &r))
    }

    /// Parses the DER of SanitisationReceipt.
    pub fn from_der(der: &[u8]) -> Result<Receipt> {
        let t = tlv::single(der, WHAT)?;
        if t.tag != tag::SEQUENCE {
            return Err(Error::malformed(WHAT, "not a SEQUENCE"));
        }
        let mut r = t.reader(WHAT);
        let version = tlv::small_uint(&r.expect(tag::INTEGER, "version")?, WHAT)?;
        if version != 1 {
            return Err(Error::malformed(WHAT, format!("version {version}")));
        }
        let alg = super::parse::alg(&r.expect(tag::SEQUENCE, "hashAlgorithm")?)?;
        if alg.oid != Digest::Sha256.oid() {
            return Err(Error::malformed(
                WHAT,
                format!("hash algorithm {}", alg.oid),
            ));
        }
        let os = |r: &mut Reader<'_>, t: u8, f: &str| -> Result<Vec<u8>> {
            let x = r.expect(t, f)?;
            if x.value.len() != 32 {
                return Err(Error::malformed(WHAT, format!("{f} is not a SHA-256 hash")));
            }
            Ok(x.value.to_vec())
        };
        let original_hash = os(&mut r, tag::OCTET_STRING, "originalHash")?;
        let sanitised_hash = os(&mut r, tag::OCTET_STRING, "sanitisedHash")?;
        let signature_hash = if r.peek_tag() == Some(tag::ctx_prim(0)) {
            Some(os(&mut r, tag::ctx_prim(0), "signatureHash")?)
        } else {
            None
        };
        let signer_cert = r.expect(tag::SEQUENCE, "originalSigner")?.raw.to_vec();
        let val = r.expect(tag::SEQUENCE, "validation")?;
        let sanitiser = r.expect(tag::SEQUENCE, "sanitiser")?.raw.to_vec();
        let sanitised_at = tlv::time(&r.expect(tag::GENERALIZED_TIME, "sanitisedAt")?, WHAT)?;
        r.finish()?;

        let mut v = val.reader(WHAT);
        if tlv::small_uint(&v.expect(tag::ENUMERATED, "result")?, WHAT)? != 0 {
            return Err(Error::malformed(WHAT, "result is not valid(0)"));
        }
        let utf8 = |t: tlv::Tlv<'_>| -> Result<String> {
            String::from_utf8(t.value.to_vec()).map_err(|_| Error::malformed(WHAT, "UTF8String"))
        };
        let reason = utf8(v.expect(tag::UTF8_STRING, "reason")?)?;
        let judged_at = tlv::time(&v.expect(tag::GENERALIZED_TIME, "judgedAt")?, WHAT)?;
        let time_source = utf8(v.expect(tag::UTF8_STRING, "timeSource")?)?;
        let validated_at = tlv::time(&v.expect(tag::GENERALIZED_TIME, "validatedAt")?, WHAT)?;
        let mut opt_time = |n: u8| -> Result<Option<i64>> {
            match v.optional(tag::ctx_prim(n))? {
                None => Ok(None),
                Some(x) => tlv::time(
                    &tlv::Tlv {
                        tag: tag::GENERALIZED_TIME,
                        ..x
                    },
                    WHAT,
                )
                .map(Some),
            }
        };
        let signing_time = opt_time(0)?;
        let timestamp_time = opt_time(1)?;
        let list = |t: tlv::Tlv<'_>| -> Result<Vec<String>> {
            t.reader(WHAT)
                .all()?
                .into_iter()
                .map(|s| {
                    if s.tag != tag::UTF8_STRING {
                        return Err(Error::malformed(WHAT, "expected UTF8String"));
                    }
                    utf8(s)
                })
                .collect()
        };
        let path = list(v.expect(tag::SEQUENCE, "path")?)?;
        let policies = v
            .expect(tag::SEQUENCE, "policies")?
            .reader(WHAT)
            .all()?
            .iter()
            .map(|o| tlv::oid(o, WHAT))
            .collect::<Result<Vec<_>>>()?;
        let revocation = list(v.expect(tag::SEQUENCE, "revocation")?)?;
        v.finish()?;
        Ok(Receipt {
            original_hash,
            sanitised_hash,
            signature_hash,
            signer_cert,
            reason,
            judged_at,
            time_source,
            validated_at,
            signing_time,
            timestamp_time,
            path,
            policies,
            revocation,
            sanitiser,
            sanitised_at,
        })
    }

    /// The receipt as JSON (hashes in hex, times in RFC 3339).
    pub fn to_json(&self) -> serde_json::Value {
        use der::Decode;
        let name = |d: &[u8]| {
            x509_cert::name::Name::from_der(d)
                .map(|n| crate::name_to_string(&n))
                .unwrap_or_default()
        };
        let signer = x509_cert::Certificate::from_der(&self.signer_cert).ok();
        serde_json::json!({
            "original_sha256": hex::encode(&self.original_hash),
            "sanitised_sha256": hex::encode(&self.sanitised_hash),
            "signature_sha256": self.signature_hash.as_ref().map(hex::encode),
            "signer": signer.as_ref().map(|c| crate::name_to_string(c.tbs_certificate().subject())),
            "serial": signer.as_ref().map(|c| crate::serial_hex(c.tbs_certificate().serial_number().as_bytes())),
            "result": "valid",
            "reason": self.reason,
            "judged_at": crate::rfc3339(self.judged_at),
            "time_source": self.time_source,
            "validated_at": crate::rfc3339(self.validated_at),
            "signing_time": self.signing_time.map(crate::rfc3339),
            "timestamp": self.timestamp_time.map(crate::rfc3339),
            "path": self.path,
            "policies": self.policies.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "revocation": self.revocation,
            "sanitiser": name(&self.sanitiser),
            "sanitised_at": crate::rfc3339(self.sanitised_at),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let r = Receipt {
            original_hash: vec![1; 32],
            sanitised_hash: vec![2; 32],
            signature_hash: Some(vec![3; 32]),
            signer_cert: vec![0x30, 0x00],
            reason: "valid".into(),
            judged_at: 1_700_000_000,
            time_source: "timestamp".into(),
            validated_at: 1_700_000_100,
            signing_time: Some(1_699_999_990),
            timestamp_time: None,
            path: vec!["CN=a".into(), "CN=b".into()],
            policies: vec![RECEIPT_CONTENT_TYPE],
            revocation: vec!["CN=a: good (crl)".into()],
            sanitiser: vec![0x30, 0x00],
            sanitised_at: 1_700_000_200,
        };
        let der = r.to_der().expect("der");
        assert_eq!(Receipt::from_der(&der).expect("parse"), r);
        let mut bad = der.clone();
        bad.truncate(der.len() - 1);
        assert!(Receipt::from_der(&bad).is_err());
    }
}
