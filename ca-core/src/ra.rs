//! Registration (登録分局): organisations, officers identified by their certificates, and the
//! request life cycle (submit → approve by a different approver of the same organisation →
//! issued; reject; revoke requests). Local commands on the center host act as the operator.

use der::{Decode, Encode};
use x509_cert::Certificate;

use crate::authority::{Authority, now_seconds};
use crate::crl::ReasonCode;
use crate::error::{Error, Result};
use crate::issue::{IssuanceRequest, Issued, apply_subject_rules, rfc3339};
use crate::name::{AttrType, DistinguishedName, name_to_string};
use crate::org_names::OrgName;
use crate::revoke::Revocation;
use crate::san::SanEntry;
use crate::serial::Serial;
use crate::store::{OfficerRecord, OrgRecord, RequestKind, RequestRecord, RequestState, Role};

mod org_service;
pub use org_service::{OrgCertQuery, RENEWAL_REQUEST_ID_PREFIX};

/// Who is acting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// The center's operator (local commands on the CA host).
    Operator,
    /// A registration officer, authenticated by certificate.
    Officer {
        /// Officer id.
        id: i64,
        /// Organisation code.
        org: String,
        /// Registrar or approver.
        role: Role,
        /// Subject of the officer's certificate.
        subject: String,
    },
}

impl Actor {
    /// The actor as recorded in the audit log.
    pub fn label(&self) -> String {
        match self {
            Actor::Operator => operator_label(),
            Actor::Officer {
                id,
                org,
                role,
                subject,
            } => format!("officer#{id} {role} of {org} ({subject})"),
        }
    }

    fn may_act_for(&self, org: &str) -> bool {
        match self {
            Actor::Operator => true,
            Actor::Officer { org: o, .. } => o == org,
        }
    }
}

/// The local operator as the audit log names them: `os:USER`, the operating-system account
/// running the command (looked up by uid in /etc/passwd, else `$USER`, else `os:uid=N`).
pub fn operator_label() -> String {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    let from_passwd = uid.and_then(|uid| {
        std::fs::read_to_string("/etc/passwd")
            .ok()?
            .lines()
            .find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                let id: u32 = f.nth(1)?.parse().ok()?;
                (id == uid).then(|| name.to_string())
            })
    });
    let name = from_passwd
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .or_else(|| uid.map(|u| format!("uid={u}")))
        .unwrap_or_else(|| "unknown".into());
    format!("os:{name}")
}

/// Checks a 6-digit 団体コード: five digits and the JIS X 0402 check digit
/// `(11 - (d1*6 + d2*5 + d3*4 + d4*3 + d5*2) mod 11) mod 10`.
pub fn check_org_code(code: &str) -> Result<()> {
    let bad = |reason: String| Error::InvalidArgument {
        name: "--code",
        value: code.to_string(),
        reason,
    };
    let digits: Vec<u32> = code
        .chars()
        .map(|c| c.to_digit(10))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| bad("digits only".into()))?;
    if digits.len() != 6 {
        return Err(bad("a 団体コード has 6 digits (5 + check digit)".into()));
    }
    let sum: u32 = digits[..5]
        .iter()
        .zip([6, 5, 4, 3, 2])
        .map(|(d, w)| d * w)
        .sum();
    let check = (11 - sum % 11) % 10;
    if digits[5] != check {
        return Err(bad(format!(
            "wrong check digit: {} expected for {}",
            check,
            &code[..5]
        )));
    }
    Ok(())
}

impl Authority {
    /// Revokes one certificate, now, for an approved request; its own failure is the error.
    pub(crate) fn revoke_one(&mut self, serial: &Serial, reason: ReasonCode) -> Result<()> {
        let mut out = self.revoke(&[Revocation {
            serial: serial.to_string(),
            reason: reason.name().to_string(),
            ca: None,
            invalidity_date: None,
        }])?;
        out.pop().unwrap_or_else(|| {
            Err(Error::PolicyRefused {
                detail: "not revoked".into(),
            })
        })?;
        Ok(())
    }

    /// Sets who is acting (recorded in every audit record that follows).
    pub fn act_as(&mut self, actor: &Actor) {
        self.store.set_actor(&actor.label());
    }

