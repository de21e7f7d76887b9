//! Registration (登録分局): organisations, officers identified by their certificates, and the
//! request life cycle (submit → approve by a different approver of the same organisation →
//! issued; reject; revoke requests). Local commands on the center host act as the operator.

use der::{Decode, Encode};
use x509_cert::Certificate;

use crate::authority::{Authority, now_seconds};
use crate::error::{Error, Result};
use crate::issue::{IssuanceRequest, Issued, apply_subject_rules, rfc3339};
use crate::name::{AttrType, DistinguishedName, name_to_string};
use crate::revoke::Revocation;
use crate::serial::{parse_serial_hex, serial_hex};
use crate::store::{OfficerRecord, OrgRecord, RequestRecord};

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
        /// `registrar` or `approver`.
        role: String,
        /// Subject of the officer's certificate.
        subject: String,
    },
}

impl Actor {
    /// The actor as recorded in the audit log.
    pub fn label(&self) -> String {
        match self {
            Actor::Operator => "operator@local".into(),
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

/// Officer roles.
pub const ROLES: [&str; 2] = ["registrar", "approver"];

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
        let org = OrgRecord {
            code: code.to_string(),
            name: name.to_string(),
        };
        self.store.add_org(&org)?;
        Ok(org)
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
        role: &str,
    ) -> Result<OfficerRecord> {
        require_operator(actor, "register officers")?;
        self.org(org)?;
        if !ROLES.contains(&role) {
            return Err(Error::InvalidArgument {
                name: "--role",
                value: role.into(),
                reason: "registrar or approver".into(),
            });
        }
        let (issuer, serial, subject) = self.check_our_good_cert(cert_der)?;
        let mut rec = OfficerRecord {
            id: 0,
            org: org.to_string(),
            role: role.to_string(),
            cert_issuer: issuer,
            cert_serial: serial,
            subject,
            cert_der: cert_der.to_vec(),
        };
        rec.id = self.store.add_officer(&rec)?;
        Ok(rec)
    }

    /// Verifies that `cert_der` was issued by one of our CAs (signature), is within its
    /// validity, and is not revoked. Returns (issuer DN, serial hex, subject DN).
    fn check_our_good_cert(&mut self, cert_der: &[u8]) -> Result<(String, String, String)> {
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
        let serial = serial_hex(tbs.serial_number().as_bytes());
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
        let org_rec = self.org(org)?;
        // Registrars submit; an approver may submit too, but then another approver decides.
        require_role(actor, org, "registrar").or_else(|_| require_role(actor, org, "approver"))?;
        let prof = self.policies.profile(profile)?.clone();
        let csr = crate::csr::verify_csr(csr_der)?;
        let mut dn = match subject {
            Some(s) => DistinguishedName::parse(s)?,
            None => csr.subject.clone(),
        };
        bind_org(&mut dn, &org_rec)?;
        let dn = apply_subject_rules(&prof, dn)?;
        let req = RequestRecord {
            id: 0,
            kind: "issue".into(),
            org: org.to_string(),
            state: "pending".into(),
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
        // Dry run of the profile checks on the full request (SANs, key, validity).
        self.check_issuable(&req)?;
        let mut stored = req.clone();
        stored.id = self.store.add_request(&req)?;
        Ok(stored)
    }

    fn check_issuable(&mut self, req: &RequestRecord) -> Result<()> {
        let prof = self
            .policies
            .profile(req.profile.as_deref().unwrap_or_default())?
            .clone();
        let parsed = crate::csr::parse_csr(req.csr_der.as_deref().unwrap_or_default())?;
        let key = crate::key::PublicKeyInfo::of(&parsed.request.public_key)?;
        if key.is_rsa && key.bits < prof.min_rsa_bits {
            return Err(Error::KeyRefused {
                profile: prof.name.clone(),
                detail: format!(
                    "RSA-{} is weaker than the minimum RSA-{}",
                    key.bits, prof.min_rsa_bits
                ),
            });
        }
        for s in &req.sans {
            let e = crate::san::SanEntry::parse(s)?;
            if !prof.san.allowed.contains(&e.kind()) {
                return Err(Error::SanRefused {
                    profile: prof.name.clone(),
                    detail: format!("{e}: {} names are not allowed", e.kind().prefix()),
                });
            }
        }
        Ok(())
    }

    /// Requests visible to `actor` (officers: their organisation's only).
    pub fn request_list(&self, actor: &Actor, state: Option<&str>) -> Result<Vec<RequestRecord>> {
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
        let mut req = self.visible_request(actor, id)?;
        require_role(actor, &req.org, "approver")?;
        // Four eyes for officers; the center's operator (local, on the CA host) may decide alone.
        if matches!(actor, Actor::Officer { .. }) && req.submitted_by == actor.label() {
            return Err(Error::PolicyRefused {
                detail: format!("request {id}: an officer may not approve their own request"),
            });
        }
        if req.state != "pending" {
            return Err(Error::PolicyRefused {
                detail: format!("request {id} is {}, not pending", req.state),
            });
        }
        req.decided_by = Some(actor.label());
        if req.kind == "renew" {
            return self.renewal_approve(req);
        }
        if req.kind == "issue" {
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
            req.state = "issued".into();
        } else {
            let serial = req.serial.clone().unwrap_or_default();
            let mut out = self.revoke(&[Revocation {
                serial,
                reason: req
                    .revoke_reason
                    .clone()
                    .unwrap_or_else(|| "unspecified".into()),
                ca: None,
                invalidity_date: None,
            }])?;
            out.pop().unwrap_or_else(|| {
                Err(Error::PolicyRefused {
                    detail: "not revoked".into(),
                })
            })?;
            req.state = "revoked".into();
        }
        self.store
            .update_request(&req, "pending", "request.approve")?;
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
        let mut req = self.visible_request(actor, id)?;
        require_role(actor, &req.org, "approver")?;
        if req.state != "pending" {
            return Err(Error::PolicyRefused {
                detail: format!("request {id} is {}, not pending", req.state),
            });
        }
        req.state = "rejected".into();
        req.decided_by = Some(actor.label());
        req.reject_reason = Some(reason.to_string());
        self.store
            .update_request(&req, "pending", "request.reject")?;
        Ok(req)
    }

    /// The certificate an issued request produced.
    pub fn request_fetch(&mut self, actor: &Actor, id: i64) -> Result<Issued> {
        let req = self.visible_request(actor, id)?;
        if req.kind != "issue" || req.state != "issued" {
            return Err(Error::PolicyRefused {
                detail: format!("request {id} is {}; nothing to fetch", req.state),
            });
        }
        let rec = self
            .store
            .cert(req.serial.as_deref().unwrap_or_default(), None)?
            .ok_or_else(|| Error::CertificateNotFound {
                serial: req.serial.clone().unwrap_or_default(),
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

    /// An officer asks for a revocation of one of their organisation's certificates.
    pub fn revoke_request(
        &mut self,
        actor: &Actor,
        serial: &str,
        reason: &str,
    ) -> Result<RequestRecord> {
        let reason = <crate::crl::ReasonCode as std::str::FromStr>::from_str(reason)?;
        let hex = serial_hex(&parse_serial_hex(serial)?);
        let cert = self
            .store
            .cert(&hex, None)?
            .ok_or_else(|| Error::CertificateNotFound {
                serial: hex.clone(),
            })?;
        let org = self.org_of_cert(&cert)?;
        let Some(org) = org.filter(|o| actor.may_act_for(o)) else {
            return Err(Error::PolicyRefused {
                detail: format!("certificate {hex} does not belong to your organisation"),
            });
        };
        require_role(actor, &org, "registrar")
            .or_else(|_| require_role(actor, &org, "approver"))?;
        let req = RequestRecord {
            id: 0,
            kind: "revoke".into(),
            org,
            state: "pending".into(),
            profile: None,
            csr_der: None,
            subject: Some(cert.subject.clone()),
            sans: Vec::new(),
            submitted_by: actor.label(),
            decided_by: None,
            reject_reason: None,
            serial: Some(hex),
            revoke_reason: Some(reason.name().to_string()),
            created: rfc3339(now_seconds().unix_timestamp()),
        };
        let mut stored = req.clone();
        stored.id = self.store.add_request(&req)?;
        Ok(stored)
    }

    /// The organisation a certificate belongs to: the one whose request produced it, else the
    /// one whose name is the certificate's OU.
    fn org_of_cert(&self, cert: &crate::store::CertRecord) -> Result<Option<String>> {
        if let Some(r) = self
            .store
            .requests(None, Some("issued"))?
            .into_iter()
            .find(|r| r.serial.as_deref() == Some(&cert.serial))
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

/// Binds the organisation into the subject: OU is the organisation's name; a request naming
/// another organisation is refused.
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

fn require_role(actor: &Actor, org: &str, role: &str) -> Result<()> {
    match actor {
        Actor::Operator => Ok(()),
        Actor::Officer {
            org: o, role: r, ..
        } if o == org && r == role => Ok(()),
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
