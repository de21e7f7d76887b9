//! The CA's durable store: the [`Store`] trait, the narrow capability traits it is made of,
//! and the types it keeps.
//!
//! The embedded default is [`SqliteStore`]; [`PgStore`] keeps the same in PostgreSQL, shared
//! by several CA instances. [`open_store`] opens the one a home is configured for. Every state-changing method appends its audit records
//! ([`AuditRecord`]) in the same transaction as the change.

mod audit;
mod audit_log;
mod cas;
mod certs;
mod location;
mod meta;
pub mod moved;
mod pgconn;
mod pgtls;
mod postgres;
mod registration;
mod revocations;
mod sqlite;
mod status;
pub mod transfer;
mod values;

pub use audit::{AuditCheckpoint, AuditRecord, verify_chain};
pub use audit_log::AuditLog;
pub use cas::CaStore;
pub use certs::CertStore;
pub use location::{
    SERVE_CLIENT_NAME, STORE_FILE, StoreKind, name_store_client, open_status_reader, open_store,
    open_timestamp_store, record_store, recorded_store, redact_url, store_kind,
};
pub use meta::MetaStore;
pub use postgres::PgStore;
pub use registration::Registration;
pub use revocations::RevocationStore;
pub use sqlite::SqliteStore;
pub use status::StatusReader;
pub use values::{RequestKind, RequestState, Role};

use std::sync::Arc;

use crate::clock::Clock;
pub use crate::crl::ReasonCode;
use crate::error::Result;
use crate::key::KeyAlgorithm;
pub use crate::serial::Serial;

/// Whether revoking `rec` for `reason` changes it, the rule every backend applies: a good
/// certificate is revoked; a revoked one keeps its first time and reason (revocation is
/// idempotent), except that a `certificateHold` may be made permanent with another reason
/// (RFC 5280 §5.3.1).
/// Whether a certificate of `profile` is a CA certificate (ARL scope, RFC 5280 §5.2.5): a
/// CA's own certificate, a cross-certificate or a link certificate.
pub(crate) fn is_ca_profile(profile: &str) -> bool {
    matches!(profile, "root" | "sub-ca" | "cross" | "link")
}

pub(crate) fn revocation_changes(rec: &CertRecord, reason: ReasonCode) -> bool {
    let hold_made_permanent =
        rec.reason == Some(ReasonCode::CertificateHold) && reason != ReasonCode::CertificateHold;
    rec.revoked_at.is_none() || hold_made_permanent
}

/// The refusal of a renewal whose pending key another renewal claimed meanwhile.
pub(crate) fn renewal_cancelled(ca: &str) -> crate::error::Error {
    crate::error::Error::PolicyRefused {
        detail: format!(
            "another `ca renew {ca}` cancelled this one (its new key was removed); nothing was changed"
        ),
    }
}

/// Refuses a certificate prepared with generation `expected` of CA `ca` when `current` is in
/// force: the CA was renewed meanwhile, and what was prepared names the wrong key. With
/// `by_retired_key` ([`PendingCert::by_retired_key`]) it is the other way round: `expected`
/// must be a retired generation, older than `current`.
pub(crate) fn check_generation(
    ca: &str,
    expected: u32,
    current: u32,
    by_retired_key: bool,
) -> Result<()> {
    if by_retired_key {
        if expected < current {
            return Ok(());
        }
        return Err(crate::error::Error::PolicyRefused {
            detail: format!(
                "CA {ca:?} is at key generation {current}: generation {expected} is not a retired one; nothing was recorded"
            ),
        });
    }
    if expected == current {
        return Ok(());
    }
    Err(crate::error::Error::PolicyRefused {
        detail: format!(
            "CA {ca:?} is at key generation {current}, not {expected} (it was renewed meanwhile); nothing was recorded, try again"
        ),
    })
}

/// The audit details of a renewal (every backend writes the same).
pub(crate) fn renewal_details(r: &CaRenewal) -> serde_json::Value {
    serde_json::json!({
        "generation": r.ca.generation,
        "serial": r.cert.serial,
        "issuer": r.cert.ca,
        "links": r.links.iter().map(|(p, _)| p.serial.clone()).collect::<Vec<_>>(),
        "crosses": r.crosses.iter().map(|(p, _)| serde_json::json!({"serial": p.serial, "issuer": p.ca})).collect::<Vec<_>>(),
        "key_alg": r.ca.key_alg.name(),
        "key": crate::key::KeyRef(r.ca.key_ref.clone()).location(),
    })
}