    /// Registers an organisation (operator only).
    pub fn org_add(&mut self, actor: &Actor, code: &str, name: &str) -> Result<OrgRecord> {
        require_operator(actor, "register organisations")?;
        check_org_code(code)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > AttrType::Ou.max_len() {
            return Err(Error::InvalidArgument {
                name: "--name",
                value: name.to_string(),
                reason: "1 to 64 characters".into(),
            });
        }
        if let Some(bad) = crate::name::find_forbidden_char(name) {
            return Err(Error::InvalidArgument {
                name: "--name",
                value: name.escape_default().to_string(),
                reason: format!("contains {bad}"),
            });
        }
        let org = OrgRecord {
            code: code.to_string(),
            name: name.to_string(),
        };
        self.store.add_org(&org)?;
        Ok(org)
    }

    /// Registers DNS domains or IP networks as organisation `org`'s (operator only): officers
    /// of `org` may then ask for names inside them, and nobody else may. A name that overlaps
    /// one registered to any organisation is refused; all or nothing.
    pub fn org_add_names(&mut self, actor: &Actor, org: &str, names: &[String]) -> Result<()> {
        require_operator(actor, "register organisations' names")?;
        self.org(org)?;
        let texts = self.check_new_org_names(names)?;
        if texts.is_empty() {
            return Ok(());
        }
        self.store.add_org_names(org, &texts)
    }

    /// Registers an organisation together with its names (operator only): the names are
    /// checked first, so a refused name registers nothing.
    pub fn org_add_with_names(
        &mut self,
        actor: &Actor,
        code: &str,
        name: &str,
        names: &[String],
    ) -> Result<OrgRecord> {
        require_operator(actor, "register organisations")?;
        check_org_code(code)?;
        self.check_new_org_names(names)?;
        let org = self.org_add(actor, code, name)?;
        self.org_add_names(actor, code, names)?;
        Ok(org)
    }

    /// Parses names to register and refuses any that overlaps another (given or registered).
    /// Returns their canonical text.
    fn check_new_org_names(&self, names: &[String]) -> Result<Vec<String>> {
        let parsed = names
            .iter()
            .map(|n| OrgName::parse(n))
            .collect::<Result<Vec<_>>>()?;
        let existing = self.store.org_names(None)?;
        for (i, n) in parsed.iter().enumerate() {
            if parsed[..i].iter().any(|m| m.overlaps(n)) {
                return Err(Error::InvalidArgument {
                    name: "--domain",
                    value: n.to_string(),
                    reason: "given twice (or inside another one given)".into(),
                });
            }
            for (owner, other) in &existing {
                if OrgName::parse(other).is_ok_and(|o| o.overlaps(n)) {
                    return Err(Error::PolicyRefused {
                        detail: format!("{n} overlaps {other}, registered to organisation {owner}"),
                    });
                }
            }
        }
        Ok(parsed.iter().map(|n| n.to_string()).collect())
    }

    /// The names registered to organisation `org`.
    pub fn org_names(&self, org: &str) -> Result<Vec<OrgName>> {
        Ok(self
            .store
            .org_names(Some(org))?
            .into_iter()
            .filter_map(|(_, n)| OrgName::parse(&n).ok())
            .collect())
    }

    /// Refuses DNS names and IP addresses outside organisation `org`'s registered names: the
    /// subjectAltNames given, else those the CSR asks for.
    fn check_org_names(&self, org: &str, sans: &[String], csr_der: &[u8]) -> Result<()> {
        let entries = if sans.is_empty() {
            crate::csr::parse_csr(csr_der)?.request.requested_sans
        } else {
            sans.iter()
                .map(|s| SanEntry::parse(s))
                .collect::<Result<Vec<_>>>()?
        };
        let registered = self.org_names(org)?;
        for e in entries.iter().filter(|e| crate::org_names::is_bound(e)) {
            if !registered.iter().any(|r| r.covers(e)) {
                let list: Vec<String> = registered.iter().map(|r| r.to_string()).collect();
                return Err(Error::PolicyRefused {
                    detail: format!(
                        "{e} is not among organisation {org}'s registered names ({}); the center \
                         registers them with `lgpki org domain add`",
                        if list.is_empty() {
                            "none".to_string()
                        } else {
                            list.join(", ")
                        }
                    ),
                });
            }
        }
        Ok(())
    }

