//! Object identifiers of any X.660 shape, kept as their DER content octets (X.690 §8.19).
//!
//! `const_oid::ObjectIdentifier` packs the first two arcs into one octet, so it refuses OIDs
//! under arc 2 whose second arc exceeds 39 (e.g. `2.999.1.1.1`, whose first subidentifier is
//! 1079, two octets). X.660 §A.3 and X.690 §8.19.4 allow them, and OpenSSL and the JDK read
//! them. Where lgpki only needs to compare or print an OID taken from a certificate (policy
//! identifiers, RFC 5280 §4.2.1.4 and §6.1), it keeps the bytes: two OIDs are equal exactly
//! when their DER encodings are (X.690 §8.19 encodings are unique).

use std::fmt;
use std::str::FromStr;

use const_oid::ObjectIdentifier;
use der::{Decode, Tagged};

use crate::error::{Error, Result};

/// An object identifier as DER content octets (no tag, no length), validated: non-empty, every
/// subidentifier minimally encoded, the last octet ending a subidentifier.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Oid(Vec<u8>);

impl Oid {
    /// Validates DER content octets of an OBJECT IDENTIFIER (X.690 §8.19.2: base-128
    /// subidentifiers, bit 8 set on all octets but the last, no leading 0x80 octet).
    pub fn from_content(bytes: &[u8]) -> Result<Oid> {
        let bad = |d: &str| Error::malformed("OID", d);
        if bytes.is_empty() {
            return Err(bad("empty OBJECT IDENTIFIER"));
        }
        let mut start = true;
        for &b in bytes {
            if start && b == 0x80 {
                return Err(bad("subidentifier with a leading 0x80 octet (not minimal)"));
            }
            start = b & 0x80 == 0;
        }
        if !start {
            return Err(bad("last subidentifier is truncated"));
        }
        Ok(Oid(bytes.to_vec()))
    }

    /// Decodes a complete DER OBJECT IDENTIFIER (tag 0x06, definite short or long length).
    pub fn from_der(tlv: &[u8]) -> Result<Oid> {
        let any = der::asn1::AnyRef::from_der(tlv).map_err(|e| Error::malformed("OID", e))?;
        if any.tag() != der::Tag::ObjectIdentifier {
            return Err(Error::malformed(
                "OID",
                format!("expected OBJECT IDENTIFIER, found {}", any.tag()),
            ));
        }
        Oid::from_content(any.value())
    }

    /// The DER content octets.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The complete DER encoding (tag, length, content).
    pub fn to_der(&self) -> Vec<u8> {
        crate::derw::tlv(0x06, &self.0)
    }

    /// The `const_oid` form, when it can represent this OID (second arc at most 39 and every
    /// arc within 32 bits).
    pub fn to_const_oid(&self) -> Option<ObjectIdentifier> {
        ObjectIdentifier::from_bytes(&self.0).ok()
    }

    /// The subidentifiers as big-endian base-128 digit groups.
    fn subidentifiers(&self) -> impl Iterator<Item = &[u8]> {
        self.0.split_inclusive(|b| b & 0x80 == 0)
    }
}

impl From<ObjectIdentifier> for Oid {
    fn from(o: ObjectIdentifier) -> Oid {
        Oid(o.as_bytes().to_vec())
    }
}

impl From<&ObjectIdentifier> for Oid {
    fn from(o: &ObjectIdentifier) -> Oid {
        Oid(o.as_bytes().to_vec())
    }
}

impl PartialEq<ObjectIdentifier> for Oid {
    fn eq(&self, other: &ObjectIdentifier) -> bool {
        self.0 == other.as_bytes()
    }
}

impl FromStr for Oid {
    type Err = Error;