/// Called with (serial, revocation time, reason) for each certificate of a CA. The serial is
/// the stored text of a [`Serial`] (lower-case hex), borrowed from the row being read, so a
/// snapshot of millions allocates nothing per certificate.
pub type StatusVisitor<'a> = dyn FnMut(&str, Option<i64>, Option<ReasonCode>) -> Result<()> + 'a;

/// A CA as the store keeps it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CaRecord {
    /// The CA's name.
    pub name: String,
    /// The CA that issued its certificate (None: self-signed).
    pub parent: Option<String>,
    /// Its certificate, DER.
    #[serde(skip)]
    pub cert_der: Vec<u8>,
    /// Where its key is (`soft:keys/NAME.p8` or a `pkcs11:` URI).
    pub key_ref: String,
    /// Its key algorithm.
    pub key_alg: KeyAlgorithm,
    /// The profiles it issues by default.
    pub profiles: Vec<String>,
    /// Its key generation: 1 for the first key, one more after each `ca renew`.
    pub generation: u32,
}

/// A key generation of a CA that a renewal retired: it signs nothing new, but keeps signing
/// CRLs (and OCSP answers) for what it issued until the last of those certificates expires.
#[derive(Clone, Debug)]
pub struct CaGeneration {
    /// The CA's name.
    pub ca: String,
    /// The generation number (1 for the first key).
    pub generation: u32,
    /// The CA certificate of that generation, DER.
    pub cert_der: Vec<u8>,
    /// Where that generation's key is.
    pub key_ref: String,
    /// Its key algorithm.
    pub key_alg: KeyAlgorithm,
    /// When the renewal retired it, Unix seconds.
    pub retired_at: i64,
}

/// A key being generated for a CA's next generation: recorded before the key exists, so a
/// renewal killed half-way leaves no key the store does not know about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingKey {
    /// The CA being renewed.
    pub ca: String,
    /// The generation the key is for.
    pub generation: u32,
    /// The key's label (software: `keys/LABEL.p8`; PKCS#11: CKA_LABEL).
    pub label: String,
    /// The PKCS#11 token URI the key is generated in (None: software).
    pub key_uri: Option<String>,
}

/// Everything a CA renewal records, in one transaction: the CA's new generation, the new CA
/// certificate and the link certificates.
#[derive(Clone, Debug)]
pub struct CaRenewal {
    /// The CA as it is from now on (its `generation` one above the one in force).
    pub ca: CaRecord,
    /// The new CA certificate's record (issued by the CA itself or by its parent).
    pub cert: PendingCert,
    /// The new CA certificate, DER.
    pub cert_der: Vec<u8>,
    /// Link certificates (RFC 4210 §4.4: OldWithNew, NewWithOld), with their records.
    pub links: Vec<(PendingCert, Vec<u8>)>,
    /// Cross-certificates re-issued for the new key (by the CA's new key, or to it by another
    /// of our CAs), with their records: recorded in the same transaction as the switch, so
    /// the new key is never in force without them.
    pub crosses: Vec<(PendingCert, Vec<u8>)>,
    /// The cross-certificate pair halves `crosses` fill (RFC 4523 §2.5), recorded with them.
    pub cross_sides: Vec<CrossPairSide>,
    /// The label of the new key's [`PendingKey`]: the renewal is refused (nothing changed)
    /// unless that record is still there and not claimed for removal.
    pub pending_label: Option<String>,
}

/// Life-cycle state of an issued certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CertStatus {
    /// Issued and not revoked (may still be expired; see [`CertRecord::status_at`]).
    Good,
    /// Revoked.
    Revoked,
    /// Past notAfter.
    Expired,
}

/// An issued certificate.
#[derive(Clone, Debug)]
pub struct CertRecord {
    /// Serial.
    pub serial: Serial,
    /// Issuing CA.
    pub ca: String,
    /// Profile it was issued under.
    pub profile: String,
    /// Subject, RFC 4514.
    pub subject: String,
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// Revocation time, Unix seconds, if revoked.
    pub revoked_at: Option<i64>,
    /// RFC 5280 reason, if revoked.
    pub reason: Option<ReasonCode>,
    /// invalidityDate (RFC 5280 §5.3.2), Unix seconds, if given.
    pub invalidity_date: Option<i64>,
}

impl CertRecord {
    /// good / revoked / expired at `now` (Unix seconds).
    pub fn status_at(&self, now: i64) -> CertStatus {
        if self.revoked_at.is_some() {
            CertStatus::Revoked
        } else if self.not_after < now {
            CertStatus::Expired
        } else {
            CertStatus::Good
        }
    }
}

