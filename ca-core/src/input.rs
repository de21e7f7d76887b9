//! Reading input files: PEM (one or several blocks) or DER, with size limits.

use std::path::Path;

use crate::error::{Error, Result};

/// Largest input file read (certificates, CSRs, CRL inputs): 16 MiB.
pub const MAX_INPUT_FILE: usize = 16 << 20;

/// Reads `path` whole, refusing files over `limit` bytes.
pub fn read_limited(path: &Path, limit: usize) -> Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut data = Vec::new();
    f.take(limit as u64 + 1)
        .read_to_end(&mut data)
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if data.len() > limit {
        return Err(Error::TooLarge {
            what: path.display().to_string(),
            size: data.len(),
            limit,
        });
    }
    Ok(data)
}

/// Splits `data` into DER blobs: every PEM block with one of `labels` (in order), or, if `data`
/// is not PEM, `data` itself as DER. `what` names the input in errors.
pub fn der_blocks(data: &[u8], labels: &[&str], what: &str) -> Result<Vec<Vec<u8>>> {
    let text = match std::str::from_utf8(data) {
        Ok(t) if t.contains("-----BEGIN ") => t,
        _ => {
            if data.first() != Some(&0x30) {
                return Err(Error::malformed(
                    what,
                    "neither PEM nor DER (a DER SEQUENCE)",
                ));
            }
            return Ok(vec![data.to_vec()]);
        }
    };
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let block = &rest[start..];
        let label_end = block[11..]
            .find("-----")
            .ok_or_else(|| Error::malformed(what, "unterminated PEM header"))?;
        let label = &block[11..11 + label_end];
        let end_marker = format!("-----END {label}-----");
        let end = block
            .find(&end_marker)
            .ok_or_else(|| Error::malformed(what, format!("no {end_marker} line")))?;
        let pem_text = &block[..end + end_marker.len()];
        rest = &block[end + end_marker.len()..];
        if !labels.contains(&label) {
            continue;
        }
        let (_, der) = der::pem::decode_vec(pem_text.as_bytes())
            .map_err(|e| Error::malformed(what, format!("PEM block {label}: {e}")))?;
        out.push(der);
    }
    if out.is_empty() {
        return Err(Error::malformed(
            what,
            format!("no PEM block labelled {}", labels.join(" or ")),
        ));
    }
    Ok(out)
}

/// Encodes DER as PEM with the given label (RFC 7468 §2: 64-character base64 lines, LF line
/// endings). For public objects only (certificates, CRLs): the base64 here is the fast,
/// table-driven kind, not constant-time — a 100,000-entry CRL is 6.6 MB of PEM.
pub fn to_pem(label: &str, der_bytes: &[u8]) -> String {
    use base64::Engine as _;
    const LINE: usize = 48; // octets per 64-character line
    let lines = der_bytes.len().div_ceil(LINE);
    let mut out = String::with_capacity(2 * label.len() + 32 + lines * 65);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for chunk in der_bytes.chunks(LINE) {
        base64::engine::general_purpose::STANDARD.encode_string(chunk, &mut out);
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_is_what_the_der_crate_writes() {
        // Every length modulo a line (48 octets) and a few lines, against the RFC 7468 encoder.
        for n in (1..200).chain([4095, 4096, 100_000]) {
            let der: Vec<u8> = (0..n).map(|i| (i * 7 + n) as u8).collect();
            let expected =
                der::pem::encode_string("X509 CRL", der::pem::LineEnding::LF, &der).expect("pem");
            assert_eq!(to_pem("X509 CRL", &der), expected, "{n} octets");
        }
    }

    #[test]
    fn pem_blocks_and_der_pass_through() {
        let pem = format!(
            "{}junk\n{}",
            to_pem("CERTIFICATE", &[0x30, 0]),
            to_pem("X509 CRL", &[0x30, 1, 5])
        );
        assert_eq!(
            der_blocks(pem.as_bytes(), &["CERTIFICATE"], "t").expect("pem"),
            vec![vec![0x30, 0]]
        );
        assert_eq!(
            der_blocks(&[0x30, 0], &["CERTIFICATE"], "t").expect("der"),
            vec![vec![0x30, 0]]
        );
        assert!(der_blocks(b"hello", &["CERTIFICATE"], "t").is_err());
        assert!(der_blocks(b"-----BEGIN CERTIFICATE-----\nAAA", &["CERTIFICATE"], "t").is_err());
        assert!(
            der_blocks(
                b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
                &["CERTIFICATE"],
                "t"
            )
            .is_err()
        );
    }
}
