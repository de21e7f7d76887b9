//! RFC 3161 time-stamp protocol, client side: TimeStampReq (§2.4.1), TimeStampResp and TSTInfo
//! (§2.4.2), and the cryptographic check of a time-stamp token (a SignedData whose content is a
//! TSTInfo). The TSA certificate's path is validated by the caller ([`super::verify`]).

use const_oid::ObjectIdentifier;
use spki::AlgorithmIdentifierOwned;

use super::oids;
use super::parse::{self, SignedData};
use super::signer::{self, Digest};
use super::tlv::{self, Reader, tag};
use crate::derw;
use crate::error::{Error, Result};

const WHAT: &str = "TSTInfo";

/// TSTInfo (RFC 3161 §2.4.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TstInfo {
    /// policy.
    pub policy: ObjectIdentifier,
    /// messageImprint.hashAlgorithm.
    pub hash_algorithm: AlgorithmIdentifierOwned,
    /// messageImprint.hashedMessage.
    pub hashed_message: Vec<u8>,
    /// serialNumber (INTEGER content octets).
    pub serial: Vec<u8>,
    /// genTime, seconds since the Unix epoch.
    pub gen_time: i64,
    /// accuracy in microseconds, when given.
    pub accuracy_micros: Option<u64>,
    /// ordering.
    pub ordering: bool,
    /// nonce (INTEGER content octets).
    pub nonce: Option<Vec<u8>>,
}

/// Parses a DER TSTInfo.
pub fn parse_tst_info(der: &[u8]) -> Result<TstInfo> {
    let t = tlv::single(der, WHAT)?;
    if t.tag != tag::SEQUENCE {
        return Err(Error::malformed(WHAT, "not a SEQUENCE"));
    }
    let mut r = t.reader(WHAT);
    let version = tlv::small_uint(&r.expect(tag::INTEGER, "version")?, WHAT)?;
    if version != 1 {
        return Err(Error::malformed(WHAT, format!("version {version}, not v1")));
    }
    let policy = tlv::oid(&r.expect(tag::OID, "policy")?, WHAT)?;
    let mi = r.expect(tag::SEQUENCE, "messageImprint")?;
    let mut m = mi.reader(WHAT);
    let hash_algorithm = parse::alg(&m.expect(tag::SEQUENCE, "hashAlgorithm")?)?;
    let hashed_message = m.expect(tag::OCTET_STRING, "hashedMessage")?.value.to_vec();
    m.finish()?;
    let serial = tlv::uint_bytes(&r.expect(tag::INTEGER, "serialNumber")?, WHAT)?.to_vec();
    let gen_time = tlv::time(&r.expect(tag::GENERALIZED_TIME, "genTime")?, WHAT)?;
    let accuracy_micros = match r.optional(tag::SEQUENCE)? {
        None => None,
        Some(a) => Some(accuracy(a.reader(WHAT))?),
    };
    let ordering = match r.optional(tag::BOOLEAN)? {
        None => false,
        Some(b) if b.value == [0xff] => true,
        // DER: DEFAULT FALSE is omitted (X.690 §11.5).
        Some(_) => return Err(Error::malformed(WHAT, "ordering must be TRUE when present")),
    };
    let nonce = match r.optional(tag::INTEGER)? {
        None => None,
        Some(n) => Some(tlv::uint_bytes(&n, WHAT)?.to_vec()),
    };
    let _tsa = r.optional(tag::ctx(0))?;
    let _extensions = r.optional(tag::ctx(1))?;
    r.finish()?;
    Ok(TstInfo {
        policy,
        hash_algorithm,
        hashed_message,
        serial,
        gen_time,
        accuracy_micros,
        ordering,
        nonce,
    })
}