    /// The organisation with `code`.
    pub fn org(&self, code: &str) -> Result<OrgRecord> {
        self.store
            .orgs()?
            .into_iter()
            .find(|o| o.code == code)
            .ok_or_else(|| Error::PolicyRefused {
                detail: format!("organisation {code} is not registered"),
            })
    }

    /// Registers an officer of `org` by the certificate they authenticate with: it must be one
    /// this CA issued, currently good (operator only).
    pub fn officer_add(
        &mut self,
        actor: &Actor,
        org: &str,
        cert_der: &[u8],
        role: Role,
    ) -> Result<OfficerRecord> {
        self.officer_add_person(actor, org, cert_der, role, None)
    }

    /// [`Authority::officer_add`] naming the person behind the certificate (default: its
    /// subject DN). One person holds one role per organisation: a registrar record and an
    /// approver record for the same person would let them approve their own submission, so
    /// the second is refused (records whose certificate is revoked do not count).
    pub fn officer_add_person(
        &mut self,
        actor: &Actor,
        org: &str,
        cert_der: &[u8],
        role: Role,
        person: Option<&str>,
    ) -> Result<OfficerRecord> {
        require_operator(actor, "register officers")?;
        self.register_officer(org, cert_der, role, person)
    }

    /// Registers an officer after the caller's own authorisation: the role is known, the
    /// certificate is one of ours and good, and one person holds one role per organisation.
    pub(crate) fn register_officer(
        &mut self,
        org: &str,
        cert_der: &[u8],
        role: Role,
        person: Option<&str>,
    ) -> Result<OfficerRecord> {
        self.org(org)?;
        let (issuer, serial, subject) = self.check_our_good_cert(cert_der)?;
        let person = match person.map(str::trim) {
            Some(p) if p.is_empty() || p.chars().count() > 256 => {
                return Err(Error::InvalidArgument {
                    name: "--person",
                    value: p.to_string(),
                    reason: "1 to 256 characters".into(),
                });
            }
            Some(p) => {
                if let Some(bad) = crate::name::find_forbidden_char(p) {
                    return Err(Error::InvalidArgument {
                        name: "--person",
                        value: p.escape_default().to_string(),
                        reason: format!("contains {bad}"),
                    });
                }
                p.to_string()
            }
            None => subject.clone(),
        };
        for other in self.store.officers()? {
            if other.org == org && other.person == person && other.role != role {
                let revoked = self
                    .store
                    .cert(&other.cert_serial, None)?
                    .is_some_and(|c| c.revoked_at.is_some());
                if !revoked {
                    return Err(Error::PolicyRefused {
                        detail: format!(
                            "{person:?} is already officer {} ({}) of {org}: one person may not be \
                             both registrar and approver (they could approve their own request)",
                            other.id, other.role
                        ),
                    });
                }
            }
        }
        let mut rec = OfficerRecord {
            id: 0,
            org: org.to_string(),
            role,
            cert_issuer: issuer,
            cert_serial: serial,
            subject,
            cert_der: cert_der.to_vec(),
            person,
        };
        rec.id = self.store.add_officer(&rec)?;
        Ok(rec)
    }

