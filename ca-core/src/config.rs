//! `HOME/lgpki.toml`: the operating settings of a home — how long CRLs, ARLs and OCSP answers
//! are valid and how often `serve` renews them, the base URL of the pointers in issued
//! certificates, the DNS name of the RA server, and the accuracy of time-stamp tokens.
//!
//! Every key is optional; a missing file means all defaults. [`Settings::EXAMPLE`] is the
//! commented file `init` writes (every default shown, commented out). Durations are written
//! as a number and a unit: `90s`, `15m`, `24h`, `7d`.

use std::path::Path;

use serde::{Deserialize, Serialize};
use time::Duration;

use crate::error::{Error, Result};

/// Default validity of a full CRL (nextUpdate − thisUpdate): [`crate::FULL_CRL_VALIDITY`].
pub const DEFAULT_CRL_VALIDITY: Duration = crate::revoke::FULL_CRL_VALIDITY;
/// Default re-signing interval of CRLs and ARLs: a day, well inside their week of validity.
pub const DEFAULT_CRL_REFRESH: Duration = Duration::days(1);
/// Default validity of an OCSP answer: an hour (RFC 5019 §6 caching is bounded by it).
pub const DEFAULT_OCSP_VALIDITY: Duration = Duration::hours(1);
/// Default age at which a pre-produced OCSP answer is signed anew: five minutes.
pub const DEFAULT_OCSP_REFRESH: Duration = Duration::minutes(5);
/// Default accuracy stated in time-stamp tokens (RFC 3161 §2.4.2): one second, the precision
/// of their genTime.
pub const DEFAULT_TSA_ACCURACY: Duration = Duration::seconds(1);

/// Validity and refresh interval of one kind of signed revocation data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Freshness {
    /// nextUpdate − thisUpdate.
    pub validity: Duration,
    /// How long after signing it is signed again (always well before nextUpdate: at most half
    /// the validity, see [`Freshness::effective_refresh`]).
    pub refresh: Duration,
}

impl Freshness {
    /// The refresh interval in force: the configured one, but never more than half the
    /// validity, so a relying party never sees data near its nextUpdate.
    pub fn effective_refresh(&self) -> Duration {
        self.refresh.min(self.validity / 2)
    }
}

