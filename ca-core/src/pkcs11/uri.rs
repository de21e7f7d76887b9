//! RFC 7512 `pkcs11:` URIs: parsing, percent-decoding, formatting, and the PIN source.
//!
//! Supported path attributes (RFC 7512 §2.3): `token`, `manufacturer`, `serial`, `model`,
//! `slot-id`, `object`, `id`, `type`. Supported query attributes: `module-path` and
//! `pin-source`. `pin-value` is refused: a PIN in a URI ends up on command lines, in shell
//! history and in `ps` output; the PIN comes from `pin-source=file:PATH` or, when the URI has
//! no `pin-source`, from the environment variable [`PIN_ENV`].

use std::fmt;
use std::path::PathBuf;

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The environment variable the PIN is read from when the URI has no `pin-source`.
pub const PIN_ENV: &str = "LGPKI_PKCS11_PIN";

/// The longest PIN file we read (PINs are short; anything larger is the wrong file).
const MAX_PIN_FILE: u64 = 4096;

/// The `type` path attribute (RFC 7512 §2.3, `pk11-type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectType {
    /// `type=private`: a private key (CKO_PRIVATE_KEY).
    Private,
    /// `type=public`: a public key (CKO_PUBLIC_KEY).
    Public,
    /// `type=cert`: a certificate (CKO_CERTIFICATE).
    Cert,
    /// `type=secret-key`: a secret key (CKO_SECRET_KEY).
    SecretKey,
    /// `type=data`: a data object (CKO_DATA).
    Data,
}

impl ObjectType {
    fn parse(s: &str) -> Option<ObjectType> {
        Some(match s {
            "private" => ObjectType::Private,
            "public" => ObjectType::Public,
            "cert" => ObjectType::Cert,
            "secret-key" => ObjectType::SecretKey,
            "data" => ObjectType::Data,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            ObjectType::Private => "private",
            ObjectType::Public => "public",
            ObjectType::Cert => "cert",
            ObjectType::SecretKey => "secret-key",
            ObjectType::Data => "data",
        }
    }
}

/// A parsed RFC 7512 PKCS#11 URI (the subset `lgpki` uses).
///
/// [`fmt::Display`] writes the URI back in canonical form (attributes in a fixed order, every
/// byte outside the RFC 3986 unreserved set percent-encoded, `id` fully percent-encoded).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// `token`: the token label (CK_TOKEN_INFO.label).
    pub token: Option<String>,
    /// `manufacturer`: the token manufacturer (CK_TOKEN_INFO.manufacturerID).
    pub manufacturer: Option<String>,
    /// `serial`: the token serial number (CK_TOKEN_INFO.serialNumber).
    pub serial: Option<String>,
    /// `model`: the token model (CK_TOKEN_INFO.model).
    pub model: Option<String>,
    /// `slot-id`: the slot number (CK_SLOT_ID, decimal; RFC 7512 §2.3).
    pub slot_id: Option<u64>,
    /// `object`: the object label (CKA_LABEL).
    pub object: Option<String>,
    /// `id`: the object identifier (CKA_ID), raw bytes.
    pub id: Option<Vec<u8>>,
    /// `type`: the object class.
    pub object_type: Option<ObjectType>,
    /// `module-path` (query): the PKCS#11 module to load.
    pub module_path: Option<PathBuf>,
    /// `pin-source` (query): where the user PIN is read from, as written in the URI
    /// (`file:PATH`, `file:///PATH` or an absolute path).
    pub pin_source: Option<String>,
}