    /// Verifies that `cert_der` was issued by one of our CAs (signature), is within its
    /// validity, and is not revoked. Returns (issuer DN, serial hex, subject DN).
    fn check_our_good_cert(&mut self, cert_der: &[u8]) -> Result<(String, Serial, String)> {
        let cert =
            Certificate::from_der(cert_der).map_err(|e| Error::malformed("certificate", e))?;
        let tbs = cert.tbs_certificate();
        let issuer_der = tbs.issuer().to_der().map_err(Error::encode("issuer"))?;
        let mut issuer_ca = None;
        for rec in self.cas()? {
            let ca = Certificate::from_der(&rec.cert_der)
                .map_err(|e| Error::malformed("CA certificate", e))?;
            if ca
                .tbs_certificate()
                .subject()
                .to_der()
                .map_err(Error::encode("subject"))?
                == issuer_der
            {
                let tbs_der = tbs.to_der().map_err(Error::encode("TBS"))?;
                let sig = cert.signature().as_bytes().unwrap_or_default();
                if crate::sigverify::verify_signature(
                    ca.tbs_certificate().subject_public_key_info(),
                    cert.signature_algorithm(),
                    &tbs_der,
                    sig,
                )
                .is_ok()
                {
                    issuer_ca = Some(rec.name);
                    break;
                }
            }
        }
        let ca = issuer_ca.ok_or_else(|| Error::PolicyRefused {
            detail: "the certificate was not issued by this CA".into(),
        })?;
        let serial = Serial::from_der_content(tbs.serial_number().as_bytes());
        let now = now_seconds().unix_timestamp();
        let nb = tbs.validity().not_before.to_unix_duration().as_secs() as i64;
        let na = tbs.validity().not_after.to_unix_duration().as_secs() as i64;
        if now < nb || now > na {
            return Err(Error::PolicyRefused {
                detail: format!("certificate {serial} is not within its validity period"),
            });
        }
        match self.store.cert(&serial, Some(&ca))? {
            Some(rec) if rec.revoked_at.is_some() => Err(Error::PolicyRefused {
                detail: format!("certificate {serial} is revoked"),
            }),
            Some(rec) if rec.der == cert_der => Ok((
                name_to_string(tbs.issuer()),
                serial,
                name_to_string(tbs.subject()),
            )),
            _ => Err(Error::PolicyRefused {
                detail: format!("certificate {serial} is not in this CA's records"),
            }),
        }
    }

    /// The officer a client certificate authenticates: registered, issued by us, good now.
    pub fn authenticate(&mut self, cert_der: &[u8]) -> Result<Actor> {
        let r = self.authenticate_inner(cert_der);
        if let Err(e) = &r {
            let serial = Certificate::from_der(cert_der)
                .map(|c| Serial::from_der_content(c.tbs_certificate().serial_number().as_bytes()))
                .map(|s| s.to_string())
                .unwrap_or_default();
            self.store
                .set_actor(&format!("client certificate {serial}"));
            self.audit_refusal("ra.authenticate", &serial, e);
        }
        r
    }

    fn authenticate_inner(&mut self, cert_der: &[u8]) -> Result<Actor> {
        let (issuer, serial, subject) = self.check_our_good_cert(cert_der)?;
        let officer = self
            .store
            .officers()?
            .into_iter()
            .find(|o| o.cert_issuer == issuer && o.cert_serial == serial && o.cert_der == cert_der)
            .ok_or_else(|| Error::PolicyRefused {
                detail: format!("certificate {serial} does not belong to a registered officer"),
            })?;
        Ok(Actor::Officer {
            id: officer.id,
            org: officer.org,
            role: officer.role,
            subject,
        })
    }

    /// Submits an issuance request for `org` (a registrar of that organisation, or the
    /// operator). The request is checked in full now (CSR signature, profile rules, the
    /// organisation's name as OU) so a bad one is refused at once.
    #[allow(clippy::too_many_arguments)]
    pub fn request_submit(
        &mut self,
        actor: &Actor,
        profile: &str,
        csr_der: &[u8],
        org: &str,
        subject: Option<&str>,
        sans: &[String],
    ) -> Result<RequestRecord> {
        let r = self.request_submit_inner(actor, profile, csr_der, org, subject, sans);
        if let Err(e) = &r {
            self.audit_refusal("request.submit.issue", org, e);
        }
        r
    }

    /// Records a refused registration act in the audit log (who tried what, and why), so that
    /// refusals are as visible as successes. Malformed input is not recorded.
    fn audit_refusal(&mut self, action: &str, target: &str, e: &Error) {
        if e.class() == crate::error::ErrorClass::Refused {
            // Best effort: the refusal stands even if it cannot be recorded.
            let _ = self.store.audit(
                action,
                target,
                &format!("refused: {e}"),
                &serde_json::json!({"kind": e.kind()}),
            );
        }
    }