/// A certificate about to be signed: recorded (with its TBS) before the CA key signs.
#[derive(Clone, Debug)]
pub struct PendingCert {
    /// Serial.
    pub serial: Serial,
    /// Issuing CA.
    pub ca: String,
    /// Profile.
    pub profile: String,
    /// Subject, RFC 4514.
    pub subject: String,
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// The linted TBSCertificate that will be signed.
    pub tbs_der: Vec<u8>,
    /// A caller-chosen idempotency key (e.g. a batch line's `id`), unique when set.
    pub request_id: Option<String>,
    /// The key generation of the issuing CA that signs it. `Some(g)`: the reservation is
    /// refused unless `g` is the CA's generation in force (the CA was renewed meanwhile);
    /// `None`: whatever generation is in force.
    pub issuer_generation: Option<u32>,
    /// Signed on purpose by the retired generation `issuer_generation` names, which must be
    /// older than the one in force: only an old key certifying its own delegated OCSP
    /// responder at `publish` (RFC 6960 §4.2.2.2). Never stored; false for all else.
    pub by_retired_key: bool,
}

/// Which certificates `cert list` shows.
#[derive(Clone, Debug, Default)]
pub struct CertFilter {
    /// Only this CA's.
    pub ca: Option<String>,
    /// Only this profile's.
    pub profile: Option<String>,
    /// Only certificates with this status (at `now`).
    pub status: Option<CertStatus>,
    /// The time status is judged at, Unix seconds.
    pub now: i64,
}

/// The CA's persistent state: every capability at once, as [`open_store`] opens it.
///
/// The store is split by privilege into narrow traits, and code takes the narrowest it needs:
/// [`StatusReader`] (read-only status: OCSP, validation), [`CertStore`] (issuance),
/// [`RevocationStore`] (revocation, CRL numbers), [`CaStore`] (CAs, renewals, cross pairs),
/// [`Registration`] (organisations, officers, requests), [`AuditLog`] and [`MetaStore`]. Any
/// type with all of them is a `Store` (a blanket implementation), and a `&dyn Store` coerces to
/// any of them.
///
/// The store dates what it records itself (audit records, serial reservations, CRL and
/// pending-key records) by its own clock, [`Store::set_clock`]; [`crate::Authority::set_clock`]
/// sets it to the authority's.
///
/// Every method that appends an audit record takes `actor`, the audit log's name for who acts
/// ([`crate::Actor::label`]), with that call: the store holds no acting party, so a store
/// shared by several requests (`serve`) or instances never records one party's act under
/// another's name. [`crate::Authority`] passes the party it acts for.
pub trait Store:
    MetaStore + StatusReader + CertStore + RevocationStore + CaStore + Registration + AuditLog + Send
{
    /// Replaces the clock the store dates its own records with (the system clock by
    /// default): each write transaction reads it once, so its records share one time.
    fn set_clock(&mut self, clock: Arc<dyn Clock>);
}

/// Which half of a CA's cross-certificate pair a certificate is (RFC 4523 §2.5
/// crossCertificatePair; X.509 §11.2.3 CertificatePair).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CrossDirection {
    /// issuedToThisCA (`forward`): the peer certifies our CA.
    IssuedToThisCa,
    /// issuedByThisCA (`reverse`): our CA certifies the peer.
    IssuedByThisCa,
}

/// One cross-certificate as one half of one of our CA's pairs.
#[derive(Clone, Debug)]
pub struct CrossPairSide {
    /// Our CA.
    pub ca: String,
    /// Key identifier (hex) of our CA's key the certificate names.
    pub ca_key: String,
    /// The other CA's name, RFC 4514.
    pub peer: String,
    /// Key identifier (hex) of the other CA's key (empty when the certificate names none).
    pub peer_key: String,
    /// Which half.
    pub direction: CrossDirection,
    /// The certificate, DER.
    pub der: Vec<u8>,
}

/// A cross-certificate pair of one of our CAs with one peer CA key (RFC 4523 §2.5).
#[derive(Clone, Debug)]
pub struct CrossPair {
    /// Store id.
    pub id: i64,
    /// Our CA.
    pub ca: String,
    /// Key identifier (hex) of our CA's key.
    pub ca_key: String,
    /// The other CA's name, RFC 4514.
    pub peer: String,
    /// Key identifier (hex) of the other CA's key.
    pub peer_key: String,
    /// issuedToThisCA (forward), DER.
    pub issued_to_this_ca: Option<Vec<u8>>,
    /// issuedByThisCA (reverse), DER.
    pub issued_by_this_ca: Option<Vec<u8>>,
}

