//! Building CMS SignedData (RFC 5652 §5) with a [`CaSigner`]: signed attributes content-type,
//! message-digest, signing-time and signing-certificate-v2 (RFC 5035 §3, as CAdES-BES asks),
//! attached or detached content; and adding an unsigned attribute (a time-stamp token) to a
//! SignedData afterwards.

use const_oid::ObjectIdentifier;
use der::Encode;
use x509_cert::Certificate;

use super::oids;
use super::signer::Digest;
use super::tlv::{self, Reader, tag};
use crate::derw;
use crate::error::{Error, Result};
use crate::key::{CaSigner, SignatureAlgorithm};

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

/// The digest that goes with the signer's signature algorithm.
fn digest_of(alg: SignatureAlgorithm) -> Digest {
    match alg {
        SignatureAlgorithm::EcdsaSha384 | SignatureAlgorithm::RsaPkcs1Sha384 => Digest::Sha384,
        SignatureAlgorithm::RsaPkcs1Sha512 => Digest::Sha512,
        _ => Digest::Sha256,
    }
}

fn attribute(oid: ObjectIdentifier, value: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    derw::push_oid(&mut body, &oid);
    derw::push_tlv(&mut body, tag::SET, value);
    derw::tlv(tag::SEQUENCE, &body)
}

fn enc_err(e: der::Error) -> Error {
    Error::malformed("certificate", e)
}

/// Signs `req` with `signer`, whose certificate is `cert` (DER); `extra` certificates (the chain)
/// go into the SignedData too. Returns the DER ContentInfo.
pub fn sign(
    req: &SignRequest<'_>,
    signer: &dyn CaSigner,
    cert: &[u8],
    extra: &[Vec<u8>],
) -> Result<Vec<u8>> {
    use der::Decode;
    let c = Certificate::from_der(cert).map_err(|e| Error::malformed("signer certificate", e))?;
    let tbs = c.tbs_certificate();
    if tbs.subject_public_key_info().to_der().map_err(enc_err)? != signer.public_key_der() {
        return Err(Error::PolicyRefused {
            detail: "the signing key does not belong to the certificate".into(),
        });
    }
    let issuer = tbs.issuer().to_der().map_err(enc_err)?;
    let serial = tbs.serial_number().to_der().map_err(enc_err)?;
    let digest = digest_of(signer.algorithm());
    let dalg = digest.algorithm_identifier().to_der().map_err(enc_err)?;

    // Signed attributes, as a DER SET OF (sorted, X.690 §11.6).
    let mut attrs = Vec::new();
    let mut v = Vec::new();
    derw::push_oid(&mut v, &req.content_type);
    attrs.push(attribute(oids::CONTENT_TYPE, &v));
    attrs.push(attribute(
        oids::MESSAGE_DIGEST,
        &derw::tlv(tag::OCTET_STRING, &digest.hash(req.content)),
    ));
    let mut t = Vec::new();
    let when = time::OffsetDateTime::from_unix_timestamp(req.signing_time).map_err(|e| {
        Error::InvalidArgument {
            name: "signing time",
            value: req.signing_time.to_string(),
            reason: e.to_string(),
        }
    })?;
    // RFC 5652 §11.3: UTCTime through 2049, GeneralizedTime after.
    derw::push_x509_time(&mut t, &when, "signing time")?;
    attrs.push(attribute(oids::SIGNING_TIME, &t));
    // RFC 5035 §3: ESSCertIDv2 { certHash (SHA-256, the DEFAULT, so omitted), issuerSerial }.
    let mut gn = Vec::new();
    derw::push_tlv(&mut gn, tag::ctx(4), &issuer);
    let mut is = derw::tlv(tag::SEQUENCE, &gn);
    is.extend_from_slice(&serial);
    let mut id = derw::tlv(tag::OCTET_STRING, &Digest::Sha256.hash(cert));
    derw::push_tlv(&mut id, tag::SEQUENCE, &is);
    let ids = derw::tlv(tag::SEQUENCE, &derw::tlv(tag::SEQUENCE, &id));
    attrs.push(attribute(
        oids::SIGNING_CERTIFICATE_V2,
        &derw::tlv(tag::SEQUENCE, &ids),
    ));
    attrs.sort();
    let attrs = attrs.concat();
    // §5.4: the signature is over the SET OF encoding.
    let signature = signer.sign(&derw::tlv(tag::SET, &attrs))?;

    let mut si = Vec::new();
    derw::push_uint(&mut si, &[1]);
    let mut ias = issuer.clone();
    ias.extend_from_slice(&serial);
    derw::push_tlv(&mut si, tag::SEQUENCE, &ias);
    si.extend_from_slice(&dalg);
    derw::push_tlv(&mut si, tag::ctx(0), &attrs);
    si.extend_from_slice(
        &signer
            .algorithm()
            .algorithm_identifier()
            .to_der()
            .map_err(enc_err)?,
    );
    derw::push_tlv(&mut si, tag::OCTET_STRING, &signature);
    let si = derw::tlv(tag::SEQUENCE, &si);

    let mut eci = Vec::new();
    derw::push_oid(&mut eci, &req.content_type);
    if !req.detached {
        derw::push_tlv(
            &mut eci,
            tag::ctx(0),
            &derw::tlv(tag::OCTET_STRING, req.content),
        );
    }
    let mut certs: Vec<&[u8]> = vec![cert];
    certs.extend(extra.iter().map(Vec::as_slice).filter(|c| *c != cert));
    certs.sort();
    certs.dedup();

    let mut sd = Vec::new();
    // §5.1: version 3 when eContentType is not id-data, else 1 (only X.509 certificates and
    // version 1 SignerInfos here).
    derw::push_uint(
        &mut sd,
        &[if req.content_type == oids::DATA { 1 } else { 3 }],
    );
    derw::push_tlv(&mut sd, tag::SET, &dalg);
    derw::push_tlv(&mut sd, tag::SEQUENCE, &eci);
    derw::push_tlv(&mut sd, tag::ctx(0), &certs.concat());
    derw::push_tlv(&mut sd, tag::SET, &si);
    let mut ci = Vec::new();
    derw::push_oid(&mut ci, &oids::SIGNED_DATA);
    derw::push_tlv(&mut ci, tag::ctx(0), &derw::tlv(tag::SEQUENCE, &sd));
    Ok(derw::tlv(tag::SEQUENCE, &ci))
}

/// A detached SignedData of id-data over `content`, signed now (the VA's answers).
pub fn sign_detached(
    content: &[u8],
    signer: &dyn CaSigner,
    cert: &[u8],
    extra: &[Vec<u8>],
) -> Result<Vec<u8>> {
    sign(
        &SignRequest {
            content,
            content_type: oids::DATA,
            detached: true,
            signing_time: time::OffsetDateTime::now_utc().unix_timestamp(),
        },
        signer,
        cert,
        extra,
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