    fn request_submit_inner(
        &mut self,
        actor: &Actor,
        profile: &str,
        csr_der: &[u8],
        org: &str,
        subject: Option<&str>,
        sans: &[String],
    ) -> Result<RequestRecord> {
        let org_rec = self.org(org)?;
        // Registrars submit; an approver may submit too, but then another approver decides.
        require_role(actor, org, Role::Registrar)
            .or_else(|_| require_role(actor, org, Role::Approver))?;
        let prof = self.policies.profile(profile)?.clone();
        if prof.ca || !prof.officer_requests {
            return Err(Error::PolicyRefused {
                detail: format!(
                    "profile {profile:?} is not one registration officers may request (the \
                     center issues it itself)"
                ),
            });
        }
        let csr = crate::csr::verify_csr(csr_der)?;
        let mut dn = match subject {
            Some(s) => DistinguishedName::parse(s)?,
            None => csr.subject.clone(),
        };
        bind_org(&mut dn, &org_rec)?;
        let dn = apply_subject_rules(&prof, dn)?;
        let req = RequestRecord {
            id: 0,
            kind: RequestKind::Issue,
            org: org.to_string(),
            state: RequestState::Pending,
            profile: Some(profile.to_string()),
            csr_der: Some(csr_der.to_vec()),
            subject: Some(dn.to_string()),
            sans: sans.to_vec(),
            submitted_by: actor.label(),
            decided_by: None,
            reject_reason: None,
            serial: None,
            revoke_reason: None,
            created: rfc3339(now_seconds().unix_timestamp()),
        };
        // The checks issuance runs, now: a request that can never be approved is refused at
        // once rather than left pending.
        self.check_issuable(&req)?;
        let mut stored = req.clone();
        stored.id = self.store.add_request(&req)?;
        Ok(stored)
    }

    /// Whether a request could be issued now: the issuance checks themselves
    /// ([`Authority::check_issuance`]) and the organisation's registered names.
    fn check_issuable(&mut self, req: &RequestRecord) -> Result<()> {
        let csr_der = req.csr_der.clone().unwrap_or_default();
        self.check_issuance(&IssuanceRequest {
            profile: req.profile.clone().unwrap_or_default(),
            csr_der: csr_der.clone(),
            ca: None,
            subject: req.subject.clone(),
            sans: req.sans.clone(),
            days: None,
            request_id: None,
        })?;
        self.check_org_names(&req.org, &req.sans, &csr_der)
    }

