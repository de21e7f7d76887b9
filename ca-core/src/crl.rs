//! Certificate revocation lists (RFC 5280 §5): a streaming encoder and a strict parser.
//!
//! The encoder ([`CrlWriter`], [`encode_crl`]) writes each `revokedCertificates` entry straight
//! into one byte buffer and wraps the lengths at the end, so a CRL of a million entries costs
//! about its own size in memory, not a million decoded structures. The buffer starts with a gap
//! large enough for every header and the fixed TBS fields, which are written in front of the
//! entries when the lengths are known; the TBS is then one contiguous slice to sign.
//!
//! The parser ([`ParsedCrl`]) sits on `x509-cert`'s `CertificateList` and adds the checks a
//! relying party and `publish` need: version, inner/outer algorithm match (§5.1.1.2), duplicate
//! extensions (§5.2, by §4.2's rule), known extension syntax, reason code values (§5.3.1).

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280 as oids;
use der::asn1::{Any, GeneralizedTime, Uint};
use der::{Decode, Encode, Tag, Tagged};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use time::OffsetDateTime;
use x509_cert::crl::CertificateList;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::name::Name;

use crate::derw;
use crate::error::{Error, Result};
use crate::key::{CaSigner, SignatureAlgorithm};
use crate::sigverify::{SignatureError, verify_signature};

/// The CRLReason values of RFC 5280 §5.3.1 (value 7 is unused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReasonCode {
    /// unspecified (0). Encoders omit the extension instead (§5.3.1).
    Unspecified = 0,
    /// keyCompromise (1).
    KeyCompromise = 1,
    /// cACompromise (2).
    CaCompromise = 2,
    /// affiliationChanged (3).
    AffiliationChanged = 3,
    /// superseded (4).
    Superseded = 4,
    /// cessationOfOperation (5).
    CessationOfOperation = 5,
    /// certificateHold (6).
    CertificateHold = 6,
    /// removeFromCRL (8): only in delta CRLs (§5.3.1, §5.2.4).
    RemoveFromCrl = 8,
    /// privilegeWithdrawn (9).
    PrivilegeWithdrawn = 9,
    /// aACompromise (10).
    AaCompromise = 10,
}

impl ReasonCode {
    /// Every reason code, in numeric order.
    pub const ALL: [ReasonCode; 10] = [
        ReasonCode::Unspecified,
        ReasonCode::KeyCompromise,
        ReasonCode::CaCompromise,
        ReasonCode::AffiliationChanged,
        ReasonCode::Superseded,
        ReasonCode::CessationOfOperation,
        ReasonCode::CertificateHold,
        ReasonCode::RemoveFromCrl,
        ReasonCode::PrivilegeWithdrawn,
        ReasonCode::AaCompromise,
    ];

    /// The RFC 5280 ASN.1 name (`keyCompromise`, `cACompromise`, …).
    pub fn name(self) -> &'static str {
        match self {
            ReasonCode::Unspecified => "unspecified",
            ReasonCode::KeyCompromise => "keyCompromise",
            ReasonCode::CaCompromise => "cACompromise",
            ReasonCode::AffiliationChanged => "affiliationChanged",
            ReasonCode::Superseded => "superseded",
            ReasonCode::CessationOfOperation => "cessationOfOperation",
            ReasonCode::CertificateHold => "certificateHold",
            ReasonCode::RemoveFromCrl => "removeFromCRL",
            ReasonCode::PrivilegeWithdrawn => "privilegeWithdrawn",
            ReasonCode::AaCompromise => "aACompromise",
        }
    }

    /// The ENUMERATED value.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The reason with this ENUMERATED value, if it is defined (7 and > 10 are not).
    pub fn from_code(code: u8) -> Option<ReasonCode> {
        ReasonCode::ALL.into_iter().find(|r| r.code() == code)
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ReasonCode {
    type Err = Error;
    /// Accepts the RFC 5280 name (case-insensitively, so `keycompromise` works too).
    fn from_str(s: &str) -> Result<Self> {
        ReasonCode::ALL
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::InvalidArgument {
                name: "--reason",
                value: s.to_string(),
                reason: format!(
                    "expected one of {}",
                    ReasonCode::ALL.map(ReasonCode::name).join(", ")
                ),
            })
    }
}

/// A non-negative integer of at most 20 octets, as CRLNumber and BaseCRLNumber are
/// (RFC 5280 §5.2.3: `INTEGER (0..MAX)`, at most 20 octets).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CrlNumber(Vec<u8>);