/// Accuracy ::= SEQUENCE { seconds INTEGER OPTIONAL, millis [0] 1..999, micros [1] 1..999 }.
fn accuracy(mut r: Reader<'_>) -> Result<u64> {
    let mut total = 0u64;
    if let Some(s) = r.optional(tag::INTEGER)? {
        total = total.saturating_add(tlv::small_uint(&s, WHAT)?.saturating_mul(1_000_000));
    }
    for (n, scale) in [(0u8, 1000u64), (1, 1)] {
        if let Some(x) = r.optional(tag::ctx_prim(n))? {
            let v = tlv::small_uint(
                &tlv::Tlv {
                    tag: tag::INTEGER,
                    ..x
                },
                WHAT,
            )?;
            if !(1..=999).contains(&v) {
                return Err(Error::malformed(
                    WHAT,
                    "accuracy millis/micros out of 1..999",
                ));
            }
            total = total.saturating_add(v * scale);
        }
    }
    r.finish()?;
    Ok(total)
}

/// A TimeStampResp (RFC 3161 §2.4.2): the status, and the token when granted.
#[derive(Clone, Debug)]
pub struct TimeStampResp {
    /// PKIStatus: 0 granted, 1 grantedWithMods, 2 rejection, 3 waiting, 4 revocationWarning,
    /// 5 revocationNotification.
    pub status: u64,
    /// statusString, joined.
    pub status_text: String,
    /// The DER of the TimeStampToken (a ContentInfo), when present.
    pub token: Option<Vec<u8>>,
}

/// Parses a DER TimeStampResp.
pub fn parse_response(der: &[u8]) -> Result<TimeStampResp> {
    const W: &str = "TimeStampResp";
    let t = tlv::single(der, W)?;
    if t.tag != tag::SEQUENCE {
        return Err(Error::malformed(W, "not a SEQUENCE"));
    }
    let mut r = t.reader(W);
    let si = r.expect(tag::SEQUENCE, "status")?;
    let mut s = si.reader(W);
    let status = tlv::small_uint(&s.expect(tag::INTEGER, "status")?, W)?;
    let mut status_text = String::new();
    if let Some(texts) = s.optional(tag::SEQUENCE)? {
        for t in texts.reader(W).all()? {
            if t.tag == tag::UTF8_STRING {
                if !status_text.is_empty() {
                    status_text.push_str("; ");
                }
                status_text.push_str(&String::from_utf8_lossy(t.value));
            }
        }
    }
    let _fail_info = s.optional(tag::BIT_STRING)?;
    s.finish()?;
    let token = r.optional(tag::SEQUENCE)?.map(|tok| tok.raw.to_vec());
    r.finish()?;
    if status <= 1 && token.is_none() {
        return Err(Error::malformed(W, "status granted without a token"));
    }
    Ok(TimeStampResp {
        status,
        status_text,
        token,
    })
}

/// A TimeStampReq (RFC 3161 §2.4.1) for `hash` made with `digest`, with a nonce, asking for
/// the TSA's certificate (certReq TRUE).
pub fn build_request(digest: Digest, hash: &[u8], nonce: &[u8]) -> Vec<u8> {
    let mut mi = Vec::new();
    let alg = der::Encode::to_der(&digest.algorithm_identifier()).unwrap_or_default();
    mi.extend_from_slice(&alg);
    derw::push_tlv(&mut mi, derw::OCTET_STRING, hash);
    let mut body = Vec::new();
    derw::push_uint(&mut body, &[1]);
    derw::push_tlv(&mut body, derw::SEQUENCE, &mi);
    derw::push_uint(&mut body, nonce);
    body.extend_from_slice(&[derw::BOOLEAN, 1, 0xff]);
    derw::tlv(derw::SEQUENCE, &body)
}

/// A time-stamp token whose TSA signature verified and whose imprint matched.
#[derive(Clone, Debug)]
pub struct CheckedToken {
    /// The TSTInfo.
    pub info: TstInfo,
    /// The TSA's certificate (DER).
    pub tsa_cert: Vec<u8>,
    /// The certificates the token carried (for path building).
    pub certificates: Vec<Vec<u8>>,
}