    /// The person behind an audit label (`officer#N …`): the officer record's person.
    fn person_of(&self, label: &str) -> Result<Option<String>> {
        let Some(id) = label
            .strip_prefix("officer#")
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse::<i64>().ok())
        else {
            return Ok(None);
        };
        Ok(self
            .store
            .officers()?
            .into_iter()
            .find(|o| o.id == id)
            .map(|o| o.person))
    }

    /// Requests visible to `actor` (officers: their organisation's only).
    pub fn request_list(
        &self,
        actor: &Actor,
        state: Option<RequestState>,
    ) -> Result<Vec<RequestRecord>> {
        let org = match actor {
            Actor::Operator => None,
            Actor::Officer { org, .. } => Some(org.as_str()),
        };
        self.store.requests(org, state)
    }

    fn visible_request(&self, actor: &Actor, id: i64) -> Result<RequestRecord> {
        let req = self.store.request(id)?;
        match req {
            // An officer learns nothing about other organisations' requests, not even that
            // they exist.
            Some(r) if actor.may_act_for(&r.org) => Ok(r),
            _ => Err(Error::PolicyRefused {
                detail: format!("no request {id} for you"),
            }),
        }
    }

    /// Approves a pending request: an approver of the same organisation who did not submit it,
    /// or the operator. An issue request is issued now; a revoke request revokes now.
    pub fn request_approve(&mut self, actor: &Actor, id: i64) -> Result<RequestRecord> {
        let r = self.request_approve_inner(actor, id);
        if let Err(e) = &r {
            self.audit_refusal("request.approve", &id.to_string(), e);
        }
        r
    }

    fn request_approve_inner(&mut self, actor: &Actor, id: i64) -> Result<RequestRecord> {
        let mut req = self.visible_request(actor, id)?;
        require_role(actor, &req.org, Role::Approver)?;
        // Four eyes for officers; the center's operator (local, on the CA host) may decide alone.
        // The same person is the same officer whichever of their records (certificates) acts.
        if let Actor::Officer { .. } = actor {
            let own = req.submitted_by == actor.label()
                || match (
                    self.person_of(&req.submitted_by)?,
                    self.person_of(&actor.label())?,
                ) {
                    (Some(a), Some(b)) => a == b,
                    _ => false,
                };
            if own {
                return Err(Error::PolicyRefused {
                    detail: format!("request {id}: an officer may not approve their own request"),
                });
            }
        }
        if req.state != RequestState::Pending {
            return Err(Error::PolicyRefused {
                detail: format!("request {id} is {}, not pending", req.state),
            });
        }
        req.decided_by = Some(actor.label());
        if req.kind == RequestKind::Renew {
            return self.renewal_approve(req);
        }
        if req.kind == RequestKind::Issue {
            // The organisation's names as they are now (checked at submit, checked again here).
            self.check_org_names(
                &req.org,
                &req.sans,
                req.csr_der.as_deref().unwrap_or_default(),
            )?;
            let issued = self.issue(IssuanceRequest {
                profile: req.profile.clone().unwrap_or_default(),
                csr_der: req.csr_der.clone().unwrap_or_default(),
                ca: None,
                subject: req.subject.clone(),
                sans: req.sans.clone(),
                days: None,
                request_id: Some(format!("ra-request-{id}")),
            })?;
            req.serial = Some(issued.serial);
            req.state = RequestState::Issued;
        } else {
            let serial = req.serial.clone().ok_or_else(|| Error::PolicyRefused {
                detail: format!("revocation request {id} names no certificate"),
            })?;
            let reason = req.revoke_reason.unwrap_or(ReasonCode::Unspecified);
            self.revoke_one(&serial, reason)?;
            req.state = RequestState::Revoked;
        }
        self.store
            .update_request(&req, RequestState::Pending, "request.approve")?;
        Ok(req)
    }

    /// Rejects a pending request with a reason (an approver of the organisation, or the
    /// operator).
    pub fn request_reject(
        &mut self,
        actor: &Actor,
        id: i64,
        reason: &str,
    ) -> Result<RequestRecord> {
        let r = self.request_reject_inner(actor, id, reason);
        if let Err(e) = &r {
            self.audit_refusal("request.reject", &id.to_string(), e);
        }
        r
    }

    fn request_reject_inner(
        &mut self,
        actor: &Actor,
        id: i64,
        reason: &str,
    ) -> Result<RequestRecord> {
        let mut req = self.visible_request(actor, id)?;
        require_role(actor, &req.org, Role::Approver)?;
        if req.state != RequestState::Pending {
            return Err(Error::PolicyRefused {
                detail: format!("request {id} is {}, not pending", req.state),
            });
        }
        req.state = RequestState::Rejected;
        req.decided_by = Some(actor.label());
        req.reject_reason = Some(reason.to_string());
        self.store
            .update_request(&req, RequestState::Pending, "request.reject")?;
        Ok(req)
    }

    /// The certificate an issued request produced.
    pub fn request_fetch(&mut self, actor: &Actor, id: i64) -> Result<Issued> {
        let req = self.visible_request(actor, id)?;
        if req.kind != RequestKind::Issue || req.state != RequestState::Issued {
            return Err(Error::PolicyRefused {
                detail: format!("request {id} is {}; nothing to fetch", req.state),
            });
        }
        let not_found = || Error::CertificateNotFound {
            serial: req
                .serial
                .as_ref()
                .map_or_else(|| format!("of request {id}"), Serial::to_string),
        };
        let serial = req.serial.as_ref().ok_or_else(not_found)?;
        let rec = self.store.cert(serial, None)?.ok_or_else(not_found)?;
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

    /// An officer asks for a revocation of one of their organisation's certificates.
    pub fn revoke_request(
        &mut self,
        actor: &Actor,
        serial: &str,
        reason: &str,
    ) -> Result<RequestRecord> {
        let r = self.revoke_request_inner(actor, serial, reason);
        if let Err(e) = &r {
            self.audit_refusal("request.submit.revoke", serial, e);
        }
        r
    }

    fn revoke_request_inner(
        &mut self,
        actor: &Actor,
        serial: &str,
        reason: &str,
    ) -> Result<RequestRecord> {
        let reason: ReasonCode = reason.parse()?;
        let hex: Serial = serial.parse()?;
        let cert = self
            .store
            .cert(&hex, None)?
            .ok_or_else(|| Error::CertificateNotFound {
                serial: hex.to_string(),
            })?;
        let org = self.org_of_cert(&cert)?;
        let Some(org) = org.filter(|o| actor.may_act_for(o)) else {
            return Err(Error::PolicyRefused {
                detail: format!("certificate {hex} does not belong to your organisation"),
            });
        };
        require_role(actor, &org, Role::Registrar)
            .or_else(|_| require_role(actor, &org, Role::Approver))?;
        let req = RequestRecord {
            id: 0,
            kind: RequestKind::Revoke,
            org,
            state: RequestState::Pending,
            profile: None,
            csr_der: None,
            subject: Some(cert.subject.clone()),
            sans: Vec::new(),
            submitted_by: actor.label(),
            decided_by: None,
            reject_reason: None,
            serial: Some(hex),
            revoke_reason: Some(reason),
            created: rfc3339(now_seconds().unix_timestamp()),
        };
        let mut stored = req.clone();
        stored.id = self.store.add_request(&req)?;
        Ok(stored)
    }

    /// The organisation a certificate belongs to: the one whose request produced it, else the
    /// one whose name is the certificate's first OU (the 団体).
    fn org_of_cert(&self, cert: &crate::store::CertRecord) -> Result<Option<String>> {
        if let Some(r) = self
            .store
            .requests(None, Some(RequestState::Issued))?
            .into_iter()
            .find(|r| r.serial.as_ref() == Some(&cert.serial))
        {
            return Ok(Some(r.org));
        }
        let c = Certificate::from_der(&cert.der)
            .map_err(|e| Error::malformed("stored certificate", e))?;
        let dn = DistinguishedName::from_name(c.tbs_certificate().subject()).ok();
        let ou = dn
            .as_ref()
            .and_then(|d| d.get(AttrType::Ou))
            .map(str::to_string);
        Ok(self
            .store
            .orgs()?
            .into_iter()
            .find(|o| Some(&o.name) == ou.as_ref())
            .map(|o| o.code))
    }
}

