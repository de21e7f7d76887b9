//! Registration commands: organisations, officers, requests. Run locally they act as the
//! center's operator; through `--server` (remote mTLS) as the officer the client certificate
//! names.

use std::path::Path;

use ca_core::{Actor, Authority, RequestRecord};
use serde_json::{Value, json};

use crate::cli::{OfficerCommand, OrgCommand, OrgDomainCommand, RequestCommand};
use crate::commands::{CmdResult, Ctx, issued_json, ok, read_csr};
use crate::output::{CliError, print_json, print_text, table};

fn operator(ctx: &Ctx) -> Result<(Authority, Actor), CliError> {
    let mut ca = ctx.open()?;
    let actor = Actor::Operator;
    ca.act_as(&actor);
    Ok((ca, actor))
}

/// `org add|list`.
pub fn org(ctx: &Ctx, c: OrgCommand) -> CmdResult {
    let (mut ca, actor) = operator(ctx)?;
    match c {
        OrgCommand::Add {
            code,
            name,
            domains,
        } => {
            let o = ca.org_add_with_names(&actor, &code, &name, &domains)?;
            let names = names_of(&ca, &o.code)?;
            if ctx.json {
                print_json(&org_json(&o, &names));
            } else {
                print_text(&format!("registered {} {}\n", o.code, o.name));
                if !names.is_empty() {
                    print_text(&format!("  names: {}\n", names.join(", ")));
                }
            }
        }
        OrgCommand::List => {
            let orgs = ca.store().orgs()?;
            if ctx.json {
                for o in &orgs {
                    print_json(&org_json(o, &names_of(&ca, &o.code)?));
                }
            } else {
                let mut rows = Vec::new();
                for o in &orgs {
                    let names = names_of(&ca, &o.code)?;
                    rows.push(vec![
                        o.code.clone(),
                        o.name.clone(),
                        if names.is_empty() {
                            "-".into()
                        } else {
                            names.join(",")
                        },
                    ]);
                }
                print_text(&table(&["CODE", "NAME", "DOMAINS"], &rows));
            }
        }
        OrgCommand::Domain(OrgDomainCommand::Add { org, names }) => {
            ca.org_add_names(&actor, &org, &names)?;
            let all = names_of(&ca, &org)?;
            if ctx.json {
                print_json(&json!({"org": org, "domains": all}));
            } else {
                print_text(&format!("{org}: {}\n", all.join(", ")));
            }
        }
        OrgCommand::Domain(OrgDomainCommand::List { org }) => {
            if let Some(o) = &org {
                ca.org(o)?;
            }
            let names = ca.store().org_names(org.as_deref())?;
            if ctx.json {
                names
                    .iter()
                    .for_each(|(o, n)| print_json(&json!({"org": o, "domain": n})));
            } else {
                let rows: Vec<Vec<String>> = names
                    .iter()
                    .map(|(o, n)| vec![o.clone(), n.clone()])
                    .collect();
                print_text(&table(&["ORG", "DOMAIN"], &rows));
            }
        }
    }
    ok()
}

fn names_of(ca: &Authority, org: &str) -> Result<Vec<String>, CliError> {
    Ok(ca
        .store()
        .org_names(Some(org))?
        .into_iter()
        .map(|(_, n)| n)
        .collect())
}

fn org_json(o: &ca_core::OrgRecord, names: &[String]) -> Value {
    json!({"code": o.code, "name": o.name, "domains": names})
}

/// `officer add|list`.
pub fn officer(ctx: &Ctx, c: OfficerCommand) -> CmdResult {
    let (mut ca, actor) = operator(ctx)?;
    match c {
        OfficerCommand::Add {
            org,
            cert,
            role,
            person,
        } => {
            let der = read_cert(&cert)?;
            let o = ca.officer_add_person(&actor, &org, &der, role.parse()?, person.as_deref())?;
            if ctx.json {
                print_json(&json!(o));
            } else {
                print_text(&format!(
                    "officer {} registered: {} of {} ({})\n",
                    o.id, o.role, o.org, o.subject
                ));
            }
        }
        OfficerCommand::List => {
            let list = ca.store().officers()?;
            if ctx.json {
                list.iter().for_each(|o| print_json(&json!(o)));
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|o| {
                        vec![
                            o.id.to_string(),
                            o.org.clone(),
                            o.role.to_string(),
                            o.cert_serial.to_string(),
                            o.subject.clone(),
                        ]
                    })
                    .collect();
                print_text(&table(
                    &["ID", "ORG", "ROLE", "CERT_SERIAL", "SUBJECT"],
                    &rows,
                ));
            }
        }
    }
    ok()
}