/// Checks a TimeStampToken (DER ContentInfo) over `data`: a SignedData of id-ct-TSTInfo signed
/// by one signer with a signing-certificate attribute (RFC 3161 §2.4.1, RFC 5816), whose
/// messageImprint is the hash of `data` (§2.4.2). `Err` is why it does not hold.
pub fn check_token(token: &[u8], data: &[u8], pool: &[Vec<u8>]) -> Result<CheckedToken> {
    let sd: SignedData = parse::parse(token)?;
    check_parsed(&sd, data, pool).map_err(|detail| Error::PolicyRefused {
        detail: format!("time-stamp token: {detail}"),
    })
}

fn check_parsed(
    sd: &SignedData,
    data: &[u8],
    pool: &[Vec<u8>],
) -> std::result::Result<CheckedToken, String> {
    if sd.content_type != oids::TST_INFO {
        return Err(format!(
            "eContentType {} is not id-ct-TSTInfo",
            sd.content_type
        ));
    }
    let content = sd
        .content
        .as_deref()
        .ok_or("the TSTInfo is not encapsulated")?;
    let [si] = sd.signer_infos.as_slice() else {
        return Err("a token has exactly one SignerInfo (RFC 3161 §2.4.2)".into());
    };
    let ok = signer::check(sd, si, content, pool)?;
    if ok.ess.is_none() {
        return Err(
            "no signing-certificate attribute names the TSA certificate (RFC 3161 §2.4.1)".into(),
        );
    }
    let info = parse_tst_info(content).map_err(|e| e.to_string())?;
    let digest = Digest::from_oid(info.hash_algorithm.oid).ok_or_else(|| {
        format!(
            "messageImprint hash {} is not accepted",
            info.hash_algorithm.oid
        )
    })?;
    if info.hashed_message != digest.hash(data) {
        return Err("messageImprint does not match the time-stamped data".into());
    }
    Ok(CheckedToken {
        info,
        tsa_cert: ok.cert,
        certificates: sd.certificates.clone(),
    })
}

/// Asks the TSA at `url` (HTTP POST `application/timestamp-query`, RFC 3161 §3.4) to
/// time-stamp `data`; returns the token (DER ContentInfo) once its imprint and nonce check.
/// The TSA's certificate path is for the relying party to validate.
pub fn request_token(url: &str, data: &[u8]) -> Result<Vec<u8>> {
    let digest = Digest::Sha256;
    let hash = digest.hash(data);
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| Error::PolicyRefused {
        detail: format!("no randomness for the nonce: {e}"),
    })?;
    nonce[0] &= 0x7f;
    nonce[0] |= 0x01;
    let req = build_request(digest, &hash, &nonce);
    let body = crate::fetch::http_post(url, "application/timestamp-query", &req, 1 << 20)?;
    let resp = parse_response(&body)?;
    let refused = |detail: String| Error::PolicyRefused { detail };
    if resp.status > 1 {
        return Err(refused(format!(
            "TSA {url} refused (PKIStatus {}): {}",
            resp.status, resp.status_text
        )));
    }
    let token = resp
        .token
        .ok_or_else(|| refused(format!("TSA {url} sent no token")))?;
    let checked = check_token(&token, data, &[])?;
    if checked.info.nonce.as_deref() != Some(&nonce[..]) {
        return Err(refused(format!(
            "TSA {url} answered with another nonce (RFC 3161 §2.4.2)"
        )));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_is_der() {
        let req = build_request(Digest::Sha256, &[7; 32], &[0x42]);
        let t = tlv::single(&req, "req").expect("der");
        assert_eq!(t.tag, tag::SEQUENCE);
        let parts = t.reader("req").all().expect("parts");
        assert_eq!(parts.len(), 4);
        assert_eq!(parts[2].value, [0x42]);
    }

    #[test]
    fn garbage_responses_are_malformed() {
        for input in [
            &b""[..],
            b"\x30\x00",
            b"\x30\x03\x02\x01\x00",
            b"\x30\x05\x30\x03\x02\x01\x00",
        ] {
            let r = parse_response(input);
            assert!(
                r.is_err() || r.as_ref().is_ok_and(|x| x.token.is_none()),
                "{input:?}"
            );
        }
        assert!(parse_tst_info(b"\x30\x03\x02\x01\x01").is_err());
    }
}
