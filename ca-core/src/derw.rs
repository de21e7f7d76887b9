//! A minimal DER writer for the streaming encoders (CRL, OCSP): tag-length-value into byte
//! buffers, so large structures never go through per-element `der` structs (X.690 §8, §10).

use const_oid::ObjectIdentifier;
use time::OffsetDateTime;

use crate::error::{Error, Result};

/// Universal tags used here (X.680 §8.4).
pub(crate) const BOOLEAN: u8 = 0x01;
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const BIT_STRING: u8 = 0x03;
pub(crate) const OCTET_STRING: u8 = 0x04;
pub(crate) const OID: u8 = 0x06;
pub(crate) const ENUMERATED: u8 = 0x0a;
pub(crate) const UTC_TIME: u8 = 0x17;
pub(crate) const GENERALIZED_TIME: u8 = 0x18;
pub(crate) const SEQUENCE: u8 = 0x30;

/// Number of octets of a DER length (X.690 §10.1: definite form, minimal octets).
pub(crate) fn len_size(len: usize) -> usize {
    if len < 0x80 {
        1
    } else {
        1 + (usize::BITS as usize / 8 - len.leading_zeros() as usize / 8)
    }
}

/// Writes tag and length octets into `out`.
pub(crate) fn push_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let n = len_size(len) - 1;
        out.push(0x80 | n as u8);
        for i in (0..n).rev() {
            out.push((len >> (8 * i)) as u8);
        }
    }
}

/// Tag and length octets as a small vector.
pub(crate) fn header(tag: u8, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(1 + len_size(len));
    push_header(&mut v, tag, len);
    v
}

/// Writes a whole TLV.
pub(crate) fn push_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    push_header(out, tag, content.len());
    out.extend_from_slice(content);
}

/// A whole TLV as a vector.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(content.len() + 6);
    push_tlv(&mut v, tag, content);
    v
}

/// Content octets of a non-negative INTEGER from big-endian magnitude bytes (X.690 §8.3: minimal,
/// with a leading zero octet when the high bit is set).
pub(crate) fn uint_content(magnitude: &[u8]) -> Vec<u8> {
    let start = magnitude
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(magnitude.len());
    let m = &magnitude[start..];
    if m.is_empty() {
        return vec![0];
    }
    let mut v = Vec::with_capacity(m.len() + 1);
    if m[0] & 0x80 != 0 {
        v.push(0);
    }
    v.extend_from_slice(m);
    v
}

/// Writes a non-negative INTEGER.
pub(crate) fn push_uint(out: &mut Vec<u8>, magnitude: &[u8]) {
    let c = uint_content(magnitude);
    push_tlv(out, INTEGER, &c);
}

/// Writes an OBJECT IDENTIFIER.
pub(crate) fn push_oid(out: &mut Vec<u8>, oid: &ObjectIdentifier) {
    push_tlv(out, OID, oid.as_bytes());
}

/// Writes an Extension (RFC 5280 §4.1): `SEQUENCE { extnID, critical DEFAULT FALSE, extnValue }`.
/// `value` is the DER of the extension's value; it is wrapped in the OCTET STRING here.
/// DER omits `critical` when it is FALSE (X.690 §11.5).
pub(crate) fn push_extension(
    out: &mut Vec<u8>,
    oid: &ObjectIdentifier,
    critical: bool,
    value: &[u8],
) {
    let oid_len = 2 + oid.as_bytes().len();
    let crit_len = if critical { 3 } else { 0 };
    let val_len = 1 + len_size(value.len()) + value.len();
    push_header(out, SEQUENCE, oid_len + crit_len + val_len);
    push_oid(out, oid);
    if critical {
        out.extend_from_slice(&[BOOLEAN, 1, 0xff]);
    }
    push_tlv(out, OCTET_STRING, value);
}