impl CrlNumber {
    /// From big-endian magnitude bytes (leading zeros allowed). Refuses values whose DER
    /// INTEGER would exceed 20 octets (§5.2.3).
    pub fn from_be_bytes(bytes: &[u8]) -> Result<CrlNumber> {
        let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        let m = bytes[start..].to_vec();
        if derw::uint_content(&m).len() > 20 {
            return Err(Error::InvalidArgument {
                name: "CRL number",
                value: hex::encode(bytes),
                reason: "longer than 20 octets (RFC 5280 §5.2.3)".into(),
            });
        }
        Ok(CrlNumber(m))
    }

    /// The big-endian magnitude without leading zeros (empty for zero).
    pub fn as_be_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The value as u128 when it fits.
    pub fn to_u128(&self) -> Option<u128> {
        if self.0.len() > 16 {
            return None;
        }
        Some(self.0.iter().fold(0u128, |a, &b| (a << 8) | u128::from(b)))
    }
}

impl From<u64> for CrlNumber {
    fn from(v: u64) -> CrlNumber {
        let b = v.to_be_bytes();
        let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
        CrlNumber(b[start..].to_vec())
    }
}

impl PartialOrd for CrlNumber {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for CrlNumber {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.cmp(&other.0))
    }
}

impl fmt::Display for CrlNumber {
    /// Decimal when it fits in 128 bits, else `0x`-prefixed hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_u128() {
            Some(v) => write!(f, "{v}"),
            None => write!(f, "0x{}", hex::encode(&self.0)),
        }
    }
}

impl fmt::Debug for CrlNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CrlNumber({self})")
    }
}

/// The issuingDistributionPoint extension to write (RFC 5280 §5.2.5; always critical).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IssuingDistributionPoint {
    /// `distributionPoint` as `fullName` URIs; empty leaves the field out.
    pub full_name_uris: Vec<String>,
    /// onlyContainsUserCerts.
    pub only_contains_user_certs: bool,
    /// onlyContainsCACerts.
    pub only_contains_ca_certs: bool,
}

/// Everything about a CRL except its entries.
#[derive(Clone, Debug)]
pub struct CrlParams {
    /// The issuer's Name, DER (the CA certificate's subject, byte for byte: §5.1.2.3).
    pub issuer_name_der: Vec<u8>,
    /// The issuer's subjectKeyIdentifier, written as the AKI keyIdentifier (§5.2.1).
    pub issuer_key_id: Vec<u8>,
    /// CRLNumber (§5.2.3): monotonically increasing per CRL scope.
    pub crl_number: CrlNumber,
    /// thisUpdate (§5.1.2.4).
    pub this_update: OffsetDateTime,
    /// nextUpdate (§5.1.2.5; conforming CAs MUST include it).
    pub next_update: OffsetDateTime,
    /// issuingDistributionPoint (§5.2.5), critical.
    pub issuing_distribution_point: Option<IssuingDistributionPoint>,
    /// For a delta CRL: the base CRL's number, written as the critical deltaCRLIndicator
    /// (§5.2.4).
    pub delta_base: Option<CrlNumber>,
    /// Freshest CRL pointer URIs (§5.2.6, non-critical; not allowed in delta CRLs).
    pub freshest_crl_uris: Vec<String>,
}

/// One revoked certificate (RFC 5280 §5.1.2.6, §5.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlEntry {
    /// The certificate's serial number: big-endian magnitude bytes (positive, ≤ 20 octets as a
    /// DER INTEGER).
    pub serial: Vec<u8>,
    /// revocationDate.
    pub revocation_date: OffsetDateTime,
    /// reasonCode (§5.3.1); `Some(Unspecified)` is written as no extension.
    pub reason: Option<ReasonCode>,
    /// invalidityDate (§5.3.2), always GeneralizedTime.
    pub invalidity_date: Option<OffsetDateTime>,
}

fn check_uri(uri: &str, what: &'static str) -> Result<()> {
    if uri.is_empty()
        || !uri.is_ascii()
        || !uri.contains(':')
        || uri.chars().any(|c| c.is_ascii_control() || c == ' ')
    {
        return Err(Error::InvalidArgument {
            name: what,
            value: uri.to_string(),
            reason: "not an absolute ASCII URI (IA5String, RFC 5280 §4.2.1.6)".into(),
        });
    }
    Ok(())
}

/// `DistributionPointName` as fullName URIs: `[0] { [0] IMPLICIT GeneralNames }` where the outer
/// tag is the explicit tag of the CHOICE (RFC 5280 §4.2.1.13, implicit-tagged module).
fn dp_name_full_uris(uris: &[String]) -> Vec<u8> {
    let mut names = Vec::new();
    for u in uris {
        derw::push_tlv(&mut names, 0x86, u.as_bytes());
    }
    let full_name = derw::tlv(0xa0, &names);
    derw::tlv(0xa0, &full_name)
}

/// Builds a CRL entry by entry; see the module documentation for the buffer layout.
pub struct CrlWriter {
    params: CrlParams,
    prefix: Vec<u8>,
    sig_alg_der: Vec<u8>,
    gap: usize,
    buf: Vec<u8>,
    scratch: Vec<u8>,
    count: u64,
}