/// Reads one certificate (PEM or DER).
pub fn read_cert(path: &Path) -> Result<Vec<u8>, CliError> {
    let data = ca_core::input::read_limited(path, ca_core::input::MAX_INPUT_FILE)?;
    let mut blocks = ca_core::input::der_blocks(
        &data,
        &["CERTIFICATE"],
        &format!("certificate {}", path.display()),
    )?;
    Ok(blocks.remove(0))
}

/// JSON of a request.
pub fn request_json(r: &RequestRecord) -> Value {
    json!(r)
}

fn print_request(ctx: &Ctx, r: &RequestRecord) {
    if ctx.json {
        print_json(&request_json(r));
    } else {
        print_text(&format!(
            "request {}: {} {} for {} ({})\n",
            r.id,
            r.kind,
            r.state,
            r.org,
            r.subject.as_deref().unwrap_or("-")
        ));
    }
}

/// Runs a request command as `actor` on `ca` (shared by the local CLI and the RA server).
pub fn run_request(
    ca: &mut Authority,
    actor: &Actor,
    c: RequestOp,
) -> Result<Value, ca_core::Error> {
    ca.act_as(actor);
    Ok(match c {
        RequestOp::Submit {
            profile,
            csr_der,
            org,
            subject,
            sans,
        } => {
            let org = match (org, actor) {
                (Some(o), _) => o,
                (None, Actor::Officer { org, .. }) => org.clone(),
                (None, Actor::Operator) => {
                    return Err(ca_core::Error::InvalidArgument {
                        name: "--org",
                        value: String::new(),
                        reason: "run locally, `request submit` needs --org CODE".into(),
                    });
                }
            };
            json!(ca.request_submit(actor, &profile, &csr_der, &org, subject.as_deref(), &sans)?)
        }
        RequestOp::List { state } => Value::Array(
            ca.request_list(actor, state.as_deref().map(str::parse).transpose()?)?
                .iter()
                .map(request_json)
                .collect(),
        ),
        RequestOp::Approve { id } => json!(ca.request_approve(actor, id)?),
        RequestOp::Reject { id, reason } => json!(ca.request_reject(actor, id, &reason)?),
        RequestOp::Fetch { id } => issued_json(&ca.request_certificate(actor, id)?),
        RequestOp::RevokeRequest { serial, reason } => {
            json!(ca.revoke_request(actor, &serial, &reason)?)
        }
        RequestOp::Renew {
            serial,
            csr_der,
            supersede,
        } => json!(ca.request_renew(actor, &serial, &csr_der, supersede)?),
        RequestOp::Unhold { serial } => {
            let c = ca.unhold(actor, &serial)?;
            json!({"serial": c.serial, "ca": c.ca, "status": "good"})
        }
    })
}

/// A registration operation, as the CLI and the remote API carry it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum RequestOp {
    /// request submit.
    Submit {
        /// Profile.
        profile: String,
        /// CSR DER.
        #[serde(with = "b64")]
        csr_der: Vec<u8>,
        /// Organisation (None: the officer's).
        org: Option<String>,
        /// Subject.
        subject: Option<String>,
        /// SANs.
        sans: Vec<String>,
    },
    /// request list.
    List {
        /// State filter.
        state: Option<String>,
    },
    /// request approve.
    Approve {
        /// Id.
        id: i64,
    },
    /// request reject.
    Reject {
        /// Id.
        id: i64,
        /// Reason.
        reason: String,
    },
    /// request fetch.
    Fetch {
        /// Id.
        id: i64,
    },
    /// revoke-request.
    RevokeRequest {
        /// Serial.
        serial: String,
        /// Reason.
        reason: String,
    },
    /// request renew.
    Renew {
        /// The certificate renewed.
        serial: String,
        /// The new CSR, DER.
        #[serde(with = "b64")]
        csr_der: Vec<u8>,
        /// Revoke the old certificate `superseded` once the new one is issued.
        supersede: bool,
    },
    /// unhold.
    Unhold {
        /// The certificate on hold.
        serial: String,
    },
}