impl Pkcs11Uri {
    /// Parses a `pkcs11:` URI (RFC 7512 §2.3).
    ///
    /// Refused: another scheme, a fragment, an attribute given twice (RFC 7512 §2.3 allows
    /// each path attribute at most once), an unknown attribute (refusing it means a typo can
    /// never silently select a different object), malformed percent-encoding, `module-name`
    /// (we load modules by path only) and `pin-value` (PINs never go into URIs).
    pub fn parse(uri: &str) -> Result<Pkcs11Uri> {
        let bad = |reason: String| Error::InvalidArgument {
            name: "PKCS#11 URI",
            value: redact(uri),
            reason,
        };
        let rest = match uri.get(..7) {
            Some(scheme) if scheme.eq_ignore_ascii_case("pkcs11:") => &uri[7..],
            _ => return Err(bad("not a pkcs11: URI (RFC 7512)".into())),
        };
        if rest.contains('#') {
            return Err(bad(
                "a PKCS#11 URI has no fragment ('#' must be written %23)".into(),
            ));
        }
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let mut out = Pkcs11Uri::default();
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (name, raw) = attr
                .split_once('=')
                .ok_or_else(|| bad(format!("path attribute {attr:?} has no '='")))?;
            let value = percent_decode(raw).map_err(|e| bad(format!("{name}: {e}")))?;
            let text = || {
                String::from_utf8(value.clone())
                    .map_err(|_| bad(format!("{name} is not UTF-8 after percent-decoding")))
            };
            let dup = || {
                bad(format!(
                    "path attribute {name} appears twice (RFC 7512 §2.3)"
                ))
            };
            match name {
                "token" => set_once(&mut out.token, text()?).map_err(|_| dup())?,
                "manufacturer" => set_once(&mut out.manufacturer, text()?).map_err(|_| dup())?,
                "serial" => set_once(&mut out.serial, text()?).map_err(|_| dup())?,
                "model" => set_once(&mut out.model, text()?).map_err(|_| dup())?,
                "object" => set_once(&mut out.object, text()?).map_err(|_| dup())?,
                "id" => set_once(&mut out.id, value).map_err(|_| dup())?,
                "slot-id" => {
                    let n = text()?
                        .parse::<u64>()
                        .map_err(|_| bad("slot-id is not a decimal number".into()))?;
                    set_once(&mut out.slot_id, n).map_err(|_| dup())?
                }
                "type" => {
                    let t = ObjectType::parse(&text()?).ok_or_else(|| {
                        bad("type is not one of public, private, cert, secret-key, data".into())
                    })?;
                    set_once(&mut out.object_type, t).map_err(|_| dup())?
                }
                "library-manufacturer"
                | "library-description"
                | "library-version"
                | "slot-description"
                | "slot-manufacturer" => {
                    return Err(bad(format!("path attribute {name} is not supported")));
                }
                _ => return Err(bad(format!("unknown path attribute {name:?}"))),
            }
        }
        for attr in query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter(|a| !a.is_empty())
        {
            let (name, raw) = attr.split_once('=').unwrap_or((attr, ""));
            let dup = || bad(format!("query attribute {name} appears twice"));
            match name {
                "pin-value" => {
                    return Err(bad(format!(
                        "pin-value is refused: PINs must never be on a command line; use \
                         pin-source=file:PATH or the {PIN_ENV} environment variable"
                    )));
                }
                "module-path" | "pin-source" => {
                    let value = percent_decode(raw).map_err(|e| bad(format!("{name}: {e}")))?;
                    let value = String::from_utf8(value)
                        .map_err(|_| bad(format!("{name} is not UTF-8 after percent-decoding")))?;
                    if value.is_empty() {
                        return Err(bad(format!("{name} is empty")));
                    }
                    if name == "module-path" {
                        set_once(&mut out.module_path, PathBuf::from(value)).map_err(|_| dup())?
                    } else {
                        set_once(&mut out.pin_source, value).map_err(|_| dup())?
                    }
                }
                "module-name" => {
                    return Err(bad(
                        "module-name is not supported: name the module with module-path".into(),
                    ));
                }
                _ => return Err(bad(format!("unknown query attribute {name:?}"))),
            }
        }
        Ok(out)
    }

    /// The URI without its query (no module path or PIN source): what logs and errors show.
    pub fn location(&self) -> String {
        let mut s = self.to_string();
        if let Some(i) = s.find('?') {
            s.truncate(i);
        }
        s
    }

    /// The token part of the URI (`pkcs11:token=…;serial=…`), for messages about the token.
    pub fn token_location(&self) -> String {
        Pkcs11Uri {
            token: self.token.clone(),
            manufacturer: self.manufacturer.clone(),
            serial: self.serial.clone(),
            model: self.model.clone(),
            slot_id: self.slot_id,
            ..Pkcs11Uri::default()
        }
        .location()
    }

    /// Reads the user PIN: from `pin-source` if the URI has one, else from the environment
    /// variable [`PIN_ENV`]; `None` when neither is set. Trailing line ends are removed from a
    /// PIN file. The PIN never appears in an error.
    pub fn read_pin(&self) -> Result<Option<Zeroizing<String>>> {
        let env = std::env::var(PIN_ENV).ok().map(Zeroizing::new);
        self.read_pin_with(env)
    }

    pub(crate) fn read_pin_with(
        &self,
        env: Option<Zeroizing<String>>,
    ) -> Result<Option<Zeroizing<String>>> {
        let Some(source) = &self.pin_source else {
            return Ok(env);
        };
        let at_fault =
            |detail: String| Error::key(self.location(), format!("pin-source={source}: {detail}"));
        let path = pin_source_path(source).ok_or_else(|| {
            at_fault("only file: PIN sources are supported (pin-source=file:/path/to/pin)".into())
        })?;
        let meta = std::fs::metadata(&path).map_err(|e| at_fault(format!("cannot read: {e}")))?;
        if !meta.is_file() {
            return Err(at_fault("not a regular file".into()));
        }
        // Like the software backend's key files (mode 0600): a PIN file other users can read
        // or write is refused.
        if std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o006 != 0 {
            return Err(at_fault(
                "readable or writable by other users: chmod o-rwx (0600 is best)".into(),
            ));
        }
        if meta.len() > MAX_PIN_FILE {
            return Err(at_fault(format!(
                "over {MAX_PIN_FILE} bytes: not a PIN file"
            )));
        }
        let bytes = Zeroizing::new(
            std::fs::read(&path).map_err(|e| at_fault(format!("cannot read: {e}")))?,
        );
        let text = std::str::from_utf8(&bytes).map_err(|_| at_fault("not UTF-8".into()))?;
        let pin = Zeroizing::new(text.trim_end_matches(['\n', '\r']).to_string());
        if pin.is_empty() {
            return Err(at_fault("the file is empty".into()));
        }
        Ok(Some(pin))
    }
}