/// The settings in force for a home.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Base URL of the CRL/OCSP/CA-certificate pointers in issued certificates; `None` keeps
    /// the one `init --base-url` recorded.
    pub base_url: Option<String>,
    /// DNS name in the RA server's TLS certificate (besides its IP address).
    pub ra_dns_name: Option<String>,
    /// Full CRLs of CAs that issue end-entity certificates.
    pub crl: Freshness,
    /// ARLs (CRLs of CAs that issue only CA certificates, onlyContainsCACerts).
    pub arl: Freshness,
    /// OCSP answers.
    pub ocsp: Freshness,
    /// The accuracy the TSA (`serve`'s `/tsa`) states in its tokens, whole seconds.
    pub tsa_accuracy: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        let crl = Freshness {
            validity: DEFAULT_CRL_VALIDITY,
            refresh: DEFAULT_CRL_REFRESH,
        };
        Settings {
            base_url: None,
            ra_dns_name: None,
            crl,
            arl: crl,
            ocsp: Freshness {
                validity: DEFAULT_OCSP_VALIDITY,
                refresh: DEFAULT_OCSP_REFRESH,
            },
            tsa_accuracy: DEFAULT_TSA_ACCURACY,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FreshnessFile {
    validity: Option<String>,
    refresh: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    base_url: Option<String>,
    ra_dns_name: Option<String>,
    #[serde(default)]
    crl: FreshnessFile,
    #[serde(default)]
    arl: FreshnessFile,
    #[serde(default)]
    ocsp: FreshnessFile,
    #[serde(default)]
    tsa: TsaFile,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TsaFile {
    accuracy: Option<String>,
}

/// The settings as `config show --json` prints them (durations as text).
#[derive(Serialize)]
struct SettingsView<'a> {
    file: String,
    base_url: Option<&'a str>,
    ra_dns_name: Option<&'a str>,
    crl: FreshnessView,
    arl: FreshnessView,
    ocsp: FreshnessView,
    tsa: TsaView,
}

#[derive(Serialize)]
struct TsaView {
    accuracy: String,
    accuracy_seconds: i64,
}

#[derive(Serialize)]
struct FreshnessView {
    validity: String,
    refresh: String,
    validity_seconds: i64,
    refresh_seconds: i64,
}

impl From<Freshness> for FreshnessView {
    fn from(f: Freshness) -> FreshnessView {
        FreshnessView {
            validity: format_duration(f.validity),
            refresh: format_duration(f.effective_refresh()),
            validity_seconds: f.validity.whole_seconds(),
            refresh_seconds: f.effective_refresh().whole_seconds(),
        }
    }
}

impl Settings {
    /// The file name in HOME.
    pub const FILE: &'static str = "lgpki.toml";

    /// The commented example `init` writes: every setting at its default, commented out.
    pub const EXAMPLE: &'static str = "\
# lgpki settings for this home. Every key is optional; the values shown are the defaults.
# Durations: a number and a unit, s (seconds), m (minutes), h (hours) or d (days).
# `lgpki config show` prints the settings in force.

# Base URL of the CRL, OCSP and CA-certificate pointers in issued certificates
# (default: the --base-url given to init, else http://127.0.0.1:8080).
# base_url = \"http://127.0.0.1:8080\"

# DNS name in the RA server's TLS certificate, besides its IP address (a name under lg.jp).
# ra_dns_name = \"ca.example.lg.jp\"

# Full CRLs of CAs that issue end-entity certificates: nextUpdate - thisUpdate, and how often
# `serve` signs a new one (never later than half the validity).
[crl]
# validity = \"7d\"
# refresh = \"1d\"

# ARLs (CRLs of CAs that issue only CA certificates).
[arl]
# validity = \"7d\"
# refresh = \"1d\"

# OCSP answers: nextUpdate - thisUpdate, and the age at which a pre-produced one is re-signed.
[ocsp]
# validity = \"1h\"
# refresh = \"5m\"

# The time-stamping authority (serve's POST /tsa, RFC 3161): the accuracy stated in each token.
[tsa]
# accuracy = \"1s\"
";

    /// Reads `HOME/lgpki.toml` (all defaults when it does not exist). A malformed file, an
    /// unknown key or a zero duration is an error naming the key.
    pub fn load(home: &Path) -> Result<Settings> {
        let path = home.join(Self::FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Settings::default()),
            Err(e) => return Err(Error::Io { path, source: e }),
        };
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses the text of a settings file (`what` names it in errors).
    pub fn parse(text: &str, what: &str) -> Result<Settings> {
        let file: SettingsFile = toml::from_str(text).map_err(|e| Error::Malformed {
            what: what.to_string(),
            detail: e.to_string(),
        })?;
        let d = Settings::default();
        let fresh = |f: &FreshnessFile, def: Freshness, section: &'static str| -> Result<_> {
            let get = |v: &Option<String>, name: &'static str, def: Duration| match v {
                None => Ok(def),
                Some(s) => parse_duration(s).map_err(|reason| Error::InvalidArgument {
                    name,
                    value: s.clone(),
                    reason: format!("[{section}] {reason}"),
                }),
            };
            Ok(Freshness {
                validity: get(&f.validity, "validity", def.validity)?,
                refresh: get(&f.refresh, "refresh", def.refresh)?,
            })
        };
        if let Some(url) = &file.base_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(Error::InvalidArgument {
                name: "base_url",
                value: url.clone(),
                reason: "must be an http:// or https:// URL".into(),
            });
        }
        Ok(Settings {
            base_url: file.base_url.map(|u| u.trim_end_matches('/').to_string()),
            ra_dns_name: file.ra_dns_name,
            crl: fresh(&file.crl, d.crl, "crl")?,
            arl: fresh(&file.arl, d.arl, "arl")?,
            ocsp: fresh(&file.ocsp, d.ocsp, "ocsp")?,
            tsa_accuracy: match &file.tsa.accuracy {
                None => d.tsa_accuracy,
                Some(a) => parse_duration(a).map_err(|reason| Error::InvalidArgument {
                    name: "accuracy",
                    value: a.clone(),
                    reason: format!("[tsa] {reason}"),
                })?,
            },
        })
    }

    /// The settings as JSON (`config show --json`); `file` is where they were read from.
    pub fn to_json(&self, file: &Path) -> serde_json::Value {
        serde_json::to_value(SettingsView {
            file: file.display().to_string(),
            base_url: self.base_url.as_deref(),
            ra_dns_name: self.ra_dns_name.as_deref(),
            crl: self.crl.into(),
            arl: self.arl.into(),
            ocsp: self.ocsp.into(),
            tsa: TsaView {
                accuracy: format_duration(self.tsa_accuracy),
                accuracy_seconds: self.tsa_accuracy.whole_seconds(),
            },
        })
        .unwrap_or(serde_json::Value::Null)
    }
}

