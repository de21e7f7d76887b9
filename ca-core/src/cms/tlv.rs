//! A strict DER tag-length-value reader for the CMS and TSP parsers (X.690 §8.1, §10.1).
//!
//! It keeps the raw bytes of every element, which CMS needs: the signature covers the DER of
//! the signed attributes as received (RFC 5652 §5.4), and certificates are hashed as received
//! (RFC 5035 §5.4). Only low tag numbers (< 31) and definite, minimal lengths are accepted;
//! BER's indefinite length is refused with a clear reason. Nothing here panics on input.

use crate::error::{Error, Result};

/// Tag octets used by CMS and TSP (X.680 §8.4 universal tags, X.690 §8.1.2 class bits).
pub(crate) mod tag {
    pub const BOOLEAN: u8 = 0x01;
    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OCTET_STRING: u8 = 0x04;
    pub const OID: u8 = 0x06;
    pub const ENUMERATED: u8 = 0x0a;
    pub const UTF8_STRING: u8 = 0x0c;
    pub const UTC_TIME: u8 = 0x17;
    pub const GENERALIZED_TIME: u8 = 0x18;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;
    /// `[n]` constructed context-specific.
    pub const fn ctx(n: u8) -> u8 {
        0xa0 | n
    }
    /// `[n]` primitive context-specific.
    pub const fn ctx_prim(n: u8) -> u8 {
        0x80 | n
    }
}

/// One element: its identifier octet, its content octets, and the whole encoding.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tlv<'a> {
    /// The identifier octet.
    pub tag: u8,
    /// The content octets.
    pub value: &'a [u8],
    /// Identifier, length and content octets.
    pub raw: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// A reader over the contents of this (constructed) element.
    pub fn reader(&self, what: &'static str) -> Reader<'a> {
        Reader::new(self.value, what)
    }
}

/// Reads consecutive elements from a byte slice.
#[derive(Clone, Debug)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `data`; `what` names the structure in errors.
    pub fn new(data: &'a [u8], what: &'static str) -> Reader<'a> {
        Reader { data, what }
    }

    fn err(&self, detail: impl Into<String>) -> Error {
        Error::malformed(self.what, detail.into())
    }

    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The identifier octet of the next element, if any.
    pub fn peek_tag(&self) -> Option<u8> {
        self.data.first().copied()
    }

    /// Reads the next element.
    pub fn read(&mut self) -> Result<Tlv<'a>> {
        let d = self.data;
        let Some(&t) = d.first() else {
            return Err(self.err("unexpected end of data"));
        };
        if t & 0x1f == 0x1f {
            return Err(self.err(format!("high tag number form (0x{t:02x}) is not used here")));
        }
        let Some(&l0) = d.get(1) else {
            return Err(self.err("missing length"));
        };
        let (len, hlen) = if l0 < 0x80 {
            (l0 as usize, 2)
        } else if l0 == 0x80 {
            return Err(self.err("indefinite length (BER) is not supported; DER is required"));
        } else {
            let n = (l0 & 0x7f) as usize;
            if n > 4 {
                return Err(self.err("length over 4 octets"));
            }
            let bytes = d
                .get(2..2 + n)
                .ok_or_else(|| self.err("truncated length"))?;
            if bytes[0] == 0 {
                return Err(self.err("non-minimal length (X.690 §10.1)"));
            }
            let len = bytes.iter().fold(0usize, |a, &b| (a << 8) | b as usize);
            if len < 0x80 {
                return Err(self.err("non-minimal length (X.690 §10.1)"));
            }
            (len, 2 + n)
        };
        let end = hlen
            .checked_add(len)
            .filter(|&e| e <= d.len())
            .ok_or_else(|| {
                self.err(format!(
                    "element of {len} bytes overruns the {} bytes left",
                    d.len().saturating_sub(hlen)
                ))
            })?;
        self.data = &d[end..];
        Ok(Tlv {
            tag: t,
            value: &d[hlen..end],
            raw: &d[..end],
        })
    }

    /// Reads the next element, which must have tag `t`.
    pub fn expect(&mut self, t: u8, field: &str) -> Result<Tlv<'a>> {
        match self.peek_tag() {
            Some(x) if x == t => self.read(),
            Some(x) => Err(self.err(format!("{field}: expected tag 0x{t:02x}, found 0x{x:02x}"))),
            None => Err(self.err(format!("{field} missing"))),
        }
    }

    /// Reads the next element if it has tag `t`.
    pub fn optional(&mut self, t: u8) -> Result<Option<Tlv<'a>>> {
        if self.peek_tag() == Some(t) {
            self.read().map(Some)
        } else {
            Ok(None)
        }
    }

    /// Fails unless everything was read.
    pub fn finish(&self) -> Result<()> {
        if self.data.is_empty() {
            Ok(())
        } else {
            Err(self.err(format!("{} unexpected trailing bytes", self.data.len())))
        }
    }

    /// Reads every remaining element.
    pub fn all(mut self) -> Result<Vec<Tlv<'a>>> {
        let mut v = Vec::new();
        while !self.is_empty() {
            v.push(self.read()?);
        }
        Ok(v)
    }
}