impl fmt::Debug for CrlWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CrlWriter")
            .field("crl_number", &self.params.crl_number)
            .field("entries", &self.count)
            .finish_non_exhaustive()
    }
}

/// Largest entry count pre-allocated for, whatever the hint says (the buffer still grows past it).
const MAX_CAPACITY_HINT: usize = 4_000_000;

/// Room for the outer, TBS and revokedCertificates headers (each at most 1 + 1 + 8 octets).
const HEADER_ROOM: usize = 32;

impl CrlWriter {
    /// Checks the parameters and writes the fixed TBS fields. `signer` fixes the signature
    /// algorithm written into the TBS (§5.1.2.2 must equal §5.1.1.2); sign with the same signer.
    /// `capacity_hint` is the expected number of entries (for one allocation up front).
    pub fn new(
        params: CrlParams,
        signer: &dyn CaSigner,
        capacity_hint: usize,
    ) -> Result<CrlWriter> {
        Self::for_algorithm(params, signer.algorithm(), capacity_hint)
    }

    /// [`CrlWriter::new`] for a signer not at hand yet (e.g. a key still being loaded) that
    /// will sign with `algorithm`; [`CrlWriter::finish`] refuses a signer with another one.
    pub fn for_algorithm(
        params: CrlParams,
        algorithm: SignatureAlgorithm,
        capacity_hint: usize,
    ) -> Result<CrlWriter> {
        Name::from_der(&params.issuer_name_der)
            .map_err(|e| Error::malformed("CRL issuer name", e))?;
        if params.issuer_key_id.is_empty() {
            return Err(Error::InvalidArgument {
                name: "issuer key identifier",
                value: String::new(),
                reason: "empty (RFC 5280 §5.2.1 requires the AKI keyIdentifier)".into(),
            });
        }
        if params.next_update <= params.this_update {
            return Err(Error::InvalidArgument {
                name: "nextUpdate",
                value: params.next_update.to_string(),
                reason: "not after thisUpdate (RFC 5280 §5.1.2.5)".into(),
            });
        }
        if let Some(base) = &params.delta_base {
            if *base >= params.crl_number {
                return Err(Error::InvalidArgument {
                    name: "delta base CRL number",
                    value: base.to_string(),
                    reason: format!(
                        "not below this delta CRL's number {} (RFC 5280 §5.2.4)",
                        params.crl_number
                    ),
                });
            }
            if !params.freshest_crl_uris.is_empty() {
                return Err(Error::InvalidArgument {
                    name: "freshest CRL",
                    value: params.freshest_crl_uris.join(","),
                    reason: "a delta CRL must not carry a Freshest CRL pointer (RFC 5280 §5.2.6)"
                        .into(),
                });
            }
        }
        if let Some(idp) = &params.issuing_distribution_point {
            if idp.only_contains_ca_certs && idp.only_contains_user_certs {
                return Err(Error::InvalidArgument {
                    name: "issuing distribution point",
                    value: "onlyContainsUserCerts+onlyContainsCACerts".into(),
                    reason: "at most one of the only* flags may be set (RFC 5280 §5.2.5)".into(),
                });
            }
            if idp.full_name_uris.is_empty()
                && !idp.only_contains_ca_certs
                && !idp.only_contains_user_certs
            {
                return Err(Error::InvalidArgument {
                    name: "issuing distribution point",
                    value: String::new(),
                    reason: "an IDP with no field set is not allowed (RFC 5280 §5.2.5)".into(),
                });
            }
            for u in &idp.full_name_uris {
                check_uri(u, "issuing distribution point URI")?;
            }
        }
        for u in &params.freshest_crl_uris {
            check_uri(u, "freshest CRL URI")?;
        }

        let sig_alg_der = algorithm
            .algorithm_identifier()
            .to_der()
            .map_err(Error::encode("CRL signature algorithm"))?;
        // version v2 (§5.1.2.1), signature, issuer, thisUpdate, nextUpdate.
        let mut prefix = Vec::with_capacity(64 + params.issuer_name_der.len());
        derw::push_tlv(&mut prefix, derw::INTEGER, &[1]);
        prefix.extend_from_slice(&sig_alg_der);
        prefix.extend_from_slice(&params.issuer_name_der);
        derw::push_x509_time(&mut prefix, &params.this_update, "thisUpdate")?;
        derw::push_x509_time(&mut prefix, &params.next_update, "nextUpdate")?;

        let gap = prefix.len() + HEADER_ROOM;
        // An entry with a 20-octet serial, a UTCTime, a reason and no invalidity date is 58 octets.
        let mut buf = Vec::with_capacity(gap + capacity_hint.min(MAX_CAPACITY_HINT) * 48 + 512);
        buf.resize(gap, 0);
        Ok(CrlWriter {
            params,
            prefix,
            sig_alg_der,
            gap,
            buf,
            scratch: Vec::with_capacity(128),
            count: 0,
        })
    }

