//! Parsing CMS ContentInfo / SignedData (RFC 5652 §3, §5), keeping the raw bytes that
//! signatures and hashes cover. Input is DER (BER's indefinite lengths are refused).

use const_oid::ObjectIdentifier;
use spki::AlgorithmIdentifierOwned;

use super::oids;
use super::tlv::{self, Tlv, tag};
use crate::error::{Error, Result};

const WHAT: &str = "CMS SignedData";

/// How a SignerInfo names its certificate (RFC 5652 §5.3 SignerIdentifier).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignerId {
    /// issuerAndSerialNumber: the DER of the issuer Name and the serial's content octets.
    IssuerSerial {
        /// DER of the issuer Name.
        issuer: Vec<u8>,
        /// INTEGER content octets of the serial number.
        serial: Vec<u8>,
    },
    /// subjectKeyIdentifier.
    KeyId(Vec<u8>),
}

/// One attribute (RFC 5652 §5.3 Attribute): its type and the DER of each value.
#[derive(Clone, Debug)]
pub struct Attribute {
    /// attrType.
    pub oid: ObjectIdentifier,
    /// The DER of each of attrValues.
    pub values: Vec<Vec<u8>>,
}

/// A parsed SignerInfo (RFC 5652 §5.3).
#[derive(Clone, Debug)]
pub struct SignerInfo {
    /// version (1 with issuerAndSerialNumber, 3 with subjectKeyIdentifier).
    pub version: u64,
    /// sid.
    pub sid: SignerId,
    /// digestAlgorithm.
    pub digest_algorithm: AlgorithmIdentifierOwned,
    /// signedAttrs, when present: the attributes, and their DER re-tagged as SET OF, which is
    /// what the signature covers (RFC 5652 §5.4).
    pub signed_attrs: Option<(Vec<Attribute>, Vec<u8>)>,
    /// signatureAlgorithm.
    pub signature_algorithm: AlgorithmIdentifierOwned,
    /// signature.
    pub signature: Vec<u8>,
    /// unsignedAttrs.
    pub unsigned_attrs: Vec<Attribute>,
    /// The DER of the whole SignerInfo.
    pub raw: Vec<u8>,
}

impl SignerInfo {
    /// The values of the signed attribute `oid` (empty when absent).
    pub fn signed(&self, oid: ObjectIdentifier) -> Vec<&[u8]> {
        self.signed_attrs
            .iter()
            .flat_map(|(a, _)| a.iter())
            .filter(|a| a.oid == oid)
            .flat_map(|a| a.values.iter().map(Vec::as_slice))
            .collect()
    }

    /// The values of the unsigned attribute `oid` (empty when absent).
    pub fn unsigned(&self, oid: ObjectIdentifier) -> Vec<&[u8]> {
        self.unsigned_attrs
            .iter()
            .filter(|a| a.oid == oid)
            .flat_map(|a| a.values.iter().map(Vec::as_slice))
            .collect()
    }
}

/// A parsed SignedData (RFC 5652 §5.1) in its ContentInfo.
#[derive(Clone, Debug)]
pub struct SignedData {
    /// version.
    pub version: u64,
    /// digestAlgorithms.
    pub digest_algorithms: Vec<AlgorithmIdentifierOwned>,
    /// encapContentInfo.eContentType.
    pub content_type: ObjectIdentifier,
    /// encapContentInfo.eContent's octets; `None` when detached.
    pub content: Option<Vec<u8>>,
    /// The DER of each certificate in `certificates` (other CertificateChoices are skipped).
    pub certificates: Vec<Vec<u8>>,
    /// signerInfos.
    pub signer_infos: Vec<SignerInfo>,
}

/// The largest CMS object read: 64 MiB.
pub const MAX_CMS: usize = 64 << 20;

/// Reads `data` as DER or PEM (`CMS`, `PKCS7`) and parses the SignedData in it.
pub fn parse_input(data: &[u8]) -> Result<SignedData> {
    let der = crate::input::der_blocks(data, &["CMS", "PKCS7"], WHAT)?;
    let first = der
        .into_iter()
        .next()
        .ok_or_else(|| Error::malformed(WHAT, "empty"))?;
    parse(&first)
}

