//! `publish --ldap URL --bind-dn DN --bind-password-file FILE [--base DN]`: the CAs' entries in
//! an LDAP repository (RFC 4523 attributes; the values come from
//! [`ca_core::repository`]).
//!
//! Each CA is one entry: `cn=NAME,BASE` with `--base`, else the CA's subject DN (whose parent
//! must exist). A new entry is added with objectClass `applicationProcess` (or
//! `organizationalUnit` / `organization` when the subject's first RDN is OU / O), `pkiCA`
//! (RFC 4523 §3.4) and `certificationAuthority` (RFC 4523 §3.2; in OpenLDAP's core.schema).
//! An existing entry is read first and only the attributes whose values differ are replaced,
//! in one modify; an entry that is already right is not written at all. After `ca renew`, the
//! revocation-list attributes hold one value per key generation that still publishes (see
//! `ca_core::repository`, "Key generations").
//!
//! The password is read from a file, never taken from argv, and never logged; errors name the
//! server's result code and text only.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use ca_core::Authority;
use ldap3::{LdapConn, LdapConnSettings, Mod, Scope, SearchEntry};
use serde::Serialize;

use crate::output::CliError;

/// The attributes lgpki writes, as sent (with the `;binary` transfer option, RFC 4523 §2).
const CA_CERT: &str = "cACertificate;binary";
const CRL: &str = "certificateRevocationList;binary";
const ARL: &str = "authorityRevocationList;binary";
const CROSS: &str = "crossCertificatePair;binary";
/// Auxiliary object classes every CA entry gets.
const AUX_CLASSES: [&str; 2] = ["pkiCA", "certificationAuthority"];
/// Bound on connecting and on each operation.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The largest password file read.
const MAX_PASSWORD_FILE: usize = 4096;

/// Where and as whom to write.
pub struct LdapTarget {
    /// `ldap://HOST:PORT`.
    pub url: String,
    /// The bind DN.
    pub bind_dn: String,
    /// The bind password (from the file).
    password: zeroize::Zeroizing<String>,
    /// Parent DN of the entries, if given.
    pub base: Option<String>,
}

impl std::fmt::Debug for LdapTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapTarget")
            .field("url", &self.url)
            .field("bind_dn", &self.bind_dn)
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl LdapTarget {
    /// Reads the password file (its first line) and checks the URL scheme.
    pub fn new(
        url: &str,
        bind_dn: &str,
        password_file: &Path,
        base: Option<String>,
    ) -> Result<LdapTarget, CliError> {
        if !(url.starts_with("ldap://") || url.starts_with("ldapi://")) {
            return Err(CliError::Usage(format!(
                "--ldap {url:?}: only ldap:// and ldapi:// URLs are supported (no TLS in this build)"
            )));
        }
        let data = ca_core::input::read_limited(password_file, MAX_PASSWORD_FILE)?;
        let text = String::from_utf8(data).map_err(|_| {
            CliError::Usage(format!(
                "--bind-password-file {}: not UTF-8",
                password_file.display()
            ))
        })?;
        let password = zeroize::Zeroizing::new(
            text.lines()
                .next()
                .unwrap_or_default()
                .trim_end_matches('\r')
                .to_string(),
        );
        if password.is_empty() {
            return Err(CliError::Usage(format!(
                "--bind-password-file {}: empty",
                password_file.display()
            )));
        }
        Ok(LdapTarget {
            url: url.to_string(),
            bind_dn: bind_dn.to_string(),
            password,
            base,
        })
    }
}

/// What happened to one entry.
#[derive(Clone, Debug, Serialize)]
pub struct EntryReport {
    /// The CA.
    pub ca: String,
    /// The entry's DN.
    pub dn: String,
    /// `added`, `modified` or `unchanged`.
    pub action: &'static str,
    /// The attributes replaced or added.
    pub attributes: Vec<String>,
    /// Whether the CRL already in the directory was still current and kept.
    pub crl_kept: bool,
}

fn ldap_err(what: &str) -> impl FnOnce(ldap3::LdapError) -> CliError + '_ {
    move |e| {
        CliError::Core(ca_core::Error::Fetch {
            url: what.to_string(),
            detail: e.to_string(),
        })
    }
}

/// RFC 4514 §2.4 escaping of an attribute value.
fn escape_value(v: &str) -> String {
    let mut out = String::new();
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && (c == '#' || c == ' '))
            || (i + 1 == v.chars().count() && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The first RDN of an RFC 4514 string: (type, unescaped value).
fn first_rdn(dn: &str) -> Option<(String, String)> {
    let mut ty = String::new();
    let mut value = String::new();
    let mut in_value = false;
    let mut chars = dn.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => value.push(chars.next()?),
            ',' | '+' if in_value => break,
            '=' if !in_value => in_value = true,
            c if in_value => value.push(c),
            c => ty.push(c),
        }
    }
    in_value.then(|| (ty.trim().to_ascii_lowercase(), value))
}