    /// Sets the CRL number, which is written only by [`CrlWriter::finish`]: a caller may stream
    /// the entries first and allocate the number once it knows the CRL will be signed.
    pub fn set_crl_number(&mut self, number: CrlNumber) -> Result<()> {
        if let Some(base) = &self.params.delta_base
            && *base >= number
        {
            return Err(Error::InvalidArgument {
                name: "delta base CRL number",
                value: base.to_string(),
                reason: format!("not below this delta CRL's number {number} (RFC 5280 §5.2.4)"),
            });
        }
        self.params.crl_number = number;
        Ok(())
    }

    /// Number of entries written so far.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Whether no entry was written yet.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends one revokedCertificates entry (§5.1.2.6). Duplicate serials are not detected here:
    /// the store hands each serial once.
    pub fn push(&mut self, entry: &CrlEntry) -> Result<()> {
        let serial = derw::uint_content(&entry.serial);
        if serial == [0] {
            return Err(Error::InvalidArgument {
                name: "serial",
                value: hex::encode(&entry.serial),
                reason: "serial numbers are positive integers (RFC 5280 §4.1.2.2)".into(),
            });
        }
        if serial.len() > 20 {
            return Err(Error::InvalidArgument {
                name: "serial",
                value: hex::encode(&entry.serial),
                reason: "longer than 20 octets (RFC 5280 §4.1.2.2)".into(),
            });
        }
        let reason = match entry.reason {
            Some(ReasonCode::Unspecified) | None => None,
            Some(ReasonCode::RemoveFromCrl) if self.params.delta_base.is_none() => {
                return Err(Error::InvalidArgument {
                    name: "reason",
                    value: "removeFromCRL".into(),
                    reason: "removeFromCRL is only for delta CRLs (RFC 5280 §5.3.1)".into(),
                });
            }
            Some(r) => Some(r),
        };
        let s = &mut self.scratch;
        s.clear();
        derw::push_tlv(s, derw::INTEGER, &serial);
        derw::push_x509_time(s, &entry.revocation_date, "revocationDate")?;
        if reason.is_some() || entry.invalidity_date.is_some() {
            let mut exts = Vec::with_capacity(40);
            if let Some(r) = reason {
                // §5.3.1: reasonCode, non-critical, ENUMERATED.
                derw::push_extension(
                    &mut exts,
                    &oids::ID_CE_CRL_REASONS,
                    false,
                    &[derw::ENUMERATED, 1, r.code()],
                );
            }
            if let Some(t) = &entry.invalidity_date {
                // §5.3.2: invalidityDate, non-critical, GeneralizedTime.
                let mut v = Vec::with_capacity(17);
                derw::push_generalized_time(&mut v, t, "invalidityDate")?;
                derw::push_extension(&mut exts, &oids::ID_CE_INVALIDITY_DATE, false, &v);
            }
            derw::push_tlv(s, derw::SEQUENCE, &exts);
        }
        derw::push_tlv(&mut self.buf, derw::SEQUENCE, s);
        self.count += 1;
        Ok(())
    }

    fn extensions(&self) -> Vec<u8> {
        let p = &self.params;
        let mut exts = Vec::with_capacity(256);
        // §5.2.1: authorityKeyIdentifier { keyIdentifier [0] IMPLICIT OCTET STRING }.
        let aki = derw::tlv(derw::SEQUENCE, &derw::tlv(0x80, &p.issuer_key_id));
        derw::push_extension(
            &mut exts,
            &oids::ID_CE_AUTHORITY_KEY_IDENTIFIER,
            false,
            &aki,
        );
        // §5.2.3: cRLNumber, non-critical.
        let mut n = Vec::new();
        derw::push_uint(&mut n, p.crl_number.as_be_bytes());
        derw::push_extension(&mut exts, &oids::ID_CE_CRL_NUMBER, false, &n);
        // §5.2.4: deltaCRLIndicator, critical.
        if let Some(base) = &p.delta_base {
            let mut b = Vec::new();
            derw::push_uint(&mut b, base.as_be_bytes());
            derw::push_extension(&mut exts, &oids::ID_CE_DELTA_CRL_INDICATOR, true, &b);
        }
        // §5.2.5: issuingDistributionPoint, critical. DEFAULT FALSE booleans are omitted (X.690
        // §11.5); [1]/[2] are IMPLICIT BOOLEAN.
        if let Some(idp) = &p.issuing_distribution_point {
            let mut v = Vec::new();
            if !idp.full_name_uris.is_empty() {
                v.extend_from_slice(&dp_name_full_uris(&idp.full_name_uris));
            }
            if idp.only_contains_user_certs {
                v.extend_from_slice(&[0x81, 1, 0xff]);
            }
            if idp.only_contains_ca_certs {
                v.extend_from_slice(&[0x82, 1, 0xff]);
            }
            let idp_der = derw::tlv(derw::SEQUENCE, &v);
            derw::push_extension(
                &mut exts,
                &oids::ID_CE_ISSUING_DISTRIBUTION_POINT,
                true,
                &idp_der,
            );
        }
        // §5.2.6: freshestCRL (CRLDistributionPoints syntax), non-critical.
        if !p.freshest_crl_uris.is_empty() {
            let dp = derw::tlv(derw::SEQUENCE, &dp_name_full_uris(&p.freshest_crl_uris));
            let v = derw::tlv(derw::SEQUENCE, &dp);
            derw::push_extension(&mut exts, &oids::ID_CE_FRESHEST_CRL, false, &v);
        }
        // crlExtensions [0] EXPLICIT Extensions (§5.1).
        derw::tlv(0xa0, &derw::tlv(derw::SEQUENCE, &exts))
    }

