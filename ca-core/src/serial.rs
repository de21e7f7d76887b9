//! Serial numbers: 16 octets, positive, unique per CA by the store's primary key and never
//! reused. Each is the issuance time in milliseconds (6 octets) followed by 80 bits of CSPRNG
//! output (10 octets): CA/B BR §7.1 asks for at least 64 unpredictable bits, and the time prefix
//! makes new serials sort after the old ones, so the store's serial index grows at its end
//! instead of at a random leaf per certificate (which made issuance slow down as the store
//! grew: 0.66 of the empty-store rate at 1,000,000 certificates).

use crate::error::{Error, Result};

/// Length of a generated serial in octets (RFC 5280 §4.1.2.2 allows up to 20).
pub const SERIAL_LEN: usize = 16;

/// Octets of the time prefix (Unix milliseconds, big-endian: below 2^47 until the year 6429,
/// so the first octet stays in 0x01..=0x7f).
const TIME_LEN: usize = 6;

/// A fresh serial: the current Unix time in milliseconds (6 octets, big-endian) and 10 random
/// octets. Its first octet is in 0x01..=0x7f, so the INTEGER is positive and its DER encoding
/// has no leading zero octet (RFC 5280 §4.1.2.2).
pub fn random_serial() -> Result<[u8; SERIAL_LEN]> {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| Error::key("system clock", e))?
        .as_millis();
    serial_at(millis)
}

/// The serial [`random_serial`] makes at Unix time `millis`.
fn serial_at(millis: u128) -> Result<[u8; SERIAL_LEN]> {
    let mut s = [0u8; SERIAL_LEN];
    let time = millis.to_be_bytes();
    s[..TIME_LEN].copy_from_slice(&time[time.len() - TIME_LEN..]);
    if millis >> (8 * TIME_LEN - 1) != 0 || s[0] == 0 {
        return Err(Error::key(
            "system clock",
            format!("{millis} ms since 1970 is outside the serial number's time prefix"),
        ));
    }
    getrandom::fill(&mut s[TIME_LEN..]).map_err(|e| Error::key("system RNG", e))?;
    Ok(s)
}

/// Lower-case hex, the form serials take in the store, the CLI and JSON.
pub fn serial_hex(serial: &[u8]) -> String {
    hex::encode(serial)
}

/// Parses a serial given on the command line (hex, optional `0x`, `:` separators allowed).
pub fn parse_serial_hex(s: &str) -> Result<Vec<u8>> {
    let cleaned: String = s
        .trim()
        .trim_start_matches("0x")
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    let padded = if cleaned.len() % 2 == 1 {
        format!("0{cleaned}")
    } else {
        cleaned
    };
    let mut bytes = hex::decode(&padded).map_err(|_| Error::InvalidArgument {
        name: "--serial",
        value: s.to_string(),
        reason: "not a hex serial number".into(),
    })?;
    // Normalise to the minimal positive form.
    while bytes.len() > 1 && bytes[0] == 0 && bytes[1] & 0x80 == 0 {
        bytes.remove(0);
    }
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        bytes.insert(0, 0);
    }
    if bytes.is_empty() || bytes.len() > 21 {
        return Err(Error::InvalidArgument {
            name: "--serial",
            value: s.to_string(),
            reason: "serial numbers have 1 to 20 octets".into(),
        });
    }
    Ok(bytes)
}

/// A certificate serial number as the store, the CLI and JSON carry it: the lower-case hex of
/// the DER INTEGER's content octets (RFC 5280 §4.1.2.2: positive, at most 20 octets, so at
/// most 21 content octets with a leading zero). Parsed from hex as typed ([`Serial::from_str`]:
/// optional `0x`, `:` separators, any case); displayed and serialised as that lower-case hex,
/// the same text the store's columns hold.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(String);

impl Serial {
    /// From a DER INTEGER's content octets (e.g. `serialNumber.as_bytes()`), as stored.
    pub fn from_der_content(bytes: &[u8]) -> Serial {
        Serial(hex::encode(bytes))
    }

