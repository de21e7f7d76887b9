//! Fetching revocation data over HTTP for relying parties: CRLs from cRLDistributionPoints
//! (RFC 5280 §4.2.1.13) and OCSP answers from authorityInfoAccess (RFC 6960 appendix A.1).
//! Only `http://` URLs are fetched (RFC 5280 §4.2.1.13 and RFC 6960 serve them over plain
//! HTTP; the data is signed), each with a size and a time limit, so a hostile or slow server
//! cannot exhaust memory or hold a validation.

use std::time::Duration;

use crate::error::{Error, Result};

/// Largest CRL fetched: 32 MiB. LGPKI's largest CRLs list a few hundred thousand entries
/// (~40 octets each, ~10 MiB); beyond this a fetch is refused rather than buffered.
pub const MAX_FETCHED_CRL: usize = 32 << 20;
/// Largest OCSP response fetched: 64 KiB (a response with a responder certificate is ~2 KiB;
/// RFC 6960 puts no bound, 64 KiB is the bound this crate puts on requests too).
pub const MAX_FETCHED_OCSP: usize = 64 << 10;
/// Longest a fetch may take, connecting and reading included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a URL taken from a certificate may be.
const MAX_URL_LEN: usize = 2048;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(FETCH_TIMEOUT))
        .max_redirects(0)
        .http_status_as_error(true)
        .build()
        .new_agent()
}

fn check_url(url: &str) -> Result<()> {
    if url.len() > MAX_URL_LEN || !url.starts_with("http://") {
        return Err(fetch_error(url, "only http:// URLs are fetched"));
    }
    Ok(())
}

fn fetch_error(url: &str, detail: impl ToString) -> Error {
    Error::Fetch {
        url: url.chars().take(200).collect(),
        detail: detail.to_string(),
    }
}

/// GETs `url` (http only), reading at most `limit` octets within [`FETCH_TIMEOUT`].
pub fn http_get(url: &str, limit: usize) -> Result<Vec<u8>> {
    check_url(url)?;
    agent()
        .get(url)
        .call()
        .map_err(|e| fetch_error(url, e))?
        .body_mut()
        .with_config()
        .limit(limit as u64)
        .read_to_vec()
        .map_err(|e| fetch_error(url, e))
}

/// POSTs `body` as `content_type` to `url` (http only), reading at most `limit` octets of
/// the answer within [`FETCH_TIMEOUT`].
pub fn http_post(url: &str, content_type: &str, body: &[u8], limit: usize) -> Result<Vec<u8>> {
    check_url(url)?;
    agent()
        .post(url)
        .header("Content-Type", content_type)
        .send(body)
        .map_err(|e| fetch_error(url, e))?
        .body_mut()
        .with_config()
        .limit(limit as u64)
        .read_to_vec()
        .map_err(|e| fetch_error(url, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A one-shot loopback server answering `response` to the first request.
    fn serve_once(response: Vec<u8>) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = s.write_all(&response);
            }
        });
        format!("http://{addr}/x.crl")
    }

    #[test]
    fn limits_fire() {
        let body = vec![b'a'; 5000];
        let mut resp =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        resp.extend(&body);
        let url = serve_once(resp.clone());
        assert_eq!(http_get(&url, 10_000).expect("under the limit"), body);
        let url = serve_once(resp);
        let e = http_get(&url, 1000).expect_err("over the limit");
        assert!(matches!(e, Error::Fetch { .. }), "{e}");
        for bad in ["https://127.0.0.1/x", "ldap://x/cn=y", "file:///etc/passwd"] {
            assert!(http_get(bad, 10).is_err(), "{bad}");
        }
        let url = serve_once(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec());
        assert!(http_get(&url, 10).is_err(), "404 is an error");
    }
}