    /// Wraps the lengths, signs the TBSCertList with `signer` and returns the CRL's DER.
    pub fn finish(mut self, signer: &dyn CaSigner) -> Result<Vec<u8>> {
        let sig_alg_der = signer
            .algorithm()
            .algorithm_identifier()
            .to_der()
            .map_err(Error::encode("CRL signature algorithm"))?;
        if sig_alg_der != self.sig_alg_der {
            return Err(Error::key(
                "CRL signer",
                "signs with another algorithm than the one the CRL was started with",
            ));
        }
        let entries_len = self.buf.len() - self.gap;
        // §5.1.2.6: with no revoked certificates the list MUST be absent.
        let rev_hdr = if self.count > 0 {
            derw::header(derw::SEQUENCE, entries_len)
        } else {
            Vec::new()
        };
        let exts = self.extensions();
        let tbs_len = self.prefix.len() + rev_hdr.len() + entries_len + exts.len();
        let tbs_hdr = derw::header(derw::SEQUENCE, tbs_len);
        let tbs_start = self.gap - rev_hdr.len() - self.prefix.len() - tbs_hdr.len();
        let mut at = tbs_start;
        for part in [&tbs_hdr, &self.prefix, &rev_hdr] {
            self.buf[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        self.buf.extend_from_slice(&exts);
        let signature = signer.sign(&self.buf[tbs_start..])?;
        let tbs_total = self.buf.len() - tbs_start;
        let sig_bits_len = 1 + signature.len();
        let outer_len =
            tbs_total + self.sig_alg_der.len() + 1 + derw::len_size(sig_bits_len) + sig_bits_len;
        let outer_hdr = derw::header(derw::SEQUENCE, outer_len);
        let start = tbs_start - outer_hdr.len();
        self.buf[start..tbs_start].copy_from_slice(&outer_hdr);
        self.buf.extend_from_slice(&self.sig_alg_der);
        derw::push_header(&mut self.buf, derw::BIT_STRING, sig_bits_len);
        self.buf.push(0);
        self.buf.extend_from_slice(&signature);
        self.buf.drain(..start);
        Ok(self.buf)
    }
}

/// Encodes and signs a whole CRL from an iterator of entries (see [`CrlWriter`]).
pub fn encode_crl<I>(params: CrlParams, entries: I, signer: &dyn CaSigner) -> Result<Vec<u8>>
where
    I: IntoIterator<Item = CrlEntry>,
{
    let entries = entries.into_iter();
    let hint = entries.size_hint().0;
    let mut w = CrlWriter::new(params, signer, hint)?;
    for e in entries {
        w.push(&e)?;
    }
    w.finish(signer)
}

/// The CRL issuer fields from the CA's DER certificate: its subject Name DER (the CRL's issuer,
/// §5.1.2.3) and its subjectKeyIdentifier (the CRL's AKI keyIdentifier, §5.2.1).
pub fn issuer_fields_from_certificate(ca_cert_der: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let cert = x509_cert::Certificate::from_der(ca_cert_der)
        .map_err(|e| Error::malformed("CA certificate", e))?;
    let tbs = cert.tbs_certificate();
    let name = tbs
        .subject()
        .to_der()
        .map_err(Error::encode("CA subject"))?;
    let ski = tbs
        .get_extension::<x509_cert::ext::pkix::SubjectKeyIdentifier>()
        .map_err(|e| Error::malformed("CA certificate subjectKeyIdentifier", e))?
        .ok_or_else(|| {
            Error::malformed(
                "CA certificate",
                "no subjectKeyIdentifier (RFC 5280 §4.2.1.2 requires it in CA certificates)",
            )
        })?;
    Ok((name, ski.1.0.as_bytes().to_vec()))
}

/// PEM (`X509 CRL`, RFC 7468 §5) of a DER CRL.
pub fn crl_to_pem(der_bytes: &[u8]) -> Result<String> {
    Ok(crate::input::to_pem("X509 CRL", der_bytes))
}

/// The issuingDistributionPoint of a parsed CRL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedIdp {
    /// fullName URIs.
    pub full_name_uris: Vec<String>,
    /// Whether the distributionPoint is a nameRelativeToCRLIssuer.
    pub relative_name: bool,
    /// onlyContainsUserCerts.
    pub only_contains_user_certs: bool,
    /// onlyContainsCACerts.
    pub only_contains_ca_certs: bool,
    /// onlyContainsAttributeCerts.
    pub only_contains_attribute_certs: bool,
    /// indirectCRL.
    pub indirect_crl: bool,
    /// Whether onlySomeReasons is present (a partial-reason CRL).
    pub only_some_reasons: bool,
}

/// One revoked certificate of a parsed CRL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedCrlEntry {
    /// Serial number, big-endian magnitude (negative serials keep their two's-complement bytes).
    pub serial: Vec<u8>,
    /// revocationDate.
    pub revocation_date: OffsetDateTime,
    /// reasonCode, if present.
    pub reason: Option<ReasonCode>,
    /// invalidityDate, if present.
    pub invalidity_date: Option<OffsetDateTime>,
    /// Whether the entry carries a certificateIssuer extension (indirect CRLs, §5.3.3).
    pub has_certificate_issuer: bool,
}