/// Parses a DER ContentInfo holding a SignedData.
pub fn parse(der: &[u8]) -> Result<SignedData> {
    if der.len() > MAX_CMS {
        return Err(Error::TooLarge {
            what: WHAT.into(),
            size: der.len(),
            limit: MAX_CMS,
        });
    }
    let ci = tlv::single(der, WHAT)?;
    if ci.tag != tag::SEQUENCE {
        return Err(Error::malformed(WHAT, "ContentInfo is not a SEQUENCE"));
    }
    let mut r = ci.reader(WHAT);
    let ct = tlv::oid(&r.expect(tag::OID, "contentType")?, WHAT)?;
    if ct != oids::SIGNED_DATA {
        return Err(Error::malformed(
            WHAT,
            format!("contentType {ct} is not id-signedData (RFC 5652 §5.1)"),
        ));
    }
    let content = r.expect(tag::ctx(0), "content")?;
    r.finish()?;
    let sd = tlv::single(content.value, WHAT)?;
    if sd.tag != tag::SEQUENCE {
        return Err(Error::malformed(WHAT, "SignedData is not a SEQUENCE"));
    }
    signed_data(&sd)
}

fn signed_data(sd: &Tlv<'_>) -> Result<SignedData> {
    let mut r = sd.reader(WHAT);
    let version = tlv::small_uint(&r.expect(tag::INTEGER, "version")?, WHAT)?;
    if ![1, 3, 4, 5].contains(&version) {
        return Err(Error::malformed(WHAT, format!("version {version}")));
    }
    let digest_algorithms = r
        .expect(tag::SET, "digestAlgorithms")?
        .reader(WHAT)
        .all()?
        .iter()
        .map(alg)
        .collect::<Result<Vec<_>>>()?;
    let eci = r.expect(tag::SEQUENCE, "encapContentInfo")?;
    let (content_type, content) = encap(&eci)?;
    let mut certificates = Vec::new();
    if let Some(certs) = r.optional(tag::ctx(0))? {
        for c in certs.reader(WHAT).all()? {
            // CertificateChoices: only `certificate` (a SEQUENCE); the tagged alternatives
            // (extended, attribute and other certificates) are not used for paths.
            if c.tag == tag::SEQUENCE {
                certificates.push(c.raw.to_vec());
            }
        }
    }
    // crls [1]: revocation data the signer attached; not used (status comes from --crl or
    // --fetch).
    let _ = r.optional(tag::ctx(1))?;
    let signer_infos = r
        .expect(tag::SET, "signerInfos")?
        .reader(WHAT)
        .all()?
        .iter()
        .map(signer_info)
        .collect::<Result<Vec<_>>>()?;
    r.finish()?;
    if signer_infos.is_empty() {
        return Err(Error::malformed(WHAT, "no SignerInfo"));
    }
    Ok(SignedData {
        version,
        digest_algorithms,
        content_type,
        content,
        certificates,
        signer_infos,
    })
}

/// EncapsulatedContentInfo (RFC 5652 §5.2).
fn encap(eci: &Tlv<'_>) -> Result<(ObjectIdentifier, Option<Vec<u8>>)> {
    let mut r = eci.reader(WHAT);
    let ct = tlv::oid(&r.expect(tag::OID, "eContentType")?, WHAT)?;
    let content = match r.optional(tag::ctx(0))? {
        None => None,
        Some(e) => {
            let os = tlv::single(e.value, WHAT)?;
            match os.tag {
                tag::OCTET_STRING => Some(os.value.to_vec()),
                // A constructed OCTET STRING (BER streaming): the segments concatenated.
                0x24 => {
                    let mut out = Vec::new();
                    for seg in os.reader(WHAT).all()? {
                        if seg.tag != tag::OCTET_STRING {
                            return Err(Error::malformed(WHAT, "eContent segment"));
                        }
                        out.extend_from_slice(seg.value);
                    }
                    Some(out)
                }
                _ => return Err(Error::malformed(WHAT, "eContent is not an OCTET STRING")),
            }
        }
    };
    r.finish()?;
    Ok((ct, content))
}

/// An AlgorithmIdentifier from its element.
pub(crate) fn alg(t: &Tlv<'_>) -> Result<AlgorithmIdentifierOwned> {
    use der::Decode;
    AlgorithmIdentifierOwned::from_der(t.raw)
        .map_err(|e| Error::malformed(WHAT, format!("AlgorithmIdentifier: {e}")))
}

