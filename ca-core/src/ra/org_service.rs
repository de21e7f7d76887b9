//! What an organisation's officers see and do beyond the request life cycle: their
//! organisation's certificates (list, search, expiring soon), renewal (更新申請), the release of a
//! `certificateHold`, and the organisation's officers (added and removed by its approvers).

use std::collections::HashSet;

use der::Decode;
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectAltName;

use super::{Actor, bind_org, require_role};
use crate::authority::{Authority, now_seconds};
use crate::crl::ReasonCode;
use crate::error::{Error, Result};
use crate::issue::{IssuanceRequest, Issued, apply_subject_rules, rfc3339};
use crate::name::{AttrType, DistinguishedName};
use crate::serial::Serial;
use crate::store::{
    CertFilter, CertRecord, CertStatus, OfficerRecord, RequestKind, RequestRecord, RequestState,
    Role,
};

/// Profiles of CA certificates: never an organisation's, never renewed through the RA.
const CA_PROFILES: [&str; 3] = ["root", "sub-ca", "cross"];

/// Which of an organisation's certificates to list.
#[derive(Clone, Debug, Default)]
pub struct OrgCertQuery {
    /// Only those whose subject or serial contains this text (case-insensitive).
    pub text: Option<String>,
    /// Only this profile's.
    pub profile: Option<String>,
    /// Only with this status now.
    pub status: Option<CertStatus>,
    /// Only good certificates whose notAfter is within this many days from now.
    pub expiring_within_days: Option<u32>,
}

/// The prefix of the idempotency keys of renewals' issuances (one per renewal request).
pub const RENEWAL_REQUEST_ID_PREFIX: &str = "ra-renewal-";

/// Decides whether a certificate belongs to one organisation: one of its requests produced it,
/// or its subject's OU is the organisation's name (the name every request binds, see `bind_org`).
struct OrgMembership {
    serials: HashSet<Serial>,
    name: String,
}

impl OrgMembership {
    fn contains(&self, rec: &CertRecord) -> bool {
        if CA_PROFILES.contains(&rec.profile.as_str()) {
            return false;
        }
        if self.serials.contains(&rec.serial) {
            return true;
        }
        // The first OU is the 団体 (a second one is the 部署).
        DistinguishedName::parse(&rec.subject)
            .ok()
            .and_then(|d| d.get(AttrType::Ou).map(|ou| ou == self.name))
            .unwrap_or(false)
    }
}

/// The subjectAltName entries of a certificate, as `type:value` strings.
fn cert_sans(der: &[u8]) -> Result<Vec<String>> {
    let cert = Certificate::from_der(der).map_err(|e| Error::malformed("certificate", e))?;
    let mut out = Vec::new();
    for ext in cert.tbs_certificate().extensions().into_iter().flatten() {
        if ext.extn_id == const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME {
            let san = SubjectAltName::from_der(ext.extn_value.as_bytes())
                .map_err(|e| Error::malformed("subjectAltName", e))?;
            out.extend(
                san.0
                    .iter()
                    .filter_map(crate::san::SanEntry::from_general_name)
                    .map(|e| e.to_string()),
            );
        }
    }
    Ok(out)
}

impl Authority {
    fn org_membership(&self, org: &str) -> Result<OrgMembership> {
        let name = self.org(org)?.name;
        let serials = self
            .store
            .requests(Some(org), Some(RequestState::Issued))?
            .into_iter()
            .filter(|r| r.kind == RequestKind::Issue)
            .filter_map(|r| r.serial)
            .collect();
        Ok(OrgMembership { serials, name })
    }

    /// The organisation an officer acts for (None for the operator: every organisation).
    fn actor_org(actor: &Actor) -> Option<&str> {
        match actor {
            Actor::Operator => None,
            Actor::Officer { org, .. } => Some(org.as_str()),
        }
    }

