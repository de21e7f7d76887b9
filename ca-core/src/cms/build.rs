//! Signing CMS SignedData (RFC 5652 §5) for receipts, through the shared builder
//! [`crate::signed_data`]; and adding an unsigned attribute (a time-stamp token) to a
//! SignedData afterwards.

use const_oid::ObjectIdentifier;

use super::tlv::{self, Reader, tag};
use crate::derw;
use crate::error::{Error, Result};
use crate::key::CaSigner;
use crate::signed_data;

/// What to sign.
#[derive(Clone, Debug)]
pub struct SignRequest<'a> {
    /// The content.
    pub content: &'a [u8],
    /// eContentType (id-data for plain data).
    pub content_type: ObjectIdentifier,
    /// Leave the content out of the SignedData (a detached signature).
    pub detached: bool,
    /// signing-time, seconds since the Unix epoch.
    pub signing_time: i64,
}

fn attribute(oid: ObjectIdentifier, value: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    derw::push_oid(&mut body, &oid);
    derw::push_tlv(&mut body, tag::SET, value);
    derw::tlv(tag::SEQUENCE, &body)
}

/// Signs `req` with `signer`, whose certificate is `cert` (DER); `extra` certificates (the chain)
/// go into the SignedData too. Returns the DER ContentInfo. The encoding is
/// [`crate::signed_data::sign`]'s (content-type, message-digest, signing-time and
/// signing-certificate-v2, as CAdES-BES asks), shared with the VA and the TSA.
pub fn sign(
    req: &SignRequest<'_>,
    signer: &dyn CaSigner,
    cert: &[u8],
    extra: &[Vec<u8>],
) -> Result<Vec<u8>> {
    let when = time::OffsetDateTime::from_unix_timestamp(req.signing_time).map_err(|e| {
        Error::InvalidArgument {
            name: "signing time",
            value: req.signing_time.to_string(),
            reason: e.to_string(),
        }
    })?;
    let mut certificates = vec![cert.to_vec()];
    certificates.extend(extra.iter().filter(|c| c.as_slice() != cert).cloned());
    signed_data::sign(
        signed_data::Signer {
            key: signer,
            cert_der: cert,
        },
        &signed_data::SignRequest {
            content_type: req.content_type,
            content: req.content,
            detached: req.detached,
            certificates: &certificates,
            signing_time: Some(when),
        },
    )
}

/// Adds the unsigned attribute `oid` with the single value `value` (DER) to every SignerInfo
/// of the SignedData `cms` (DER ContentInfo); an attribute of that type already there is
/// refused. Everything else is copied byte for byte, so the signatures stay valid.
pub fn add_unsigned_attribute(cms: &[u8], oid: ObjectIdentifier, value: &[u8]) -> Result<Vec<u8>> {
    const W: &str = "CMS SignedData";
    super::parse::parse(cms)?; // well-formed first
    let ci = tlv::single(cms, W)?;
    let mut r = ci.reader(W);
    let ct = r.read()?;
    let content = r.read()?;
    let sd = tlv::single(content.value, W)?;
    let parts = sd.reader(W).all()?;
    let Some((infos, head)) = parts.split_last() else {
        return Err(Error::malformed(W, "empty SignedData"));
    };
    let new_attr = attribute(oid, value);
    let mut new_infos = Vec::new();
    for si in Reader::new(infos.value, W).all()? {
        let fields = si.reader(W).all()?;
        let mut body = Vec::new();
        let mut done = false;
        for f in &fields {
            if f.tag == tag::ctx(1) {
                let mut attrs: Vec<Vec<u8>> = Reader::new(f.value, W)
                    .all()?
                    .iter()
                    .map(|a| a.raw.to_vec())
                    .collect();
                let existing = super::parse::parse(cms)?
                    .signer_infos
                    .iter()
                    .any(|s| !s.unsigned(oid).is_empty());
                if existing {
                    return Err(Error::PolicyRefused {
                        detail: format!("the SignerInfo already has an attribute {oid}"),
                    });
                }
                attrs.push(new_attr.clone());
                attrs.sort();
                derw::push_tlv(&mut body, tag::ctx(1), &attrs.concat());
                done = true;
            } else {
                body.extend_from_slice(f.raw);
            }
        }
        if !done {
            derw::push_tlv(&mut body, tag::ctx(1), &new_attr);
        }
        derw::push_tlv(&mut new_infos, tag::SEQUENCE, &body);
    }
    let mut sd_body: Vec<u8> = head.iter().flat_map(|t| t.raw.iter().copied()).collect();
    derw::push_tlv(&mut sd_body, tag::SET, &new_infos);
    let mut out = ct.raw.to_vec();
    derw::push_tlv(&mut out, tag::ctx(0), &derw::tlv(tag::SEQUENCE, &sd_body));
    Ok(derw::tlv(tag::SEQUENCE, &out))
}
