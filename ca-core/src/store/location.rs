//! Which store a home uses: the embedded SQLite file (the default) or a PostgreSQL database.
//!
//! The choice comes from `--store URL` (env `LGPKI_STORE`) when given, else from what `init
//! --store` recorded in `HOME/store.url`, else SQLite in `HOME/lgpki.db`. The recorded URL
//! never holds a password: it comes from `PGPASSWORD` or `~/.pgpass` (or the URL given on the
//! command line), and is never logged.

use std::path::Path;

use super::{MetaStore, PgStore, SqliteStore, StatusReader, Store};
use crate::error::{Error, Result};

/// The file in a home recording its store's URL (written by `init --store postgres://…`).
pub const STORE_FILE: &str = "store.url";

/// The kind of store a home uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// The embedded SQLite file `HOME/lgpki.db`.
    Sqlite,
    /// A PostgreSQL database; the URL (it may hold a password: see [`redact_url`]).
    Postgres(String),
}

/// Parses a `--store` value: `sqlite` or `postgres://…` (`postgresql://…`).
fn parse(url: &str) -> Result<StoreKind> {
    let url = url.trim();
    if url.is_empty() || url == "sqlite" {
        Ok(StoreKind::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(StoreKind::Postgres(url.to_string()))
    } else {
        Err(Error::InvalidArgument {
            name: "--store",
            value: redact_url(url),
            reason: "expected sqlite or postgres://USER@HOST:PORT/DATABASE".into(),
        })
    }
}

/// The store `home` uses: `explicit` (`--store`) when given, else the recorded one, else
/// SQLite.
pub fn store_kind(home: &Path, explicit: Option<&str>) -> Result<StoreKind> {
    if let Some(url) = explicit {
        return parse(url);
    }
    match recorded_store(home)? {
        Some(url) => parse(&url),
        None => Ok(StoreKind::Sqlite),
    }
}

/// The store URL `init --store` recorded in `home`, if any.
pub fn recorded_store(home: &Path) -> Result<Option<String>> {
    let path = home.join(STORE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) => Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io { path, source }),
    }
}

/// Records `kind` in `home` (a PostgreSQL URL without its password), so that later commands
/// need no `--store`. SQLite is the default and records nothing.
pub fn record_store(home: &Path, kind: &StoreKind) -> Result<()> {
    match kind {
        StoreKind::Sqlite => Ok(()),
        StoreKind::Postgres(url) => crate::fsutil::write_private_file(
            &home.join(STORE_FILE),
            format!("{}\n", redact_url(&super::pgtls::absolute_files(url)?)).as_bytes(),
            true,
        ),
    }
}

/// Opens the store of `home` (see [`store_kind`]), creating an SQLite file or migrating a
/// PostgreSQL schema as needed.
pub fn open_store(home: &Path, explicit: Option<&str>) -> Result<Box<dyn Store>> {
    let store: Box<dyn Store> = match store_kind(home, explicit)? {
        StoreKind::Sqlite => Box::new(SqliteStore::open(&home.join(SqliteStore::FILE))?),
        StoreKind::Postgres(url) => Box::new(PgStore::open(&url)?),
    };
    // A store `store migrate` copied elsewhere is never used again (super::moved).
    super::moved::refuse_if_moved(store.meta(super::moved::MOVED_TO)?)?;
    Ok(store)
}

/// Opens the store of `home` for reading revocation status only (OCSP, validation, caches): a
/// [`StatusReader`], which has no method that writes, over a connection that refuses writes
/// as well (SQLite `PRAGMA query_only`, PostgreSQL `default_transaction_read_only`).
/// A store `store migrate` moved away is refused, as by [`open_store`].
pub fn open_status_reader(home: &Path, explicit: Option<&str>) -> Result<Box<dyn StatusReader>> {
    let (reader, mark): (Box<dyn StatusReader>, _) = match store_kind(home, explicit)? {
        StoreKind::Sqlite => {
            let s = SqliteStore::open_read_only(&home.join(SqliteStore::FILE))?;
            let mark = s.meta(super::moved::MOVED_TO)?;
            (Box::new(s), mark)
        }
        StoreKind::Postgres(url) => {
            let s = PgStore::open_read_only(&url)?;
            let mark = s.meta(super::moved::MOVED_TO)?;
            (Box::new(s), mark)
        }
    };
    super::moved::refuse_if_moved(mark)?;
    Ok(reader)
}

/// Opens where `home` records the serials of `serve`'s time-stamps: the same store as
/// [`open_store`] (its `timestamps` table), SQLite or PostgreSQL.
pub fn open_timestamp_store(
    home: &Path,
    explicit: Option<&str>,
) -> Result<Box<dyn crate::tsp_log::TimestampStore>> {
    Ok(match store_kind(home, explicit)? {
        StoreKind::Sqlite => Box::new(SqliteStore::open(&home.join(SqliteStore::FILE))?),
        StoreKind::Postgres(url) => Box::new(PgStore::open(&url)?),
    })
}