fn attributes(set: &Tlv<'_>) -> Result<Vec<Attribute>> {
    let mut out: Vec<Attribute> = Vec::new();
    for a in set.reader(WHAT).all()? {
        if a.tag != tag::SEQUENCE {
            return Err(Error::malformed(WHAT, "Attribute is not a SEQUENCE"));
        }
        let mut r = a.reader(WHAT);
        let oid = tlv::oid(&r.expect(tag::OID, "attrType")?, WHAT)?;
        let values: Vec<Vec<u8>> = r
            .expect(tag::SET, "attrValues")?
            .reader(WHAT)
            .all()?
            .iter()
            .map(|v| v.raw.to_vec())
            .collect();
        r.finish()?;
        if values.is_empty() {
            return Err(Error::malformed(
                WHAT,
                format!("attribute {oid} has no value"),
            ));
        }
        // RFC 5652 §5.3: an attribute type appears once in signedAttrs (we hold unsigned
        // attributes to the same rule).
        if out.iter().any(|x| x.oid == oid) {
            return Err(Error::malformed(
                WHAT,
                format!("attribute {oid} appears twice (RFC 5652 §5.3)"),
            ));
        }
        out.push(Attribute { oid, values });
    }
    Ok(out)
}

fn signer_info(si: &Tlv<'_>) -> Result<SignerInfo> {
    if si.tag != tag::SEQUENCE {
        return Err(Error::malformed(WHAT, "SignerInfo is not a SEQUENCE"));
    }
    let mut r = si.reader(WHAT);
    let version = tlv::small_uint(&r.expect(tag::INTEGER, "SignerInfo version")?, WHAT)?;
    let sid_t = r.read()?;
    let sid = match sid_t.tag {
        tag::SEQUENCE => {
            let mut s = sid_t.reader(WHAT);
            let issuer = s.expect(tag::SEQUENCE, "issuer")?;
            let serial = tlv::uint_bytes(&s.expect(tag::INTEGER, "serialNumber")?, WHAT)?;
            s.finish()?;
            SignerId::IssuerSerial {
                issuer: issuer.raw.to_vec(),
                serial: serial.to_vec(),
            }
        }
        t if t == tag::ctx_prim(0) => SignerId::KeyId(sid_t.value.to_vec()),
        _ => return Err(Error::malformed(WHAT, "SignerIdentifier")),
    };
    // RFC 5652 §5.3: version 1 with issuerAndSerialNumber, 3 with subjectKeyIdentifier.
    let want = if matches!(sid, SignerId::IssuerSerial { .. }) {
        1
    } else {
        3
    };
    if version != want {
        return Err(Error::malformed(
            WHAT,
            format!("SignerInfo version {version} does not fit its sid (RFC 5652 §5.3)"),
        ));
    }
    let digest_algorithm = alg(&r.expect(tag::SEQUENCE, "digestAlgorithm")?)?;
    let signed_attrs = match r.optional(tag::ctx(0))? {
        None => None,
        Some(a) => {
            let attrs = attributes(&a)?;
            // §5.4: the signature covers the DER of SignedAttrs with its EXPLICIT SET OF tag.
            let mut der = a.raw.to_vec();
            der[0] = tag::SET;
            Some((attrs, der))
        }
    };
    let signature_algorithm = alg(&r.expect(tag::SEQUENCE, "signatureAlgorithm")?)?;
    let signature = r.expect(tag::OCTET_STRING, "signature")?.value.to_vec();
    let unsigned_attrs = match r.optional(tag::ctx(1))? {
        None => Vec::new(),
        Some(a) => attributes(&a)?,
    };
    r.finish()?;
    Ok(SignerInfo {
        version,
        sid,
        digest_algorithm,
        signed_attrs,
        signature_algorithm,
        signature,
        unsigned_attrs,
        raw: si.raw.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for input in [
            &b""[..],
            b"\x30\x00",
            b"\x30\x03\x06\x01\x00",
            b"\x30\x0b\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02",
            b"\x30\x80\x00\x00",
        ] {
            assert!(parse(input).is_err(), "{input:?}");
        }
    }
}
