//! Serial numbers: 16 octets, positive, at least 64 random bits (CA/B BR §7.1 asks for 64 bits of
//! CSPRNG output; we use 127), unique per CA by the store's primary key and never reused.

use crate::error::{Error, Result};

/// Length of a generated serial in octets (RFC 5280 §4.1.2.2 allows up to 20).
pub const SERIAL_LEN: usize = 16;

/// A fresh random serial: 16 bytes, first byte in 0x01..=0x7f so the INTEGER is positive and
/// its DER encoding has no leading zero octet.
pub fn random_serial() -> Result<[u8; SERIAL_LEN]> {
    let mut s = [0u8; SERIAL_LEN];
    getrandom::fill(&mut s).map_err(|e| Error::key("system RNG", e))?;
    s[0] &= 0x7f;
    if s[0] == 0 {
        s[0] = 0x01;
    }
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
        assert_eq!(parse_serial_hex("0x0A:bc").expect("hex"), vec![0x0a, 0xbc]);
        assert_eq!(parse_serial_hex("00ff").expect("hex"), vec![0x00, 0xff]);
        assert_eq!(parse_serial_hex("ff").expect("hex"), vec![0x00, 0xff]);
        assert!(parse_serial_hex("xyz").is_err());
    }
}