/// `url` without its password (userinfo `user:secret@` and a `password=` parameter).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{user}@{hosts}")
        }
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let kept: Vec<&str> = query
                .split('&')
                .filter(|kv| !kv.to_ascii_lowercase().starts_with("password="))
                .collect();
            if kept.is_empty() {
                path.to_string()
            } else {
                format!("{path}?{}", kept.join("&"))
            }
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// The name this process gives its PostgreSQL sessions (`application_name`).
static CLIENT_NAME: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// `application_name` of `serve`'s PostgreSQL sessions: `store migrate` and `restore` look for
/// it to refuse while an instance serves from the database.
pub const SERVE_CLIENT_NAME: &str = "lgpki serve";

/// Names this process's PostgreSQL sessions `name` (default `lgpki`), as
/// `pg_stat_activity.application_name` shows them. The first call wins.
pub fn name_store_client(name: &'static str) {
    let _ = CLIENT_NAME.set(name);
}

/// How to reach a PostgreSQL store: the client configuration and its TLS.
#[derive(Clone, Debug)]
pub(super) struct PgConnect {
    /// The client configuration (host, user, password, database…).
    pub(super) config: tokio_postgres::Config,
    /// Plain or TLS, as `sslmode` asks ([`super::pgtls`]).
    pub(super) tls: super::pgtls::TlsSetup,
}

/// The client configuration of `url` and its password-free form for messages. Without a
/// password in the URL, `PGPASSWORD` is used, else the first matching `~/.pgpass` line
/// (`PGPASSFILE` names another file), as libpq does. The TLS parameters (`sslmode`,
/// `sslrootcert`, `sslcert`, `sslkey`) are read by [`super::pgtls`].
pub(super) fn pg_config(url: &str) -> Result<(PgConnect, String)> {
    let target = redact_url(url);
    let (url, tls) = super::pgtls::split_url(url)?;
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| Error::InvalidArgument {
        name: "--store",
        value: target.clone(),
        reason: format!("not a PostgreSQL URL: {e}"),
    })?;
    if config.get_password().is_none() {
        if let Some(p) = std::env::var_os("PGPASSWORD") {
            config.password(p.into_encoded_bytes());
        } else if let Some(p) = pgpass_lookup(&config) {
            config.password(p);
        }
    }
    if config.get_user().is_none()
        && let Ok(user) = std::env::var("PGUSER")
    {
        config.user(&user);
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(std::time::Duration::from_secs(10));
    }
    config.application_name(CLIENT_NAME.get().copied().unwrap_or("lgpki"));
    let tls = super::pgtls::TlsSetup::new(tls, &mut config)?;
    Ok((PgConnect { config, tls }, target))
}

/// The password for `config` from the pgpass file, if one line matches
/// (`host:port:database:user:password`, `*` matching anything).
fn pgpass_lookup(config: &tokio_postgres::Config) -> Option<String> {
    let path = std::env::var_os("PGPASSFILE")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".pgpass")))?;
    let text = std::fs::read_to_string(path).ok()?;
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "localhost".to_string(),
    };
    let port = config
        .get_ports()
        .first()
        .copied()
        .unwrap_or(5432)
        .to_string();
    let user = config.get_user().unwrap_or_default().to_string();
    let db = config.get_dbname().unwrap_or(&user).to_string();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let fields = split_pgpass(line);
            let [h, p, d, u, pw] = fields.as_slice() else {
                return None;
            };
            let m = |pat: &String, v: &str| pat == "*" || pat == v;
            (m(h, &host) && m(p, &port) && m(d, &db) && m(u, &user)).then(|| pw.clone())
        })
}

/// One pgpass line's five fields (`\:` and `\\` escaped).
fn split_pgpass(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next()
                    && let Some(last) = out.last_mut()
                {
                    last.push(n);
                }
            }
            ':' if out.len() < 5 => out.push(String::new()),
            c => {
                if let Some(last) = out.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_removed_from_urls() {
        assert_eq!(
            redact_url("postgres://ca:s3cret@db.example:5432/lgpki?sslmode=disable"),
            "postgres://ca@db.example:5432/lgpki?sslmode=disable"
        );
        assert_eq!(
            redact_url("postgres://ca@h/db?password=s3cret&connect_timeout=3"),
            "postgres://ca@h/db?connect_timeout=3"
        );
        assert_eq!(redact_url("postgres://ca@h/db"), "postgres://ca@h/db");
        assert!(!redact_url("postgresql://u:p%40ss@h").contains("ss"));
    }

    #[test]
    fn store_values_are_checked() {
        assert_eq!(parse("sqlite").expect("sqlite"), StoreKind::Sqlite);
        assert!(matches!(
            parse("postgres://u@h/db").expect("pg"),
            StoreKind::Postgres(_)
        ));
        let err = parse("mysql://u:pw@h/db").expect_err("refused");
        assert!(!err.to_string().contains("pw"), "{err}");
    }

    #[test]
    fn pgpass_fields_unescape() {
        assert_eq!(
            split_pgpass(r"h:5432:*:u:p\:w\\d"),
            vec!["h", "5432", "*", "u", r"p:w\d"]
        );
    }
}