/// A parsed, structurally checked CRL. The signature is checked separately
/// ([`ParsedCrl::verify_signature`]).
#[derive(Clone, Debug)]
pub struct ParsedCrl {
    /// The issuer Name, DER.
    pub issuer_der: Vec<u8>,
    /// thisUpdate.
    pub this_update: OffsetDateTime,
    /// nextUpdate, if present.
    pub next_update: Option<OffsetDateTime>,
    /// cRLNumber, if present.
    pub crl_number: Option<CrlNumber>,
    /// The deltaCRLIndicator's base CRL number: `Some` for a delta CRL.
    pub delta_base: Option<CrlNumber>,
    /// The AKI keyIdentifier, if present.
    pub authority_key_id: Option<Vec<u8>>,
    /// issuingDistributionPoint, if present.
    pub issuing_distribution_point: Option<ParsedIdp>,
    /// Freshest CRL URIs.
    pub freshest_crl_uris: Vec<String>,
    /// The revoked certificates.
    pub entries: Vec<ParsedCrlEntry>,
    /// Critical CRL or entry extensions this parser does not know. A CRL with any MUST NOT be
    /// used to decide status (§5.2, §6.3.3).
    pub unknown_critical_extensions: Vec<ObjectIdentifier>,
    /// signatureAlgorithm.
    pub signature_algorithm: AlgorithmIdentifierOwned,
    tbs_der: Vec<u8>,
    signature: Vec<u8>,
}

/// The outer CertificateList with the TBS kept as raw TLV, for signature checks.
#[derive(der::Sequence)]
struct RawSigned {
    tbs: Any,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: der::asn1::BitString,
}

fn to_offset(t: std::time::Duration, what: &str) -> Result<OffsetDateTime> {
    i64::try_from(t.as_secs())
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .ok_or_else(|| Error::malformed(what, "time out of range"))
}

fn check_unique(exts: &[Extension], what: &str) -> Result<()> {
    let mut seen = HashSet::new();
    for e in exts {
        if !seen.insert(e.extn_id) {
            return Err(Error::malformed(
                what,
                format!("extension {} appears twice (RFC 5280 §4.2)", e.extn_id),
            ));
        }
    }
    Ok(())
}

fn uris_of(names: &[GeneralName]) -> Vec<String> {
    names
        .iter()
        .filter_map(|n| match n {
            GeneralName::UniformResourceIdentifier(u) => Some(u.to_string()),
            _ => None,
        })
        .collect()
}

/// Decodes a reasonCode extension value: ENUMERATED with a defined value (§5.3.1).
pub(crate) fn decode_reason(value: &[u8], what: &str) -> Result<ReasonCode> {
    let any = Any::from_der(value).map_err(|e| Error::malformed(what, e))?;
    if any.tag() != Tag::Enumerated {
        return Err(Error::malformed(what, "reasonCode is not an ENUMERATED"));
    }
    match any.value() {
        [c] if *c < 0x80 => ReasonCode::from_code(*c).ok_or_else(|| {
            Error::malformed(what, format!("undefined reasonCode {c} (RFC 5280 §5.3.1)"))
        }),
        v => Err(Error::malformed(
            what,
            format!("undefined reasonCode {}", hex::encode(v)),
        )),
    }
}