fn check_year(t: &OffsetDateTime, what: &'static str) -> Result<OffsetDateTime> {
    let t = t.to_offset(time::UtcOffset::UTC);
    if !(1950..=9999).contains(&t.year()) {
        return Err(Error::InvalidArgument {
            name: what,
            value: t.to_string(),
            reason: "outside the years 1950..9999 that X.509 times can carry".into(),
        });
    }
    Ok(t)
}

/// Writes a GeneralizedTime `YYYYMMDDHHMMSSZ` (RFC 5280 §4.1.2.5.2: UTC, seconds, no fraction).
pub(crate) fn push_generalized_time(
    out: &mut Vec<u8>,
    t: &OffsetDateTime,
    what: &'static str,
) -> Result<()> {
    let t = check_year(t, what)?;
    // Formatted by hand: CRLs carry one or two times per entry, and `format!` was a visible
    // share of encoding a 100,000-entry CRL.
    let y = t.year() as u32; // check_year keeps it within 1950..=9999
    let mut s = [0u8; 15];
    put2(&mut s[0..2], (y / 100) as u8);
    put2(&mut s[2..4], (y % 100) as u8);
    put_hms(&mut s[4..14], &t);
    s[14] = b'Z';
    push_tlv(out, GENERALIZED_TIME, &s);
    Ok(())
}

/// Two decimal digits of `v` (< 100).
fn put2(out: &mut [u8], v: u8) {
    out[0] = b'0' + v / 10;
    out[1] = b'0' + v % 10;
}

/// `MMDDHHMMSS` of `t`.
fn put_hms(out: &mut [u8], t: &OffsetDateTime) {
    put2(&mut out[0..2], u8::from(t.month()));
    put2(&mut out[2..4], t.day());
    put2(&mut out[4..6], t.hour());
    put2(&mut out[6..8], t.minute());
    put2(&mut out[8..10], t.second());
}

/// Writes an X.509 `Time`: UTCTime `YYMMDDHHMMSSZ` through 2049, GeneralizedTime from 2050
/// (RFC 5280 §4.1.2.5, §5.1.2.4, §5.1.2.5).
pub(crate) fn push_x509_time(
    out: &mut Vec<u8>,
    t: &OffsetDateTime,
    what: &'static str,
) -> Result<()> {
    let t = check_year(t, what)?;
    if t.year() >= 2050 {
        return push_generalized_time(out, &t, what);
    }
    let mut s = [0u8; 13];
    put2(&mut s[0..2], (t.year() % 100) as u8);
    put_hms(&mut s[2..12], &t);
    s[12] = b'Z';
    push_tlv(out, UTC_TIME, &s);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_minimal() {
        assert_eq!(header(0x30, 0x7f), vec![0x30, 0x7f]);
        assert_eq!(header(0x30, 0x80), vec![0x30, 0x81, 0x80]);
        assert_eq!(header(0x30, 0x100), vec![0x30, 0x82, 1, 0]);
        assert_eq!(header(0x30, 0x1_0000), vec![0x30, 0x83, 1, 0, 0]);
        assert_eq!(len_size(0x1_0000), 4);
        assert_eq!(uint_content(&[0, 0, 0x80]), vec![0, 0x80]);
        assert_eq!(uint_content(&[0, 0x7f]), vec![0x7f]);
        assert_eq!(uint_content(&[]), vec![0]);
    }

    #[test]
    fn times_switch_to_generalized_in_2050() {
        let mut v = Vec::new();
        push_x509_time(
            &mut v,
            &time::macros::datetime!(2049-12-31 23:59:59 UTC),
            "t",
        )
        .expect("t");
        assert_eq!(&v[..2], &[UTC_TIME, 13]);
        assert_eq!(&v[2..], b"491231235959Z");
        v.clear();
        push_x509_time(
            &mut v,
            &time::macros::datetime!(2050-01-01 00:00:00 UTC),
            "t",
        )
        .expect("t");
        assert_eq!(&v[2..], b"20500101000000Z");
    }
}