    /// Parses dotted decimal (`2.999.1.1.1`): first arc 0, 1 or 2, second arc below 40 under 0
    /// and 1 and unbounded under 2 (X.660 §A.3), any number of further arcs of any size.
    fn from_str(s: &str) -> Result<Oid> {
        let bad = |d: String| Error::malformed("OID", format!("{s:?}: {d}"));
        let arcs: Vec<&str> = s.trim().split('.').collect();
        if arcs.len() < 2 {
            return Err(bad("at least two arcs are needed".into()));
        }
        for a in &arcs {
            if a.is_empty() || !a.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(format!("arc {a:?} is not a decimal number")));
            }
            if a.len() > 1 && a.starts_with('0') {
                return Err(bad(format!("arc {a:?} has a leading zero")));
            }
        }
        let first = match arcs[0] {
            "0" => 0u8,
            "1" => 1,
            "2" => 2,
            other => return Err(bad(format!("first arc {other} is not 0, 1 or 2"))),
        };
        let second = decimal_digits(arcs[1]);
        if first < 2 && (arcs[1].len() > 2 || arcs[1].parse::<u8>().map_or(true, |v| v > 39)) {
            return Err(bad(format!(
                "second arc {} must be below 40 under arc {first}",
                arcs[1]
            )));
        }
        // X.690 §8.19.4: the first subidentifier is first * 40 + second.
        let mut out = Vec::new();
        push_base128(&mut out, add_small(second, 40 * u32::from(first)));
        for a in &arcs[2..] {
            push_base128(&mut out, decimal_digits(a));
        }
        Ok(Oid(out))
    }
}

impl fmt::Display for Oid {
    /// Dotted decimal; arcs of any size.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, sub) in self.subidentifiers().enumerate() {
            let mut n: Vec<u32> = vec![0];
            for b in sub {
                n = add_small(mul_small(n, 128), u32::from(b & 0x7f));
            }
            if i == 0 {
                // X.690 §8.19.4: below 80, first * 40 + second with first 0 or 1; else 2.
                let small = n.len() == 1 && n[0] < 80;
                let (first, second) = if small {
                    (n[0] / 40, vec![n[0] % 40])
                } else {
                    (2, sub_small(n, 80))
                };
                write!(f, "{first}.{}", to_decimal(&second))?;
            } else {
                write!(f, ".{}", to_decimal(&n))?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oid({self})")
    }
}

// Arbitrary-size arcs: little-endian base-2^32 limbs, enough for UUID arcs (2.25.x).

fn decimal_digits(s: &str) -> Vec<u32> {
    let mut n = vec![0];
    for d in s.bytes() {
        n = add_small(mul_small(n, 10), u32::from(d - b'0'));
    }
    n
}

fn mul_small(mut n: Vec<u32>, m: u32) -> Vec<u32> {
    let mut carry = 0u64;
    for limb in n.iter_mut() {
        let v = u64::from(*limb) * u64::from(m) + carry;
        *limb = v as u32;
        carry = v >> 32;
    }
    if carry > 0 {
        n.push(carry as u32);
    }
    n
}

fn add_small(mut n: Vec<u32>, a: u32) -> Vec<u32> {
    let mut carry = u64::from(a);
    for limb in n.iter_mut() {
        if carry == 0 {
            break;
        }
        let v = u64::from(*limb) + carry;
        *limb = v as u32;
        carry = v >> 32;
    }
    if carry > 0 {
        n.push(carry as u32);
    }
    n
}

/// `n - a`, for `n >= a`.
fn sub_small(mut n: Vec<u32>, a: u32) -> Vec<u32> {
    let mut borrow = u64::from(a);
    for limb in n.iter_mut() {
        if borrow == 0 {
            break;
        }
        let v = u64::from(*limb);
        if v >= borrow {
            *limb = (v - borrow) as u32;
            borrow = 0;
        } else {
            *limb = ((1u64 << 32) + v - borrow) as u32;
            borrow = 1;
        }
    }
    trim(n)
}