/// `file:PATH`, `file:///PATH` (RFC 8089) or a bare absolute path.
fn pin_source_path(source: &str) -> Option<PathBuf> {
    if let Some(rest) = source.strip_prefix("file://") {
        // Only the empty or `localhost` authority.
        let path = rest.strip_prefix("localhost").unwrap_or(rest);
        path.starts_with('/').then(|| PathBuf::from(path))
    } else if let Some(path) = source.strip_prefix("file:") {
        (!path.is_empty()).then(|| PathBuf::from(path))
    } else if source.starts_with('/') {
        Some(PathBuf::from(source))
    } else {
        None
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T) -> std::result::Result<(), ()> {
    if slot.is_some() {
        return Err(());
    }
    *slot = Some(value);
    Ok(())
}

/// Percent-decoding (RFC 3986 §2.1). A '%' must be followed by two hex digits.
fn percent_decode(s: &str) -> std::result::Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-encoding at byte {i}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// Percent-encodes every byte outside RFC 3986 `unreserved` (plus `extra`).
fn percent_encode(bytes: &[u8], extra: &[u8], out: &mut String) {
    for &c in bytes {
        if c.is_ascii_alphanumeric() || b"-._~".contains(&c) || extra.contains(&c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
}

/// Error messages quote a URI without its query (which may hold a `pin-value`).
fn redact(uri: &str) -> String {
    match uri.split_once('?') {
        Some((path, _)) => format!("{path}?…"),
        None => uri.to_string(),
    }
}

impl fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut path: Vec<String> = Vec::new();
        let mut attr = |name: &str, value: &[u8], all: bool| {
            let mut s = format!("{name}=");
            if all {
                for c in value {
                    s.push_str(&format!("%{c:02X}"));
                }
            } else {
                percent_encode(value, b"", &mut s);
            }
            path.push(s);
        };
        let text = |o: &Option<String>| o.as_ref().map(|s| s.as_bytes().to_vec());
        if let Some(v) = text(&self.token) {
            attr("token", &v, false);
        }
        if let Some(v) = text(&self.manufacturer) {
            attr("manufacturer", &v, false);
        }
        if let Some(v) = text(&self.serial) {
            attr("serial", &v, false);
        }
        if let Some(v) = text(&self.model) {
            attr("model", &v, false);
        }
        if let Some(v) = self.slot_id {
            attr("slot-id", v.to_string().as_bytes(), false);
        }
        if let Some(v) = text(&self.object) {
            attr("object", &v, false);
        }
        if let Some(v) = &self.id {
            attr("id", v, true);
        }
        if let Some(t) = self.object_type {
            attr("type", t.name().as_bytes(), false);
        }
        write!(f, "pkcs11:{}", path.join(";"))?;
        let mut query = Vec::new();
        if let Some(p) = &self.module_path {
            let mut s = "module-path=".to_string();
            percent_encode(p.to_string_lossy().as_bytes(), b"/:", &mut s);
            query.push(s);
        }
        if let Some(p) = &self.pin_source {
            let mut s = "pin-source=".to_string();
            percent_encode(p.as_bytes(), b"/:", &mut s);
            query.push(s);
        }
        if !query.is_empty() {
            write!(f, "?{}", query.join("&"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc7512_examples_and_round_trips() {
        let u = Pkcs11Uri::parse(
            "pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.\
             ?pin-source=file:/etc/token",
        )
        .expect("parse");
        assert_eq!(u.token.as_deref(), Some("Software PKCS#11 softtoken"));
        assert_eq!(u.manufacturer.as_deref(), Some("Snake Oil, Inc."));
        assert_eq!(u.pin_source.as_deref(), Some("file:/etc/token"));
        assert_eq!(Pkcs11Uri::parse(&u.to_string()).expect("reparse"), u);

        let u = Pkcs11Uri::parse(
            "pkcs11:token=CA%20token;object=root-2026;id=%01%02%ff;type=private;slot-id=7\
             ?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin",
        )
        .expect("parse");
        assert_eq!(u.token.as_deref(), Some("CA token"));
        assert_eq!(u.object.as_deref(), Some("root-2026"));
        assert_eq!(u.id.as_deref(), Some(&[1u8, 2, 0xff][..]));
        assert_eq!(u.object_type, Some(ObjectType::Private));
        assert_eq!(u.slot_id, Some(7));
        assert_eq!(
            u.module_path.as_deref(),
            Some(std::path::Path::new("/usr/lib/softhsm/libsofthsm2.so"))
        );
        let s = u.to_string();
        assert_eq!(
            s,
            "pkcs11:token=CA%20token;slot-id=7;object=root-2026;id=%01%02%FF;type=private\
             ?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin"
        );
        assert_eq!(Pkcs11Uri::parse(&s).expect("reparse"), u);
        assert_eq!(
            u.location(),
            "pkcs11:token=CA%20token;slot-id=7;object=root-2026;id=%01%02%FF;type=private"
        );
        assert_eq!(u.token_location(), "pkcs11:token=CA%20token;slot-id=7");
        // Scheme is case-insensitive (RFC 3986 §3.1); an empty path is allowed.
        assert_eq!(
            Pkcs11Uri::parse("PKCS11:").expect("empty"),
            Pkcs11Uri::default()
        );
    }

    #[test]
    fn special_characters_round_trip() {
        let u = Pkcs11Uri {
            token: Some("a;b=c?d&e%f/g h#i".into()),
            object: Some("ラベル".into()),
            module_path: Some("/opt/my hsm/lib&x.so".into()),
            pin_source: Some("file:/run/p in".into()),
            ..Pkcs11Uri::default()
        };
        let s = u.to_string();
        assert!(!s.contains(' ') && !s.contains('#'), "{s}");
        assert_eq!(Pkcs11Uri::parse(&s).expect("reparse"), u);
    }

    #[test]
    fn refuses_pin_value_without_echoing_it() {
        for uri in [
            "pkcs11:token=t?pin-value=123456",
            "pkcs11:token=t?module-path=/m.so&pin-value=123456",
        ] {
            let err = Pkcs11Uri::parse(uri).expect_err("pin-value");
            let msg = err.to_string();
            assert!(msg.contains("pin-value is refused"), "{msg}");
            assert!(!msg.contains("123456"), "PIN leaked: {msg}");
        }
    }

    #[test]
    fn refuses_malformed_uris() {
        for (uri, want) in [
            ("file:/x", "not a pkcs11: URI"),
            ("pkcs11:token=a;token=b", "token appears twice"),
            ("pkcs11:id=%0", "bad percent-encoding"),
            ("pkcs11:id=%zz", "bad percent-encoding"),
            ("pkcs11:tokn=a", "unknown path attribute \"tokn\""),
            ("pkcs11:token", "has no '='"),
            ("pkcs11:token=a#frag", "no fragment"),
            ("pkcs11:slot-id=x", "slot-id is not a decimal"),
            ("pkcs11:type=key", "type is not one of"),
            ("pkcs11:token=%ff", "not UTF-8"),
            (
                "pkcs11:?module-name=softhsm2",
                "module-name is not supported",
            ),
            ("pkcs11:?module-path=", "module-path is empty"),
            (
                "pkcs11:?module-path=/a&module-path=/b",
                "module-path appears twice",
            ),
            ("pkcs11:?pin-sauce=file:/x", "unknown query attribute"),
        ] {
            let err = Pkcs11Uri::parse(uri).expect_err(uri);
            assert!(err.to_string().contains(want), "{uri}: {err}");
            assert_eq!(err.kind(), "invalid_argument");
        }
    }

    #[test]
    fn pin_comes_from_file_or_environment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("pin");
        std::fs::write(&file, "s3cret\r\n").expect("write");
        let chmod = |mode| {
            std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(mode))
                .expect("chmod")
        };
        chmod(0o644);
        let open = Pkcs11Uri {
            pin_source: Some(format!("file:{}", file.display())),
            ..Pkcs11Uri::default()
        };
        let err = open.read_pin_with(None).expect_err("world-readable");
        assert!(
            err.to_string()
                .contains("readable or writable by other users"),
            "{err}"
        );
        chmod(0o600);
        let env = || Some(Zeroizing::new("from-env".to_string()));
        for source in [
            format!("file:{}", file.display()),
            format!("file://{}", file.display()),
            file.display().to_string(),
        ] {
            let u = Pkcs11Uri {
                pin_source: Some(source),
                ..Pkcs11Uri::default()
            };
            let pin = u.read_pin_with(env()).expect("pin").expect("some");
            assert_eq!(pin.as_str(), "s3cret");
        }
        let u = Pkcs11Uri::default();
        assert_eq!(
            u.read_pin_with(env())
                .expect("env")
                .as_deref()
                .map(String::as_str),
            Some("from-env")
        );
        assert!(u.read_pin_with(None).expect("none").is_none());

        let missing = Pkcs11Uri {
            token: Some("t".into()),
            pin_source: Some(format!("file:{}/nope", dir.path().display())),
            ..Pkcs11Uri::default()
        };
        let err = missing.read_pin_with(env()).expect_err("missing file");
        assert!(
            err.to_string().contains("pin-source=file:") && err.to_string().contains("cannot read"),
            "{err}"
        );
        std::fs::write(&file, "\n").expect("write");
        let empty = Pkcs11Uri {
            pin_source: Some(format!("file:{}", file.display())),
            ..Pkcs11Uri::default()
        };
        assert!(
            empty
                .read_pin_with(None)
                .expect_err("empty")
                .to_string()
                .contains("empty")
        );
        let http = Pkcs11Uri {
            pin_source: Some("https://x/pin".into()),
            ..Pkcs11Uri::default()
        };
        assert!(
            http.read_pin_with(None)
                .expect_err("scheme")
                .to_string()
                .contains("only file:")
        );
    }
}