/// The entry DN of a CA, the RDN attribute and value, and the structural class for it.
fn entry_dn(
    target: &LdapTarget,
    name: &str,
    cert_der: &[u8],
) -> Result<(String, String, String, &'static str), CliError> {
    use der::Decode;
    if let Some(base) = &target.base {
        return Ok((
            format!("cn={},{base}", escape_value(name)),
            "cn".into(),
            name.to_string(),
            "applicationProcess",
        ));
    }
    let cert = x509_cert::Certificate::from_der(cert_der)
        .map_err(|e| CliError::Core(ca_core::Error::malformed("CA certificate", e)))?;
    let dn = ca_core::name_to_string(cert.tbs_certificate().subject());
    let (ty, value) = first_rdn(&dn)
        .ok_or_else(|| CliError::Usage(format!("CA {name}: subject {dn:?} has no RDN")))?;
    let class = match ty.as_str() {
        "cn" => "applicationProcess",
        "ou" => "organizationalUnit",
        "o" => "organization",
        other => {
            return Err(CliError::Usage(format!(
                "CA {name}: cannot name an entry by its subject's first RDN type {other:?}; give --base"
            )));
        }
    };
    Ok((dn, ty, value, class))
}

/// An entry as the directory holds it: attribute type (lower case, without options) → values.
type Held = HashMap<String, BTreeSet<Vec<u8>>>;

fn read_entry(conn: &mut LdapConn, dn: &str) -> Result<Option<Held>, CliError> {
    let attrs = ["objectClass", CA_CERT, CRL, ARL, CROSS];
    let result = conn
        .with_timeout(TIMEOUT)
        .search(dn, Scope::Base, "(objectClass=*)", attrs.to_vec())
        .map_err(ldap_err(dn))?;
    // 32: noSuchObject (RFC 4511 §4.1.9).
    if result.1.rc == 32 {
        return Ok(None);
    }
    let (entries, _) = result.success().map_err(ldap_err(dn))?;
    let Some(raw) = entries.into_iter().next() else {
        return Ok(None);
    };
    // `construct` panics on a malformed entry from the server: answered as an error.
    let entry =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| SearchEntry::construct(raw)))
            .map_err(|_| {
                CliError::Core(ca_core::Error::malformed(
                    format!("LDAP entry {dn}"),
                    "the server's search result does not parse",
                ))
            })?;
    let mut held: Held = HashMap::new();
    let key = |t: &str| t.split(';').next().unwrap_or(t).to_ascii_lowercase();
    // Values that happen to be valid UTF-8 land in `attrs`, the others in `bin_attrs`.
    for (t, vals) in entry.attrs {
        held.entry(key(&t))
            .or_default()
            .extend(vals.into_iter().map(String::into_bytes));
    }
    for (t, vals) in entry.bin_attrs {
        held.entry(key(&t)).or_default().extend(vals);
    }
    Ok(Some(held))
}

/// Writes every CA's entry to the directory of `target`; replaces only what differs.
pub fn sync(ca: &mut Authority, target: &LdapTarget) -> Result<Vec<EntryReport>, CliError> {
    let settings = LdapConnSettings::new().set_conn_timeout(TIMEOUT);
    let mut conn = LdapConn::with_settings(settings, &target.url).map_err(ldap_err(&target.url))?;
    conn.with_timeout(TIMEOUT)
        .simple_bind(&target.bind_dn, &target.password)
        .and_then(|r| r.success())
        .map_err(|e| {
            CliError::Core(ca_core::Error::Fetch {
                url: target.url.clone(),
                detail: format!("bind as {}: {e}", target.bind_dn),
            })
        })?;
    let result = write_entries(ca, target, &mut conn);
    let _ = conn.unbind();
    result
}