/// Reads the magnitude of a DER INTEGER's content octets (drops one leading zero sign octet).
fn magnitude(bytes: &[u8]) -> Vec<u8> {
    match bytes {
        [0, rest @ ..] if !rest.is_empty() => rest.to_vec(),
        _ => bytes.to_vec(),
    }
}

impl ParsedCrl {
    /// Parses PEM (`X509 CRL`) or DER.
    pub fn parse_pem_or_der(input: &[u8]) -> Result<ParsedCrl> {
        if input.starts_with(b"-----BEGIN") {
            let (label, der_bytes) =
                der::pem::decode_vec(input).map_err(|e| Error::malformed("CRL PEM", e))?;
            if label != "X509 CRL" {
                return Err(Error::malformed(
                    "CRL PEM",
                    format!("label {label:?} is not X509 CRL"),
                ));
            }
            ParsedCrl::parse(&der_bytes)
        } else {
            ParsedCrl::parse(input)
        }
    }

    /// Parses a DER CRL and checks its structure (see the module documentation).
    pub fn parse(der_bytes: &[u8]) -> Result<ParsedCrl> {
        const W: &str = "CRL";
        let raw = RawSigned::from_der(der_bytes).map_err(|e| Error::malformed(W, e))?;
        let crl = CertificateList::<x509_cert::certificate::Rfc5280>::from_der(der_bytes)
            .map_err(|e| Error::malformed(W, e))?;
        let tbs = &crl.tbs_cert_list;
        let has_exts = tbs.crl_extensions.is_some()
            || tbs
                .revoked_certificates
                .iter()
                .flatten()
                .any(|r| r.crl_entry_extensions.is_some());
        match tbs.version {
            x509_cert::Version::V2 => {}
            x509_cert::Version::V1 if !has_exts => {}
            v => {
                return Err(Error::malformed(
                    W,
                    format!("version {v:?} is not valid for this CRL (RFC 5280 §5.1.2.1)"),
                ));
            }
        }
        if tbs.signature != crl.signature_algorithm {
            return Err(Error::malformed(
                W,
                "TBSCertList.signature differs from signatureAlgorithm (RFC 5280 §5.1.1.2)",
            ));
        }
        // A strict reading of PrintableString in the issuer (X.680 §41.4).
        for atv in tbs.issuer.iter() {
            if atv.value.tag() == Tag::PrintableString {
                atv.value
                    .decode_as::<der::asn1::PrintableStringRef<'_>>()
                    .map_err(|e| Error::malformed("CRL issuer", e))?;
            }
        }
        let issuer_der = tbs.issuer.to_der().map_err(|e| Error::malformed(W, e))?;
        let this_update = to_offset(tbs.this_update.to_unix_duration(), W)?;
        let next_update = tbs
            .next_update
            .map(|t| to_offset(t.to_unix_duration(), W))
            .transpose()?;

        let mut parsed = ParsedCrl {
            issuer_der,
            this_update,
            next_update,
            crl_number: None,
            delta_base: None,
            authority_key_id: None,
            issuing_distribution_point: None,
            freshest_crl_uris: Vec::new(),
            entries: Vec::new(),
            unknown_critical_extensions: Vec::new(),
            signature_algorithm: crl.signature_algorithm.clone(),
            tbs_der: raw.tbs.to_der().map_err(|e| Error::malformed(W, e))?,
            signature: raw
                .signature
                .as_bytes()
                .ok_or_else(|| Error::malformed(W, "signature BIT STRING has unused bits"))?
                .to_vec(),
        };

        if let Some(exts) = &tbs.crl_extensions {
            check_unique(exts, W)?;
            for e in exts {
                let v = e.extn_value.as_bytes();
                let bad =
                    |err: der::Error| Error::malformed(format!("CRL extension {}", e.extn_id), err);
                match e.extn_id {
                    oids::ID_CE_AUTHORITY_KEY_IDENTIFIER => {
                        let aki = x509_cert::ext::pkix::AuthorityKeyIdentifier::from_der(v)
                            .map_err(bad)?;
                        parsed.authority_key_id = aki.key_identifier.map(|k| k.as_bytes().to_vec());
                    }
                    oids::ID_CE_CRL_NUMBER => {
                        let n = Uint::from_der(v).map_err(bad)?;
                        parsed.crl_number = Some(CrlNumber::from_be_bytes(n.as_bytes())?);
                    }
                    oids::ID_CE_DELTA_CRL_INDICATOR => {
                        let n = Uint::from_der(v).map_err(bad)?;
                        parsed.delta_base = Some(CrlNumber::from_be_bytes(n.as_bytes())?);
                    }
                    oids::ID_CE_ISSUING_DISTRIBUTION_POINT => {
                        let idp =
                            x509_cert::ext::pkix::crl::dp::IssuingDistributionPoint::from_der(v)
                                .map_err(bad)?;
                        let mut p = ParsedIdp {
                            only_contains_user_certs: idp.only_contains_user_certs,
                            only_contains_ca_certs: idp.only_contains_ca_certs,
                            only_contains_attribute_certs: idp.only_contains_attribute_certs,
                            indirect_crl: idp.indirect_crl,
                            only_some_reasons: idp.only_some_reasons.is_some(),
                            ..ParsedIdp::default()
                        };
                        match &idp.distribution_point {
                            Some(DistributionPointName::FullName(names)) => {
                                p.full_name_uris = uris_of(names)
                            }
                            Some(DistributionPointName::NameRelativeToCRLIssuer(_)) => {
                                p.relative_name = true
                            }
                            None => {}
                        }
                        parsed.issuing_distribution_point = Some(p);
                    }
                    oids::ID_CE_FRESHEST_CRL => {
                        let f = x509_cert::ext::pkix::FreshestCrl::from_der(v).map_err(bad)?;
                        for dp in &f.0 {
                            if let Some(DistributionPointName::FullName(names)) =
                                &dp.distribution_point
                            {
                                parsed.freshest_crl_uris.extend(uris_of(names));
                            }
                        }
                    }
                    oids::ID_CE_ISSUER_ALT_NAME => {
                        x509_cert::ext::pkix::IssuerAltName::from_der(v).map_err(bad)?;
                    }
                    // §5.2.7: authorityInfoAccess.
                    oids::ID_PE_AUTHORITY_INFO_ACCESS => {
                        x509_cert::ext::pkix::AuthorityInfoAccessSyntax::from_der(v)
                            .map_err(bad)?;
                    }
                    other if e.critical => parsed.unknown_critical_extensions.push(other),
                    _ => {}
                }
            }
        }

        for rc in tbs.revoked_certificates.iter().flatten() {
            let mut entry = ParsedCrlEntry {
                serial: magnitude(rc.serial_number.as_bytes()),
                revocation_date: to_offset(rc.revocation_date.to_unix_duration(), W)?,
                reason: None,
                invalidity_date: None,
                has_certificate_issuer: false,
            };
            if let Some(exts) = &rc.crl_entry_extensions {
                check_unique(exts, "CRL entry")?;
                for e in exts {
                    let v = e.extn_value.as_bytes();
                    let what = format!("CRL entry extension {}", e.extn_id);
                    match e.extn_id {
                        oids::ID_CE_CRL_REASONS => entry.reason = Some(decode_reason(v, &what)?),
                        oids::ID_CE_INVALIDITY_DATE => {
                            let t = GeneralizedTime::from_der(v)
                                .map_err(|err| Error::malformed(&what, err))?;
                            entry.invalidity_date = Some(to_offset(t.to_unix_duration(), &what)?);
                        }
                        oids::ID_CE_CERTIFICATE_ISSUER => {
                            x509_cert::ext::pkix::name::GeneralNames::from_der(v)
                                .map_err(|err| Error::malformed(&what, err))?;
                            entry.has_certificate_issuer = true;
                        }
                        other
                            if e.critical
                                && !parsed.unknown_critical_extensions.contains(&other) =>
                        {
                            parsed.unknown_critical_extensions.push(other);
                        }
                        _ => {}
                    }
                }
            }
            parsed.entries.push(entry);
        }
        Ok(parsed)
    }

    /// Whether this is a delta CRL (§5.2.4): never use it as a complete CRL.
    pub fn is_delta(&self) -> bool {
        self.delta_base.is_some()
    }

    /// Whether a relying party may use this CRL to decide status: no unknown critical extension
    /// (§5.2, §6.3.3) and a nextUpdate present (§5.1.2.5).
    pub fn usable_for_status(&self) -> bool {
        self.unknown_critical_extensions.is_empty() && self.next_update.is_some()
    }

    /// The entry for a serial (big-endian magnitude), if listed.
    pub fn find(&self, serial: &[u8]) -> Option<&ParsedCrlEntry> {
        let want = derw::uint_content(serial);
        self.entries
            .iter()
            .find(|e| derw::uint_content(&e.serial) == want)
    }

    /// The TBSCertList's DER (what the signature covers).
    pub fn tbs_der(&self) -> &[u8] {
        &self.tbs_der
    }

    /// Verifies the CRL's signature with the issuer's public key.
    pub fn verify_signature(
        &self,
        issuer_spki: &SubjectPublicKeyInfoOwned,
    ) -> Result<(), SignatureError> {
        verify_signature(
            issuer_spki,
            &self.signature_algorithm,
            &self.tbs_der,
            &self.signature,
        )
    }
}