/// Reads exactly one element from `data` (nothing may follow).
pub(crate) fn single<'a>(data: &'a [u8], what: &'static str) -> Result<Tlv<'a>> {
    let mut r = Reader::new(data, what);
    let t = r.read()?;
    r.finish()?;
    Ok(t)
}

/// An OBJECT IDENTIFIER from its element.
pub(crate) fn oid(t: &Tlv<'_>, what: &'static str) -> Result<const_oid::ObjectIdentifier> {
    if t.tag != tag::OID {
        return Err(Error::malformed(what, "expected an OBJECT IDENTIFIER"));
    }
    const_oid::ObjectIdentifier::from_bytes(t.value)
        .map_err(|e| Error::malformed(what, format!("bad OBJECT IDENTIFIER: {e}")))
}

/// A small non-negative INTEGER (versions, status codes).
pub(crate) fn small_uint(t: &Tlv<'_>, what: &'static str) -> Result<u64> {
    if t.tag != tag::INTEGER && t.tag != tag::ENUMERATED {
        return Err(Error::malformed(what, "expected an INTEGER"));
    }
    let v = t.value;
    if v.is_empty() || v[0] & 0x80 != 0 {
        return Err(Error::malformed(what, "empty or negative INTEGER"));
    }
    if v.len() > 1 && v[0] == 0 && v[1] & 0x80 == 0 {
        return Err(Error::malformed(what, "non-minimal INTEGER (X.690 §8.3.2)"));
    }
    let v = if v[0] == 0 { &v[1..] } else { v };
    if v.len() > 8 {
        return Err(Error::malformed(what, "INTEGER too large"));
    }
    Ok(v.iter().fold(0u64, |a, &b| (a << 8) | b as u64))
}

/// The magnitude octets of a non-negative INTEGER (serial numbers, nonces), checked minimal.
pub(crate) fn uint_bytes<'a>(t: &Tlv<'a>, what: &'static str) -> Result<&'a [u8]> {
    if t.tag != tag::INTEGER {
        return Err(Error::malformed(what, "expected an INTEGER"));
    }
    let v = t.value;
    if v.is_empty() {
        return Err(Error::malformed(what, "empty INTEGER"));
    }
    if v.len() > 1 && ((v[0] == 0 && v[1] & 0x80 == 0) || (v[0] == 0xff && v[1] & 0x80 != 0)) {
        return Err(Error::malformed(what, "non-minimal INTEGER (X.690 §8.3.2)"));
    }
    Ok(v)
}