    /// Certificates of the actor's organisation (the operator: all end-entity certificates)
    /// matching `q`, in issuance order.
    pub fn org_certificates(&self, actor: &Actor, q: &OrgCertQuery) -> Result<Vec<CertRecord>> {
        let now = now_seconds().unix_timestamp();
        let member = Self::actor_org(actor)
            .map(|o| self.org_membership(o))
            .transpose()?;
        let all = self.store.certs(&CertFilter {
            ca: None,
            profile: q.profile.clone(),
            status: q.status,
            now,
        })?;
        let text = q.text.as_deref().map(str::to_lowercase);
        let horizon = q.expiring_within_days.map(|d| now + i64::from(d) * 86_400);
        Ok(all
            .into_iter()
            .filter(|c| match &member {
                Some(m) => m.contains(c),
                None => !CA_PROFILES.contains(&c.profile.as_str()),
            })
            .filter(|c| {
                text.as_deref().is_none_or(|t| {
                    c.subject.to_lowercase().contains(t) || c.serial.as_str().contains(t)
                })
            })
            .filter(|c| {
                horizon.is_none_or(|h| c.status_at(now) == CertStatus::Good && c.not_after <= h)
            })
            .collect())
    }

    /// One certificate of the actor's organisation. Another organisation's certificate is
    /// reported as not found: an officer learns nothing of it.
    pub fn org_certificate(&self, actor: &Actor, serial: &str) -> Result<CertRecord> {
        let hex: Serial = serial.parse()?;
        let not_found = || Error::CertificateNotFound {
            serial: hex.to_string(),
        };
        let rec = self.store.cert(&hex, None)?.ok_or_else(not_found)?;
        match Self::actor_org(actor) {
            None => Ok(rec),
            Some(org) if self.org_membership(org)?.contains(&rec) => Ok(rec),
            Some(_) => Err(not_found()),
        }
    }

    /// A renewal (更新申請) of one of the organisation's certificates: a new CSR for the same
    /// subject, profile and subjectAltNames. Once approved and issued, the old certificate is
    /// revoked `superseded` if `supersede`, else left to expire. Checked in full now.
    pub fn request_renew(
        &mut self,
        actor: &Actor,
        serial: &str,
        csr_der: &[u8],
        supersede: bool,
    ) -> Result<RequestRecord> {
        let old = self.org_certificate(actor, serial)?;
        let org = match Self::actor_org(actor) {
            Some(o) => o.to_string(),
            None => self
                .org_of_cert(&old)?
                .ok_or_else(|| Error::PolicyRefused {
                    detail: format!(
                        "certificate {} belongs to no registered organisation",
                        old.serial
                    ),
                })?,
        };
        require_role(actor, &org, Role::Registrar)
            .or_else(|_| require_role(actor, &org, Role::Approver))?;
        if old.status_at(now_seconds().unix_timestamp()) != CertStatus::Good {
            return Err(Error::PolicyRefused {
                detail: format!(
                    "certificate {} is {}; only a good certificate is renewed (submit a new request instead)",
                    old.serial,
                    match old.status_at(now_seconds().unix_timestamp()) {
                        CertStatus::Revoked => "revoked",
                        _ => "expired",
                    }
                ),
            });
        }
        let org_rec = self.org(&org)?;
        let prof = self.policies.profile(&old.profile)?.clone();
        crate::csr::verify_csr(csr_der)?;
        let mut dn = DistinguishedName::parse(&old.subject)?;
        bind_org(&mut dn, &org_rec)?;
        let dn = apply_subject_rules(&prof, dn)?;
        let req = RequestRecord {
            id: 0,
            kind: RequestKind::Renew,
            org,
            state: RequestState::Pending,
            profile: Some(old.profile.clone()),
            csr_der: Some(csr_der.to_vec()),
            subject: Some(dn.to_string()),
            sans: cert_sans(&old.der)?,
            submitted_by: actor.label(),
            decided_by: None,
            reject_reason: None,
            // The certificate renewed; the new one is found by its issuance's request id.
            serial: Some(old.serial.clone()),
            revoke_reason: supersede.then_some(ReasonCode::Superseded),
            created: rfc3339(now_seconds().unix_timestamp()),
        };
        self.check_issuable(&req)?;
        let mut stored = req.clone();
        stored.id = self.store.add_request(&req)?;
        Ok(stored)
    }

    /// Issues an approved renewal (the checks of `request_approve` have passed) and, if asked,
    /// revokes the renewed certificate `superseded`.
    pub(super) fn renewal_approve(&mut self, mut req: RequestRecord) -> Result<RequestRecord> {
        let id = req.id;
        self.issue(IssuanceRequest {
            profile: req.profile.clone().unwrap_or_default(),
            csr_der: req.csr_der.clone().unwrap_or_default(),
            ca: None,
            subject: req.subject.clone(),
            sans: req.sans.clone(),
            days: None,
            request_id: Some(format!("{RENEWAL_REQUEST_ID_PREFIX}{id}")),
        })?;
        if req.revoke_reason == Some(ReasonCode::Superseded)
            && let Some(old) = req.serial.clone()
        {
            self.revoke_one(&old, ReasonCode::Superseded)?;
        }
        req.state = RequestState::Issued;
        self.store
            .update_request(&req, RequestState::Pending, "request.approve")?;
        Ok(req)
    }