/// Binds the organisation into the subject: the first OU (the 団体; a second OU is the 部署,
/// the department) is the organisation's name; a request naming another organisation is
/// refused, and one without OU gets the organisation's name as its only OU.
fn bind_org(dn: &mut DistinguishedName, org: &OrgRecord) -> Result<()> {
    match dn.get(AttrType::Ou) {
        Some(ou) if ou != org.name => Err(Error::SubjectRefused {
            profile: "-".into(),
            detail: format!("OU {ou:?} is not your organisation {:?}", org.name),
        }),
        _ => {
            dn.set(AttrType::Ou, &org.name);
            Ok(())
        }
    }
}

fn require_operator(actor: &Actor, what: &str) -> Result<()> {
    match actor {
        Actor::Operator => Ok(()),
        Actor::Officer { .. } => Err(Error::PolicyRefused {
            detail: format!("only the center's operator may {what}"),
        }),
    }
}

fn require_role(actor: &Actor, org: &str, role: Role) -> Result<()> {
    match actor {
        Actor::Operator => Ok(()),
        Actor::Officer {
            org: o, role: r, ..
        } if o == org && *r == role => Ok(()),
        Actor::Officer { org: o, .. } if o != org => Err(Error::PolicyRefused {
            detail: format!("you act for organisation {o}, not {org}"),
        }),
        Actor::Officer { role: r, .. } => Err(Error::PolicyRefused {
            detail: format!("this needs the {role} role; you are a {r}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_code_check_digit() {
        // 131016 千代田区, 011002 札幌市, 271004 大阪市 (JIS X 0402 codes with check digits).
        for ok in ["131016", "011002", "271004"] {
            check_org_code(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in ["131017", "13101", "1310166", "13101a", ""] {
            assert!(check_org_code(bad).is_err(), "{bad}");
        }
    }
}
