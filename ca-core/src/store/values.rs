//! Typed values the store keeps as text: officer roles, request kinds and states. Each has one
//! text form, the same in the store's columns, the CLI, JSON and the RA API
//! (`shared/contract/cli.md`); text outside the set is a clear error, never a panic.
//!
//! The store's columns are read and written through these types: [`rusqlite`]'s
//! `FromSql`/`ToSql` and `tokio-postgres`'s `FromSql` are implemented here for them, for
//! [`Serial`] and for [`ReasonCode`], so a damaged row surfaces as a store error.

use std::fmt;
use std::str::FromStr;

use crate::crl::ReasonCode;
use crate::error::{Error, Result};
use crate::serial::Serial;

/// Defines a closed set of text values: the enum, `ALL`, `name()`, `Display`, `FromStr`
/// (exact match; anything else is [`Error::InvalidArgument`] naming the argument `$arg`), and
/// serde as the same text.
macro_rules! text_enum {
    (
        $(#[$m:meta])*
        pub enum $name:ident ($arg:literal) {
            $( $(#[$vm:meta])* $var:ident = $text:literal, )+
        }
    ) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vm])* $var, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            /// The text form (store column, CLI, JSON).
            pub fn name(self) -> &'static str {
                match self {
                    $( $name::$var => $text, )+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<$name> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.name() == s)
                    .ok_or_else(|| Error::InvalidArgument {
                        name: $arg,
                        value: s.to_string(),
                        reason: format!(
                            "expected one of {}",
                            $name::ALL.iter().map(|v| v.name()).collect::<Vec<_>>().join(", ")
                        ),
                    })
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(
                d: D,
            ) -> std::result::Result<$name, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        sql_text!($name);
    };
}

/// Reads and writes a type through its text form in both backends: the value's `Display`
/// text is written; a read parses with `FromStr` and a failure is a column error.
macro_rules! sql_text {
    ($name:ty) => {
        impl rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(rusqlite::types::ToSqlOutput::from(self.to_string()))
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<$name> {
                let text = value.as_str()?;
                from_column::<$name>(text)
                    .map_err(|e| rusqlite::types::FromSqlError::Other(e.into()))
            }
        }

        impl<'a> tokio_postgres::types::FromSql<'a> for $name {
            fn from_sql(
                ty: &tokio_postgres::types::Type,
                raw: &'a [u8],
            ) -> std::result::Result<$name, Box<dyn std::error::Error + Sync + Send>> {
                let text = <&str as tokio_postgres::types::FromSql>::from_sql(ty, raw)?;
                Ok(from_column::<$name>(text)?)
            }

            fn accepts(ty: &tokio_postgres::types::Type) -> bool {
                <&str as tokio_postgres::types::FromSql>::accepts(ty)
            }
        }
    };
}

/// A column's text as a `T` (the message names the value and what was expected).
fn from_column<T: FromStr<Err = Error>>(text: &str) -> std::result::Result<T, String> {
    text.parse()
        .map_err(|e: Error| format!("stored value: {e}"))
}

/// A stored serial: checked, not renormalised (the text is the row's key).
fn serial_from_column(text: &str) -> std::result::Result<Serial, String> {
    Serial::from_stored(text.to_string()).map_err(|e| e.to_string())
}

text_enum! {
    /// What a registration officer may do for their organisation.
    pub enum Role ("role") {
        /// 受付担当者: submits requests.
        Registrar = "registrar",
        /// 承認者: approves or rejects other officers' requests, manages officers.
        Approver = "approver",
    }
}

text_enum! {
    /// What a registration request asks for.
    pub enum RequestKind ("kind") {
        /// A new certificate.
        Issue = "issue",
        /// A revocation of one of the organisation's certificates.
        Revoke = "revoke",
        /// A renewal (更新申請): a new certificate for the subject of a good one.
        Renew = "renew",
    }
}