mod b64 {
    use base64::Engine;
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s: String = serde::Deserialize::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)
    }
}

/// Converts the CLI form to an operation.
pub fn request_op(c: RequestCommand) -> Result<(RequestOp, Option<std::path::PathBuf>), CliError> {
    Ok(match c {
        RequestCommand::Submit {
            profile,
            csr,
            org,
            subject,
            sans,
        } => (
            RequestOp::Submit {
                profile,
                csr_der: read_csr(&csr)?,
                org,
                subject,
                sans,
            },
            None,
        ),
        RequestCommand::List { state } => (RequestOp::List { state }, None),
        RequestCommand::Approve { id } => (RequestOp::Approve { id }, None),
        RequestCommand::Reject { id, reason } => (RequestOp::Reject { id, reason }, None),
        RequestCommand::Fetch { id, out } => (RequestOp::Fetch { id }, out),
        RequestCommand::Renew {
            serial,
            csr,
            supersede,
        } => (
            RequestOp::Renew {
                serial,
                csr_der: read_csr(&csr)?,
                supersede,
            },
            None,
        ),
    })
}

/// Prints an operation's result the way the CLI does.
pub fn print_op_result(ctx: &Ctx, op: &RequestOp, v: &Value, out: Option<&Path>) -> CmdResult {
    match op {
        RequestOp::List { .. } => {
            let items = v.as_array().cloned().unwrap_or_default();
            if ctx.json {
                items.iter().for_each(print_json);
            } else {
                let rows: Vec<Vec<String>> = items
                    .iter()
                    .map(|r| {
                        let s = |k: &str| {
                            r[k].as_str().map(str::to_string).unwrap_or_else(|| {
                                if r[k].is_null() {
                                    "-".into()
                                } else {
                                    r[k].to_string()
                                }
                            })
                        };
                        vec![
                            s("id"),
                            s("kind"),
                            s("state"),
                            s("org"),
                            s("profile"),
                            s("serial"),
                            s("subject"),
                        ]
                    })
                    .collect();
                print_text(&table(
                    &["ID", "KIND", "STATE", "ORG", "PROFILE", "SERIAL", "SUBJECT"],
                    &rows,
                ));
            }
        }
        RequestOp::Fetch { .. } => {
            let pem = v["pem"].as_str().unwrap_or_default();
            if let Some(out) = out {
                ca_core::write_atomic(out, pem.as_bytes())?;
            }
            if ctx.json {
                print_json(v);
            } else if out.is_none() {
                print_text(pem);
            }
        }
        RequestOp::Unhold { .. } => {
            if ctx.json {
                print_json(v);
            } else {
                print_text(&format!(
                    "released the hold on {}: good again (removeFromCRL in the next delta CRL)\n",
                    v["serial"].as_str().unwrap_or_default()
                ));
            }
        }
        _ => {
            let r: Result<RequestRecord, _> = serde_json::from_value(v.clone());
            match r {
                Ok(r) => print_request(ctx, &r),
                Err(_) => print_json(v),
            }
        }
    }
    ok()
}

/// `request …` (local: as the operator).
pub fn request(ctx: &Ctx, c: RequestCommand) -> CmdResult {
    let (op, out) = request_op(c)?;
    let (mut ca, actor) = operator(ctx)?;
    let v = run_request(&mut ca, &actor, op.clone())?;
    print_op_result(ctx, &op, &v, out.as_deref())
}

/// `revoke-request` (local: as the operator).
pub fn revoke_request(ctx: &Ctx, serial: &str, reason: &str) -> CmdResult {
    let op = RequestOp::RevokeRequest {
        serial: serial.to_string(),
        reason: reason.to_string(),
    };
    let (mut ca, actor) = operator(ctx)?;
    let v = run_request(&mut ca, &actor, op.clone())?;
    print_op_result(ctx, &op, &v, None)
}

/// `unhold` (local: as the operator).
pub fn unhold(ctx: &Ctx, serial: &str) -> CmdResult {
    let op = RequestOp::Unhold {
        serial: serial.to_string(),
    };
    let (mut ca, actor) = operator(ctx)?;
    let v = run_request(&mut ca, &actor, op.clone())?;
    print_op_result(ctx, &op, &v, None)
}