/// A UTCTime or GeneralizedTime as seconds since the Unix epoch (RFC 5280 §4.1.2.5 forms;
/// GeneralizedTime may carry fractional seconds, as RFC 3161 §2.4.2 allows, which are dropped).
pub(crate) fn time(t: &Tlv<'_>, what: &'static str) -> Result<i64> {
    let bad = |d: &str| Error::malformed(what, format!("bad time: {d}"));
    let s = std::str::from_utf8(t.value)
        .ok()
        .filter(|s| s.is_ascii())
        .ok_or_else(|| bad("not ASCII"))?;
    let digits = |x: &str| -> Result<i64> {
        if x.is_empty() || !x.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("expected digits"));
        }
        x.parse::<i64>().map_err(|_| bad("number"))
    };
    let (year, rest) = match t.tag {
        tag::UTC_TIME => {
            if s.len() != 13 || !s.ends_with('Z') {
                return Err(bad("UTCTime must be YYMMDDHHMMSSZ"));
            }
            let yy = digits(&s[0..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &s[2..12])
        }
        tag::GENERALIZED_TIME => {
            if s.len() < 15 || !s.ends_with('Z') {
                return Err(bad("GeneralizedTime must be YYYYMMDDHHMMSS[.f]Z"));
            }
            let body = &s[..s.len() - 1];
            if body.len() > 14 {
                let frac = &body[14..];
                if !frac.starts_with('.')
                    || frac.len() < 2
                    || !frac[1..].bytes().all(|b| b.is_ascii_digit())
                    || frac.ends_with('0')
                {
                    return Err(bad("fraction must be .digits without trailing zero"));
                }
            }
            (digits(&s[0..4])?, &s[4..14])
        }
        _ => return Err(bad("not a UTCTime or GeneralizedTime")),
    };
    let month = u8::try_from(digits(&rest[0..2])?).map_err(|_| bad("month"))?;
    let month = time::Month::try_from(month).map_err(|_| bad("month"))?;
    let day = u8::try_from(digits(&rest[2..4])?).map_err(|_| bad("day"))?;
    let date =
        time::Date::from_calendar_date(i32::try_from(year).map_err(|_| bad("year"))?, month, day)
            .map_err(|_| bad("date"))?;
    let hms = |i: usize| -> Result<u8> {
        u8::try_from(digits(&rest[i..i + 2])?).map_err(|_| bad("time of day"))
    };
    let tod = time::Time::from_hms(hms(4)?, hms(6)?, hms(8)?).map_err(|_| bad("time of day"))?;
    Ok(time::PrimitiveDateTime::new(date, tod)
        .assume_utc()
        .unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_must_be_definite_and_minimal() {
        assert!(single(&[0x30, 0x00], "t").is_ok());
        assert!(single(&[0x30, 0x80, 0, 0], "t").is_err());
        assert!(single(&[0x30, 0x81, 0x05, 0, 0, 0, 0, 0], "t").is_err());
        assert!(single(&[0x30, 0x82, 0x00, 0x81], "t").is_err());
        assert!(single(&[0x30, 0x05, 0], "t").is_err());
        assert!(single(&[0x30, 0x00, 0x00], "t").is_err());
        assert!(single(&[0x3f, 0x00], "t").is_err());
        assert!(single(&[], "t").is_err());
    }

    #[test]
    fn times_decode() {
        let t = single(b"\x17\x0d491231235959Z", "t").expect("utc");
        assert_eq!(time(&t, "t").expect("t"), 2_524_607_999);
        let g = single(b"\x18\x1220500101000000.25Z", "t").expect("gen");
        assert_eq!(time(&g, "t").expect("t"), 2_524_608_000);
        let bad = single(b"\x18\x1220500101000000.20Z", "t").expect("gen");
        assert!(time(&bad, "t").is_err());
        let bad = single(b"\x17\x0d491331235959Z", "t").expect("utc");
        assert!(time(&bad, "t").is_err());
        // Multi-byte characters of the right byte length are refused, not sliced.
        let bad = single("\x17\x0d491231235é9Z".as_bytes(), "t").expect("utc");
        assert!(time(&bad, "t").is_err());
    }
}