text_enum! {
    /// Where a registration request is in its life cycle: `pending` until an approver decides;
    /// then `issued` / `revoked` (done) or `rejected`.
    pub enum RequestState ("state") {
        /// Awaiting a decision.
        Pending = "pending",
        /// Approved, not yet carried out (kept for stores written by older versions).
        Approved = "approved",
        /// Rejected by an approver.
        Rejected = "rejected",
        /// Approved and its certificate issued.
        Issued = "issued",
        /// Approved and the certificate revoked.
        Revoked = "revoked",
    }
}

sql_text!(ReasonCode);

impl serde::Serialize for ReasonCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for ReasonCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<ReasonCode, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl rusqlite::types::ToSql for Serial {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::from(self.as_str()))
    }
}

impl rusqlite::types::FromSql for Serial {
    fn column_result(
        value: rusqlite::types::ValueRef<'_>,
    ) -> rusqlite::types::FromSqlResult<Serial> {
        let text = value.as_str()?;
        serial_from_column(text).map_err(|e| rusqlite::types::FromSqlError::Other(e.into()))
    }
}

impl<'a> tokio_postgres::types::FromSql<'a> for Serial {
    fn from_sql(
        ty: &tokio_postgres::types::Type,
        raw: &'a [u8],
    ) -> std::result::Result<Serial, Box<dyn std::error::Error + Sync + Send>> {
        let text = <&str as tokio_postgres::types::FromSql>::from_sql(ty, raw)?;
        Ok(serial_from_column(text)?)
    }

    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        <&str as tokio_postgres::types::FromSql>::accepts(ty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_are_the_contracts_and_unknown_text_is_refused() {
        assert_eq!(
            Role::ALL.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
            ["registrar", "approver"]
        );
        assert_eq!(
            RequestKind::ALL
                .iter()
                .map(|r| r.name())
                .collect::<Vec<_>>(),
            ["issue", "revoke", "renew"]
        );
        assert_eq!(
            RequestState::ALL
                .iter()
                .map(|r| r.name())
                .collect::<Vec<_>>(),
            ["pending", "approved", "rejected", "issued", "revoked"]
        );
        for r in RequestState::ALL {
            assert_eq!(r.name().parse::<RequestState>().expect("round trip"), *r);
            let json = serde_json::to_string(r).expect("json");
            assert_eq!(json, format!("\"{r}\""));
            assert_eq!(
                serde_json::from_str::<RequestState>(&json).expect("back"),
                *r
            );
        }
        // Exact text only: no case folding, no padding, nothing new.
        for bad in ["Registrar", " approver", "admin", ""] {
            let e = bad.parse::<Role>().expect_err(bad);
            assert!(e.to_string().contains("registrar, approver"), "{e}");
        }
        assert!(serde_json::from_str::<RequestKind>("\"delete\"").is_err());
        let r: ReasonCode = serde_json::from_str("\"keyCompromise\"").expect("reason");
        assert_eq!(r, ReasonCode::KeyCompromise);
        assert_eq!(
            serde_json::to_string(&r).expect("json"),
            "\"keyCompromise\""
        );
        assert!(serde_json::from_str::<ReasonCode>("\"stolen\"").is_err());
    }

    #[test]
    fn damaged_columns_are_errors_not_panics() {
        let db = rusqlite::Connection::open_in_memory().expect("db");
        let read = |text: &str| -> rusqlite::Result<(Option<Role>, Option<Serial>)> {
            db.query_row("SELECT ?1, ?1", [text], |r| {
                Ok((r.get(0).ok(), r.get(1).ok()))
            })
        };
        assert_eq!(read("approver").expect("row").0, Some(Role::Approver));
        assert_eq!(read("boss").expect("row").0, None);
        assert_eq!(
            read("0aff").expect("row").1.map(|s| s.to_string()),
            Some("0aff".into())
        );
        assert_eq!(read("0AFF").expect("row").1, None);
        let e = db
            .query_row("SELECT 'boss'", [], |r| r.get::<_, RequestState>(0))
            .expect_err("refused");
        assert!(e.to_string().contains("boss"), "{e}");
        // Written as their text.
        let back: String = db
            .query_row("SELECT ?1", [RequestState::Issued], |r| r.get(0))
            .expect("row");
        assert_eq!(back, "issued");
    }
}