/// Divides by `d`, returning (quotient, remainder).
fn div_small(n: &[u32], d: u32) -> (Vec<u32>, u32) {
    let mut q = vec![0u32; n.len()];
    let mut rem = 0u64;
    for i in (0..n.len()).rev() {
        let cur = (rem << 32) | u64::from(n[i]);
        q[i] = (cur / u64::from(d)) as u32;
        rem = cur % u64::from(d);
    }
    (trim(q), rem as u32)
}

fn trim(mut n: Vec<u32>) -> Vec<u32> {
    while n.len() > 1 && n.last() == Some(&0) {
        n.pop();
    }
    n
}

fn is_zero(n: &[u32]) -> bool {
    n.iter().all(|l| *l == 0)
}

fn to_decimal(n: &[u32]) -> String {
    if is_zero(n) {
        return "0".into();
    }
    let mut digits = Vec::new();
    let mut cur = n.to_vec();
    while !is_zero(&cur) {
        let (q, r) = div_small(&cur, 10);
        digits.push(b'0' + r as u8);
        cur = q;
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

/// Appends `n` as a minimal base-128 subidentifier (X.690 §8.19.2).
fn push_base128(out: &mut Vec<u8>, n: Vec<u32>) {
    let mut groups = Vec::new();
    let mut cur = trim(n);
    loop {
        let (q, r) = div_small(&cur, 128);
        groups.push(r as u8);
        cur = q;
        if is_zero(&cur) {
            break;
        }
    }
    for (i, g) in groups.iter().enumerate().rev() {
        out.push(if i == 0 { *g } else { g | 0x80 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(s: &str) -> Oid {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn second_arc_above_39_under_arc_2() {
        let o = oid("2.999.1.1.1");
        // X.690 §8.19.5 example: 2.999.3 is 06 03 88 37 03.
        assert_eq!(o.as_bytes(), [0x88, 0x37, 1, 1, 1]);
        assert_eq!(o.to_string(), "2.999.1.1.1");
        assert_eq!(oid("2.999.3").to_der(), [0x06, 0x03, 0x88, 0x37, 0x03]);
        assert!(o.to_const_oid().is_none(), "const_oid cannot hold it");
        assert_eq!(Oid::from_der(&o.to_der()).expect("round trip"), o);
    }

    #[test]
    fn agrees_with_const_oid_where_both_work() {
        for s in [
            "0.0",
            "1.2.840.113549.1.1.11",
            "2.5.29.32.0",
            "2.39.1",
            "1.2.392.200091.100.721.1",
            "2.16.840.1.101.3.2.1.48.1",
            "1.3.6.1.4.1.4294967295",
        ] {
            let c = ObjectIdentifier::new(s).expect(s);
            let o = oid(s);
            assert_eq!(o, c, "{s}");
            assert_eq!(Oid::from(c), o);
            assert_eq!(o.to_string(), s);
            assert_eq!(o.to_const_oid(), Some(c));
        }
    }

    #[test]
    fn big_arcs_round_trip() {
        // A UUID arc (ITU-T X.667): 128 bits.
        let s = "2.25.329800735698586629295641978511506172918";
        assert_eq!(oid(s).to_string(), s);
        assert_eq!(oid("2.40").to_string(), "2.40");
        assert_eq!(oid("2.47").as_bytes(), [127]);
        assert_eq!(oid("2.48").as_bytes(), [0x81, 0x00]);
    }

    #[test]
    fn refuses_what_x660_refuses() {
        for bad in [
            "", "1", "3.1", "1.40", "0.100", "1.2.", "1..2", "1.02", "1.2.x", "-1.2",
        ] {
            assert!(bad.parse::<Oid>().is_err(), "{bad:?}");
        }
        assert!(Oid::from_content(&[]).is_err());
        assert!(
            Oid::from_content(&[0x2a, 0x80, 0x01]).is_err(),
            "not minimal"
        );
        assert!(Oid::from_content(&[0x2a, 0x86]).is_err(), "truncated");
        assert!(
            Oid::from_der(&[0x04, 0x01, 0x2a]).is_err(),
            "not an OID tag"
        );
    }
}