fn write_entries(
    ca: &mut Authority,
    target: &LdapTarget,
    conn: &mut LdapConn,
) -> Result<Vec<EntryReport>, CliError> {
    // Read every CA's entry first: the CRLs held there may be kept.
    let mut held: BTreeMap<String, (String, String, String, &'static str, Option<Held>)> =
        BTreeMap::new();
    for rec in ca.cas()? {
        let (dn, rdn_type, rdn_value, class) = entry_dn(target, &rec.name, &rec.cert_der)?;
        let entry = read_entry(conn, &dn)?;
        held.insert(rec.name, (dn, rdn_type, rdn_value, class, entry));
    }
    let held_values = |name: &str, attr: &str| -> Vec<Vec<u8>> {
        held.get(name)
            .and_then(|h| h.4.as_ref())
            .and_then(|e| e.get(attr))
            .map(|v| v.iter().cloned().collect())
            .unwrap_or_default()
    };
    let entries = ca.repository_entries(
        &mut |name| held_values(name, "certificaterevocationlist"),
        &mut |name| held_values(name, "authorityrevocationlist"),
    )?;
    let mut reports = Vec::new();
    for e in entries {
        let Some((dn, rdn_type, rdn_value, class, existing)) = held.remove(&e.name) else {
            continue;
        };
        let want: Vec<(&str, BTreeSet<Vec<u8>>)> = vec![
            (CA_CERT, BTreeSet::from([e.cert_der.clone()])),
            // The key in force's lists, and each retired generation's that still publishes
            // (ca_core::repository, "Key generations").
            (
                CRL,
                std::iter::once(e.crl_der.clone())
                    .chain(e.retired_crls.iter().map(|(_, c)| c.clone()))
                    .collect(),
            ),
            (
                ARL,
                std::iter::once(e.arl_der.clone())
                    .chain(e.retired_arls.iter().map(|(_, c)| c.clone()))
                    .collect(),
            ),
            (CROSS, e.cross_pairs.iter().cloned().collect()),
        ];
        let report = match existing {
            None => {
                let mut attrs: Vec<(Vec<u8>, HashSet<Vec<u8>>)> = vec![
                    (
                        b"objectClass".to_vec(),
                        ["top", class]
                            .into_iter()
                            .chain(AUX_CLASSES)
                            .map(|c| c.as_bytes().to_vec())
                            .collect(),
                    ),
                    (
                        rdn_type.as_bytes().to_vec(),
                        HashSet::from([rdn_value.into_bytes()]),
                    ),
                ];
                let mut names = Vec::new();
                for (attr, vals) in &want {
                    if !vals.is_empty() {
                        attrs.push((attr.as_bytes().to_vec(), vals.iter().cloned().collect()));
                        names.push(attr.to_string());
                    }
                }
                conn.with_timeout(TIMEOUT)
                    .add(&dn, attrs)
                    .and_then(|r| r.success())
                    .map_err(ldap_err(&dn))?;
                EntryReport {
                    ca: e.name,
                    dn,
                    action: "added",
                    attributes: names,
                    crl_kept: false,
                }
            }
            Some(have) => {
                let mut mods: Vec<Mod<Vec<u8>>> = Vec::new();
                let mut names = Vec::new();
                let classes: BTreeSet<String> = have
                    .get("objectclass")
                    .into_iter()
                    .flatten()
                    .map(|v| String::from_utf8_lossy(v).to_ascii_lowercase())
                    .collect();
                let missing: HashSet<Vec<u8>> = AUX_CLASSES
                    .iter()
                    .filter(|c| !classes.contains(&c.to_ascii_lowercase()))
                    .map(|c| c.as_bytes().to_vec())
                    .collect();
                if !missing.is_empty() {
                    mods.push(Mod::Add(b"objectClass".to_vec(), missing));
                    names.push("objectClass".to_string());
                }
                for (attr, vals) in want {
                    let key = attr.split(';').next().unwrap_or(attr).to_ascii_lowercase();
                    let current = have.get(&key).cloned().unwrap_or_default();
                    if current != vals {
                        mods.push(Mod::Replace(
                            attr.as_bytes().to_vec(),
                            vals.into_iter().collect(),
                        ));
                        names.push(attr.to_string());
                    }
                }
                let action = if mods.is_empty() {
                    "unchanged"
                } else {
                    conn.with_timeout(TIMEOUT)
                        .modify(&dn, mods)
                        .and_then(|r| r.success())
                        .map_err(ldap_err(&dn))?;
                    "modified"
                };
                EntryReport {
                    ca: e.name,
                    dn,
                    action,
                    attributes: names,
                    crl_kept: e.crl_kept,
                }
            }
        };
        reports.push(report);
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_reads_rdns() {
        assert_eq!(escape_value("a,b"), "a\\,b");
        assert_eq!(escape_value(" x "), "\\ x\\ ");
        assert_eq!(
            first_rdn("CN=Root\\, Inc,O=LGPKI,C=JP"),
            Some(("cn".into(), "Root, Inc".into()))
        );
        assert_eq!(first_rdn("nothing"), None);
    }
}