/// A local government organisation (団体).
#[derive(Clone, Debug, serde::Serialize)]
pub struct OrgRecord {
    /// 6-digit 団体コード (JIS X 0402 with its check digit).
    pub code: String,
    /// The organisation's name (bound into subjects as OU).
    pub name: String,
}

/// A registration officer (登録分局), identified by the certificate they authenticate with.
#[derive(Clone, Debug, serde::Serialize)]
pub struct OfficerRecord {
    /// Store id.
    pub id: i64,
    /// Organisation code.
    pub org: String,
    /// Registrar or approver.
    pub role: Role,
    /// Issuer DN of the officer's certificate (RFC 4514).
    pub cert_issuer: String,
    /// Serial of the officer's certificate.
    pub cert_serial: Serial,
    /// Subject DN of the officer's certificate.
    pub subject: String,
    /// The certificate, DER.
    #[serde(skip)]
    pub cert_der: Vec<u8>,
    /// The person behind the record (default: the certificate's subject DN): one person's
    /// records count as one officer for four-eyes rules.
    #[serde(default)]
    pub person: String,
}

/// A registration request (issue or revoke) and its life cycle.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RequestRecord {
    /// Store id.
    pub id: i64,
    /// Issue, revoke or renew.
    pub kind: RequestKind,
    /// Organisation code.
    pub org: String,
    /// Where it is in its life cycle.
    pub state: RequestState,
    /// Profile (issue requests).
    pub profile: Option<String>,
    /// CSR, DER (issue requests).
    #[serde(skip, default)]
    pub csr_der: Option<Vec<u8>>,
    /// Subject DN asked for.
    pub subject: Option<String>,
    /// subjectAltNames asked for.
    pub sans: Vec<String>,
    /// Who submitted it.
    pub submitted_by: String,
    /// Who approved or rejected it.
    pub decided_by: Option<String>,
    /// Why it was rejected.
    pub reject_reason: Option<String>,
    /// The certificate issued, or the one to revoke or renew.
    pub serial: Option<Serial>,
    /// Revocation reason (revoke requests; `superseded` on a renewal that revokes the old one).
    pub revoke_reason: Option<ReasonCode>,
    /// When it was submitted (RFC 3339).
    pub created: String,
}

/// A request to revoke one certificate.
#[derive(Clone, Debug)]
pub struct RevocationRequest {
    /// Serial.
    pub serial: Serial,
    /// The issuing CA, if known.
    pub ca: Option<String>,
    /// RFC 5280 reason (never removeFromCRL).
    pub reason: ReasonCode,
    /// Revocation time, Unix seconds.
    pub time: i64,
    /// invalidityDate, Unix seconds.
    pub invalidity_date: Option<i64>,
}

/// What a revocation did.
#[derive(Clone, Debug)]
pub struct RevokeOutcome {
    /// The certificate as it is now.
    pub record: CertRecord,
    /// True if it was already revoked (the first time and reason are kept).
    pub already: bool,
}

/// The revocation state of one issued certificate ([`StatusReader::cert_status`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredStatus {
    /// Revocation time, Unix seconds; `None` while the certificate is not revoked.
    pub revoked_at: Option<i64>,
    /// RFC 5280 reason of the revocation.
    pub reason: Option<ReasonCode>,
}

/// A revoked certificate, as a CRL lists it (borrowed from the store's row).
#[derive(Clone, Copy, Debug)]
pub struct RevokedEntry<'a> {
    /// Serial: the stored text of a [`Serial`] (lower-case hex), borrowed from the row.
    pub serial: &'a str,
    /// Revocation time, Unix seconds.
    pub revoked_at: i64,
    /// RFC 5280 reason.
    pub reason: ReasonCode,
    /// invalidityDate, Unix seconds.
    pub invalidity_date: Option<i64>,
    /// Whether the certificate is a CA certificate (for ARL scoping).
    pub is_ca: bool,
}

#[cfg(test)]
mod tests {
    use super::check_generation;

    #[test]
    fn only_a_reservation_marked_by_a_retired_key_may_name_a_retired_generation() {
        assert!(check_generation("org", 2, 2, false).is_ok());
        assert!(
            check_generation("org", 1, 2, false).is_err(),
            "renewed meanwhile"
        );
        assert!(check_generation("org", 3, 2, false).is_err());
        assert!(check_generation("org", 1, 2, true).is_ok(), "a retired key");
        let e = check_generation("org", 2, 2, true).expect_err("the key in force is not retired");
        assert!(e.to_string().contains("not a retired one"), "{e}");
        assert!(
            check_generation("org", 3, 2, true).is_err(),
            "not yet in force"
        );
    }
}