    /// The certificate an issued request (issue or renewal) produced.
    pub fn request_certificate(&mut self, actor: &Actor, id: i64) -> Result<Issued> {
        let req = self.visible_request(actor, id)?;
        if req.kind != RequestKind::Renew {
            return self.request_fetch(actor, id);
        }
        if req.state != RequestState::Issued {
            return Err(Error::PolicyRefused {
                detail: format!("request {id} is {}; nothing to fetch", req.state),
            });
        }
        let rec = self
            .store
            .cert_by_request_id(&format!("{RENEWAL_REQUEST_ID_PREFIX}{id}"))?
            .ok_or_else(|| Error::CertificateNotFound {
                serial: format!("of request {id}"),
            })?;
        Ok(Issued {
            pem: crate::input::to_pem("CERTIFICATE", &rec.der),
            serial: rec.serial,
            ca: rec.ca,
            profile: rec.profile,
            subject: rec.subject,
            not_before: rfc3339(rec.not_before),
            not_after: rfc3339(rec.not_after),
            der: rec.der,
            replayed: false,
        })
    }

    /// Releases a `certificateHold` on one of the organisation's certificates (an approver of
    /// it, or the operator): good again, and removeFromCRL in the next delta CRL.
    pub fn unhold(&mut self, actor: &Actor, serial: &str) -> Result<CertRecord> {
        let rec = self.org_certificate(actor, serial)?;
        if let Some(org) = Self::actor_org(actor) {
            require_role(actor, org, Role::Approver)?;
        }
        self.act_as(actor);
        self.store
            .release_hold(&rec.serial, Some(&rec.ca), now_seconds().unix_timestamp())
    }

    /// The officers of the actor's organisation (the operator: all).
    pub fn org_officers(&self, actor: &Actor) -> Result<Vec<OfficerRecord>> {
        let org = Self::actor_org(actor);
        Ok(self
            .store
            .officers()?
            .into_iter()
            .filter(|o| org.is_none_or(|g| g == o.org))
            .collect())
    }

    /// Registers an officer of the actor's organisation (an approver of it): the certificate
    /// must be one this CA issued, good now, and the organisation's own.
    pub fn officer_add_by_approver(
        &mut self,
        actor: &Actor,
        cert_der: &[u8],
        role: Role,
    ) -> Result<OfficerRecord> {
        let Some(org) = Self::actor_org(actor).map(str::to_string) else {
            return Err(Error::PolicyRefused {
                detail: "the operator registers officers with `officer add --org`".into(),
            });
        };
        require_role(actor, &org, Role::Approver)?;
        let (_, serial, _) = self.check_our_good_cert(cert_der)?;
        let rec = self
            .store
            .cert(&serial, None)?
            .ok_or_else(|| Error::CertificateNotFound {
                serial: serial.to_string(),
            })?;
        if !self.org_membership(&org)?.contains(&rec) {
            return Err(Error::PolicyRefused {
                detail: format!("certificate {serial} is not one of organisation {org}'s"),
            });
        }
        self.act_as(actor);
        self.register_officer(&org, cert_der, role, None)
    }

    /// Removes an officer (an approver of the same organisation, or the operator). An approver
    /// may not remove themselves: another approver must, so an organisation is never locked out
    /// by a slip.
    pub fn officer_remove(&mut self, actor: &Actor, id: i64) -> Result<OfficerRecord> {
        let target = self
            .store
            .officers()?
            .into_iter()
            .find(|o| o.id == id)
            .filter(|o| actor.may_act_for(&o.org))
            .ok_or_else(|| Error::PolicyRefused {
                detail: format!("no officer {id} for you"),
            })?;
        require_role(actor, &target.org, Role::Approver)?;
        if let Actor::Officer { id: me, .. } = actor
            && *me == id
        {
            return Err(Error::PolicyRefused {
                detail: "an officer may not remove themselves; another approver must".into(),
            });
        }
        self.act_as(actor);
        self.store
            .remove_officer(id)?
            .ok_or_else(|| Error::PolicyRefused {
                detail: format!("no officer {id} for you"),
            })
    }
}