    /// From a serial's big-endian magnitude (e.g. [`random_serial`]): minimal, positive form.
    pub fn from_magnitude(bytes: &[u8]) -> Serial {
        let start = bytes
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(bytes.len().saturating_sub(1));
        let m = &bytes[start..];
        if m.first().is_some_and(|b| b & 0x80 != 0) {
            Serial(format!("00{}", hex::encode(m)))
        } else {
            Serial(hex::encode(m))
        }
    }

    /// A serial read back from the store: lower-case hex of an even, non-zero length. Anything
    /// else is a clear error (a damaged or foreign row), never a panic.
    pub fn from_stored(text: String) -> Result<Serial> {
        let ok = !text.is_empty()
            && text.len().is_multiple_of(2)
            && text.len() <= 42
            && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if ok {
            Ok(Serial(text))
        } else {
            Err(Error::malformed(
                "stored serial",
                format!("{text:?} is not lower-case hex of 1 to 21 octets"),
            ))
        }
    }

    /// The lower-case hex text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The DER INTEGER content octets.
    pub fn to_bytes(&self) -> Vec<u8> {
        // The invariant (even-length lower-case hex) makes this infallible.
        hex::decode(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Display for Serial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Serial {
    type Err = Error;
    /// Hex as typed ([`parse_serial_hex`]); refuses anything else with [`Error::InvalidArgument`].
    fn from_str(s: &str) -> Result<Serial> {
        parse_serial_hex(s).map(|b| Serial(hex::encode(b)))
    }
}

impl AsRef<str> for Serial {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Serial {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl serde::Serialize for Serial {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Serial {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Serial, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_positive_minimal_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let s = random_serial().expect("rng");
            assert!(s[0] >= 1 && s[0] <= 0x7f);
            assert!(seen.insert(s), "duplicate serial");
        }
        // Serials made later sort after earlier ones (the index grows at its end), and the
        // random part differs even within one millisecond.
        let (a, b) = (
            serial_at(1_700_000_000_000).expect("a"),
            serial_at(1_700_000_000_001).expect("b"),
        );
        assert!(a < b);
        let (c, d) = (
            serial_at(1_800_000_000_000).expect("c"),
            serial_at(1_800_000_000_000).expect("d"),
        );
        assert_eq!(c[..6], d[..6]);
        assert_ne!(c[6..], d[6..], "80 random bits");
        // Clocks before 1970 + 2^40 ms (~2004) or past 2^47 ms cannot make a positive, minimal serial.
        assert!(serial_at(1_000).is_err());
        assert!(serial_at(1 << 47).is_err());
        assert_eq!(parse_serial_hex("0x0A:bc").expect("hex"), vec![0x0a, 0xbc]);
        assert_eq!(parse_serial_hex("00ff").expect("hex"), vec![0x00, 0xff]);
        assert_eq!(parse_serial_hex("ff").expect("hex"), vec![0x00, 0xff]);
        assert!(parse_serial_hex("xyz").is_err());
    }

    #[test]
    fn serial_text_round_trips_and_bad_text_is_refused() {
        let s: Serial = "0x0A:BC".parse().expect("hex");
        assert_eq!(s.to_string(), "0abc");
        assert_eq!(s.to_bytes(), [0x0a, 0xbc]);
        assert_eq!("ff".parse::<Serial>().expect("ff").as_str(), "00ff");
        assert_eq!(Serial::from_magnitude(&[0, 0, 0x80]).as_str(), "0080");
        assert_eq!(Serial::from_magnitude(&[0, 0x12]).as_str(), "12");
        assert_eq!(Serial::from_der_content(&[0x00, 0x9a]).as_str(), "009a");
        let json = serde_json::to_string(&s).expect("json");
        assert_eq!(json, "\"0abc\"");
        assert_eq!(serde_json::from_str::<Serial>(&json).expect("back"), s);
        for bad in ["", "xyz", "0x", &"ab".repeat(22)] {
            assert!(bad.parse::<Serial>().is_err(), "{bad:?}");
        }
        assert!(serde_json::from_str::<Serial>("\"zz\"").is_err());
        for bad in ["", "abc", "AB", "0g", &"ab".repeat(22)] {
            assert!(Serial::from_stored(bad.to_string()).is_err(), "{bad:?}");
        }
        assert_eq!(
            Serial::from_stored("00ff".into()).expect("ok").as_str(),
            "00ff"
        );
    }
}