/// Parses `90s`, `15m`, `24h`, `7d` (a positive whole number and a unit).
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| "needs a unit: s, m, h or d (e.g. 90s, 24h)".to_string())?;
    let (digits, unit) = t.split_at(split);
    let n: i64 = digits
        .parse()
        .map_err(|_| "expected a whole number before the unit".to_string())?;
    if n == 0 {
        return Err("must be more than zero".into());
    }
    let secs = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => return Err(format!("unknown unit {unit:?}: use s, m, h or d")),
    }
    .filter(|s| *s <= 100 * 365 * 86_400)
    .ok_or_else(|| "too long (at most 100 years)".to_string())?;
    Ok(Duration::seconds(secs))
}

/// The shortest exact text of a duration in the units [`parse_duration`] reads.
pub fn format_duration(d: Duration) -> String {
    let s = d.whole_seconds();
    for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if s != 0 && s % n == 0 {
            return format!("{}{unit}", s / n);
        }
    }
    format!("{s}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_is_the_defaults() {
        assert_eq!(
            Settings::parse(Settings::EXAMPLE, "example").expect("parses"),
            Settings::default()
        );
    }

    #[test]
    fn values_and_refusals() {
        let s = Settings::parse(
            "base_url = \"http://ca.example.lg.jp/\"\n[crl]\nvalidity = \"20s\"\nrefresh = \"1h\"\n",
            "t",
        )
        .expect("parses");
        assert_eq!(s.base_url.as_deref(), Some("http://ca.example.lg.jp"));
        assert_eq!(s.crl.validity, Duration::seconds(20));
        // Refresh is capped at half the validity.
        assert_eq!(s.crl.effective_refresh(), Duration::seconds(10));
        assert_eq!(s.arl, Settings::default().arl);
        let t = Settings::parse("[tsa]\naccuracy = \"2s\"\n", "t").expect("parses");
        assert_eq!(t.tsa_accuracy, Duration::seconds(2));
        for bad in [
            "[crl]\nvalidity = \"0s\"\n",
            "[crl]\nvalidity = \"10\"\n",
            "[crl]\nvalidity = \"10w\"\n",
            "[crl]\nvalidty = \"10s\"\n",
            "base_url = \"ftp://x\"\n",
            "[crl\n",
            "[tsa]\naccuracy = \"0s\"\n",
        ] {
            assert!(Settings::parse(bad, "t").is_err(), "{bad}");
        }
        assert_eq!(format_duration(Duration::seconds(90)), "90s");
        assert_eq!(format_duration(Duration::days(7)), "7d");
    }
}
