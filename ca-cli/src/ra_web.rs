//! The officers' web app on the RA port (`/`), server-rendered (maud), no JavaScript: a
//! dashboard, submission, request detail with approve/reject, certificates with revocation
//! requests, renewal and downloads. Japanese first, English by a switch (a `lang` cookie).
//!
//! It authenticates like the API (the client certificate, see `ra_server::authorise`) and calls
//! the same ca-core functions, so the same rules hold: own organisation only, no
//! self-approval. Every form carries a CSRF token bound to the client certificate (HMAC under a
//! per-process key); every page carries a strict Content-Security-Policy (no scripts at all).

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use ca_core::{Actor, OrgCertQuery, RequestKind, RequestRecord, RequestState, Role};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use crate::ra_api::{ApiError, CertQuery, Officer, PeerCert, RaApp, csr_from_text, status_name};

/// The Content-Security-Policy of every page: nothing but this origin's stylesheet and forms.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const CSS: &str = include_str!("ra_web.css");

/// Page language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// 日本語 (default).
    Ja,
    /// English.
    En,
}

impl Lang {
    fn of(headers: &HeaderMap) -> Lang {
        let en = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .any(|c| c.trim() == "lang=en");
        if en { Lang::En } else { Lang::Ja }
    }

    /// The text in this language.
    fn t(self, ja: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Ja => ja,
            Lang::En => en,
        }
    }

    fn code(self) -> &'static str {
        self.t("ja", "en")
    }
}

/// The web app's routes.
pub fn routes() -> axum::Router<Arc<RaApp>> {
    axum::Router::new()
        .route("/", get(dashboard))
        .route("/static/app.css", get(css))
        .route("/lang/{lang}", get(set_lang))
        .route("/requests", get(requests_page).post(submit))
        .route("/requests/new", get(submit_page))
        .route("/requests/{id}", get(request_page))
        .route("/requests/{id}/approve", post(approve))
        .route("/requests/{id}/reject", post(reject))
        .route("/certificates", get(certificates_page))
        .route("/certificates/{serial}", get(certificate_page))
        .route("/certificates/{serial}/download/{format}", get(download))
        .route("/certificates/{serial}/revoke", post(revoke_request))
        .route("/certificates/{serial}/renew", post(renew))
}

fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn html_response(status: StatusCode, m: Markup) -> Response {
    secure(
        (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            m.into_string(),
        )
            .into_response(),
    )
}

fn layout(lang: Lang, title: &str, who: Option<&Actor>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — " (lang.t("LGPKI 登録分局", "LGPKI registration")) }
                link rel="stylesheet" href="/static/app.css";
            }
            body {
                header {
                    a.brand href="/" { (lang.t("LGPKI 登録分局", "LGPKI registration")) }
                    nav {
                        a href="/" { (lang.t("ダッシュボード", "Dashboard")) }
                        a href="/requests/new" { (lang.t("発行申請", "New request")) }
                        a href="/requests" { (lang.t("申請一覧", "Requests")) }
                        a href="/certificates" { (lang.t("証明書", "Certificates")) }
                    }
                    span.lang {
                        @if lang == Lang::Ja { a href="/lang/en" { "English" } } @else { a href="/lang/ja" { "日本語" } }
                    }
                    @if let Some(Actor::Officer { org, role, subject, .. }) = who {
                        div.who { (subject) " · " (org) " · " (role_name(lang, *role)) }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

fn role_name(lang: Lang, role: Role) -> &'static str {
    match role {
        Role::Approver => lang.t("承認者", "approver"),
        Role::Registrar => lang.t("受付担当者", "registrar"),
    }
}

fn state_name(lang: Lang, state: RequestState) -> &'static str {
    match state {
        RequestState::Pending => lang.t("承認待ち", "pending"),
        RequestState::Approved => lang.t("承認済み", "approved"),
        RequestState::Issued => lang.t("発行済み", "issued"),
        RequestState::Rejected => lang.t("却下", "rejected"),
        RequestState::Revoked => lang.t("失効済み", "revoked"),
    }
}

fn kind_name(lang: Lang, kind: RequestKind) -> &'static str {
    match kind {
        RequestKind::Issue => lang.t("発行", "issue"),
        RequestKind::Renew => lang.t("更新", "renewal"),
        RequestKind::Revoke => lang.t("失効", "revocation"),
    }
}

fn cert_status_name(lang: Lang, s: &str) -> String {
    match s {
        "good" => lang.t("有効", "good"),
        "revoked" => lang.t("失効", "revoked"),
        "expired" => lang.t("期限切れ", "expired"),
        other => return other.to_string(),
    }
    .to_string()
}

/// The page a refused client certificate gets.
pub fn refusal_page(e: &ApiError, headers: &HeaderMap) -> Response {
    let lang = Lang::of(headers);
    html_response(
        e.status,
        layout(
            lang,
            lang.t("アクセスできません", "Access refused"),
            None,
            html! {
                p.error { (e.message()) }
                p { (lang.t("登録された担当者のクライアント証明書でアクセスしてください。", "Use the client certificate of a registered officer.")) }
            },
        ),
    )
}

fn error_page(lang: Lang, who: &Actor, e: &ApiError) -> Response {
    html_response(
        e.status,
        layout(
            lang,
            lang.t("エラー", "Error"),
            Some(who),
            html! {
                p.error { (e.message()) }
                p { a href="/" { (lang.t("ダッシュボードへ戻る", "Back to the dashboard")) } }
            },
        ),
    )
}

/// The CSRF token of a client certificate: HMAC-SHA256 under the process's key.
fn csrf_token(app: &RaApp, peer: &PeerCert) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &app.csrf_key);
    let cert = peer.0.as_deref().map(Vec::as_slice).unwrap_or_default();
    hex::encode(ring::hmac::sign(&key, cert).as_ref())
}

fn check_csrf(app: &RaApp, peer: &PeerCert, token: Option<&str>) -> Result<(), ApiError> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &app.csrf_key);
    let cert = peer.0.as_deref().map(Vec::as_slice).unwrap_or_default();
    let ok = token
        .and_then(|t| hex::decode(t).ok())
        .is_some_and(|t| ring::hmac::verify(&key, cert, &t).is_ok());
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "the form's CSRF token is missing or wrong; reload the page and try again".into(),
            1,
        ))
    }
}

fn csrf_field(app: &RaApp, peer: &PeerCert) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf_token(app, peer)); }
}

async fn css() -> Response {
    secure(([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS).into_response())
}

async fn set_lang(Path(lang): Path<String>) -> Response {
    let value = if lang == "en" {
        "lang=en; Path=/; Secure; HttpOnly; SameSite=Strict"
    } else {
        "lang=ja; Path=/; Secure; HttpOnly; SameSite=Strict"
    };
    let mut r = Redirect::to("/").into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, HeaderValue::from_static(value));
    secure(r)
}

fn requests_table(lang: Lang, reqs: &[RequestRecord]) -> Markup {
    html! {
        @if reqs.is_empty() {
            p.empty { (lang.t("ありません。", "None.")) }
        } @else {
            table {
                thead { tr {
                    th { "ID" } th { (lang.t("種別", "Kind")) } th { (lang.t("状態", "State")) }
                    th { (lang.t("プロファイル", "Profile")) } th { (lang.t("主体者", "Subject")) }
                    th { (lang.t("申請日時", "Submitted")) }
                } }
                tbody {
                    @for r in reqs {
                        tr {
                            td { a href={"/requests/" (r.id)} { (r.id) } }
                            td { (kind_name(lang, r.kind)) }
                            td { (state_name(lang, r.state)) }
                            td { (r.profile.as_deref().unwrap_or("-")) }
                            td { (r.subject.as_deref().unwrap_or("-")) }
                            td { (r.created) }
                        }
                    }
                }
            }
        }
    }
}

fn certs_table(lang: Lang, certs: &[ca_core::CertRecord]) -> Markup {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    html! {
        @if certs.is_empty() {
            p.empty { (lang.t("ありません。", "None.")) }
        } @else {
            table {
                thead { tr {
                    th { (lang.t("シリアル番号", "Serial")) } th { (lang.t("プロファイル", "Profile")) }
                    th { (lang.t("状態", "Status")) } th { (lang.t("有効期限", "Expires")) }
                    th { (lang.t("主体者", "Subject")) }
                } }
                tbody {
                    @for c in certs {
                        tr {
                            td { a href={"/certificates/" (c.serial)} { code { (c.serial) } } }
                            td { (c.profile) }
                            td { (cert_status_name(lang, status_name(c.status_at(now)))) }
                            td { (ca_core::rfc3339(c.not_after)) }
                            td { (c.subject) }
                        }
                    }
                }
            }
        }
    }
}

/// Days ahead that the dashboard calls "expiring soon".
pub const EXPIRING_SOON_DAYS: u32 = 30;

async fn dashboard(
    State(app): State<Arc<RaApp>>,
    Officer(actor): Officer,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::of(&headers);
    let r = app
        .with_ca(&actor, |ca, actor| {
            let all = ca.request_list(actor, None)?;
            let me = actor.label();
            let pending: Vec<RequestRecord> = all
                .iter()
                .filter(|r| r.state == RequestState::Pending && r.submitted_by != me)
                .cloned()
                .collect();
            let mine: Vec<RequestRecord> = all
                .iter()
                .filter(|r| r.submitted_by == me)
                .cloned()
                .collect();
            let expiring = ca.org_certificates(
                actor,
                &OrgCertQuery {
                    expiring_within_days: Some(EXPIRING_SOON_DAYS),
                    ..Default::default()
                },
            )?;
            Ok((pending, mine, expiring))
        })
        .await;
    let (pending, mine, expiring) = match r {
        Ok(v) => v,
        Err(e) => return error_page(lang, &actor, &e),
    };
    let approver = matches!(&actor, Actor::Officer { role, .. } if *role == Role::Approver);
    html_response(
        StatusCode::OK,
        layout(
            lang,
            lang.t("ダッシュボード", "Dashboard"),
            Some(&actor),
            html! {
                section {
                    h2 { (lang.t("承認待ちの申請", "Awaiting approval")) }
                    @if !approver { p.note { (lang.t("承認は承認者が行います。", "Approvers decide these.")) } }
                    (requests_table(lang, &pending))
                }
                section {
                    h2 { (lang.t("自分の申請", "My requests")) }
                    (requests_table(lang, &mine))
                }
                section {
                    h2 { (lang.t("まもなく有効期限が切れる証明書（30日以内）", "Certificates expiring within 30 days")) }
                    (certs_table(lang, &expiring))
                }
            },
        ),
    )
}

async fn requests_page(
    State(app): State<Arc<RaApp>>,
    Officer(actor): Officer,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::of(&headers);
    match app
        .with_ca(&actor, |ca, actor| ca.request_list(actor, None))
        .await
    {
        Ok(reqs) => html_response(
            StatusCode::OK,
            layout(
                lang,
                lang.t("申請一覧", "Requests"),
                Some(&actor),
                requests_table(lang, &reqs),
            ),
        ),
        Err(e) => error_page(lang, &actor, &e),
    }
}

/// The rules of the profiles an officer may request, for the submit page.
fn profile_rules(lang: Lang, policies: &ca_core::Policies) -> Markup {
    html! {
        dl.rules {
            @for p in policies.profiles.values().filter(|p| !p.ca && p.name != "ocsp-signing") {
                dt { code { (p.name) } " — " (p.description) }
                dd {
                    (lang.t("必須の主体者属性: ", "Required subject attributes: "))
                    (if p.subject.required.is_empty() { "-".to_string() } else { p.subject.required.join(", ") })
                    br;
                    (lang.t("使用できるSAN: ", "Allowed SANs: "))
                    (if p.san.allowed.is_empty() { "-".to_string() } else { p.san.allowed.iter().map(|t| t.prefix()).collect::<Vec<_>>().join(", ") })
                    @if !p.san.dns_suffixes.is_empty() {
                        " (" (lang.t("DNS名は ", "DNS names under ")) (p.san.dns_suffixes.join(", ")) (lang.t(" の下", "")) ")"
                    }
                    br;
                    (lang.t("有効期間: ", "Validity: ")) (p.validity_days) (lang.t(" 日", " days"))
                }
            }
        }
    }
}

async fn submit_page(
    State(app): State<Arc<RaApp>>,
    Officer(actor): Officer,
    Extension(peer): Extension<PeerCert>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::of(&headers);
    let policies = match app.with_ca(&actor, |ca, _| Ok(ca.policies().clone())).await {
        Ok(p) => p,
        Err(e) => return error_page(lang, &actor, &e),
    };
    let names: Vec<String> = policies
        .profiles
        .values()
        .filter(|p| !p.ca && p.name != "ocsp-signing")
        .map(|p| p.name.clone())
        .collect();
    html_response(
        StatusCode::OK,
        layout(
            lang,
            lang.t("証明書の発行申請", "Request a certificate"),
            Some(&actor),
            html! {
                form method="post" action="/requests" enctype="multipart/form-data" {
                    (csrf_field(&app, &peer))
                    label for="profile" { (lang.t("プロファイル", "Profile")) }
                    select #profile name="profile" {
                        @for n in &names { option value=(n) selected[n == "staff"] { (n) } }
                    }
                    label for="csr_file" { (lang.t("CSRファイル（PEMまたはDER）", "CSR file (PEM or DER)")) }
                    input #csr_file type="file" name="csr_file";
                    label for="csr_pem" { (lang.t("またはPEMを貼り付け", "or paste the PEM")) }
                    textarea #csr_pem name="csr_pem" rows="8" {}
                    label for="subject" { (lang.t("主体者DN（省略時はCSRのもの）", "Subject DN (default: the CSR's)")) }
                    input #subject type="text" name="subject";
                    label for="sans" { (lang.t("SAN（1行に1つ: dns:名前, email:アドレス, ip:アドレス, uri:URI）", "SANs (one per line: dns:NAME, email:ADDR, ip:ADDR, uri:URI)")) }
                    textarea #sans name="sans" rows="3" {}
                    button type="submit" { (lang.t("申請する", "Submit")) }
                }
                h2 { (lang.t("プロファイルの規則", "Profile rules")) }
                (profile_rules(lang, &policies))
            },
        ),
    )
}

/// The fields of a multipart form, text and files alike (each at most the body limit).
async fn form_fields(
    mut m: Multipart,
) -> Result<std::collections::HashMap<String, Vec<u8>>, ApiError> {
    let mut out = std::collections::HashMap::new();
    while let Some(field) = m.next_field().await.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_input",
            format!("form: {e}"),
            2,
        )
    })? {
        let name = field.name().unwrap_or_default().to_string();
        let data = field.bytes().await.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_input",
                format!("form: {e}"),
                2,
            )
        })?;
        out.insert(name, data.to_vec());
    }
    Ok(out)
}

/// A CSR from a form: the uploaded file (PEM or DER), else the pasted PEM.
fn form_csr(f: &std::collections::HashMap<String, Vec<u8>>) -> Result<Vec<u8>, ApiError> {
    if let Some(file) = f.get("csr_file").filter(|d| !d.is_empty()) {
        let mut blocks = ca_core::input::der_blocks(
            file,
            &["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"],
            "CSR file",
        )?;
        return Ok(blocks.remove(0));
    }
    let text = String::from_utf8_lossy(f.get("csr_pem").map(Vec::as_slice).unwrap_or_default())
        .to_string();
    if text.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_input",
            "give a CSR: a file or the pasted PEM".into(),
            2,
        ));
    }
    csr_from_text(&text)
}

fn text_field(f: &std::collections::HashMap<String, Vec<u8>>, name: &str) -> String {
    String::from_utf8_lossy(f.get(name).map(Vec::as_slice).unwrap_or_default())
        .trim()
        .to_string()
}

async fn submit(
    State(app): State<Arc<RaApp>>,
    Officer(actor): Officer,
    Extension(peer): Extension<PeerCert>,
    headers: HeaderMap,
    form: Multipart,
) -> Response {
    let lang = Lang::of(&headers);
    let r = async {
        let f = form_fields(form).await?;
        check_csrf(&app, &peer, Some(&text_field(&f, "csrf")))?;
        let csr = form_csr(&f)?;
        let profile = text_field(&f, "profile");
        let subject = Some(text_field(&f, "subject")).filter(|s| !s.is_empty());
        let sans: Vec<String> = text_field(&f, "sans")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        app.with_ca(&actor, move |ca, actor| {
            let org = match actor {
                Actor::Officer { org, .. } => org.clone(),
                Actor::Operator => String::new(),
            };
            ca.request_submit(actor, &profile, &csr, &org, subject.as_deref(), &sans)
        })
        .await
    }
    .await;
    match r {
        Ok(req) => secure(Redirect::to(&format!("/requests/{}", req.id)).into_response()),
        Err(e) => error_page(lang, &actor, &e),
    }
}

async fn request_page(
    State(app): State<Arc<RaApp>>,
    Officer(actor): Officer,
    Extension(peer): Extension<PeerCert>,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::of(&headers);
    let r = app
        .with_ca(&actor, move |ca, actor| {
            let req = ca
                .request_list(actor, None)?
                .into_iter()
                .find(|r| r.id == id)
                .ok_or_else(|| ca_core::Error::PolicyRefused {
                    detail: format!("no request {id} for you"),
                })?;
            let issued = if req.state == RequestState::Issued && req.kind != RequestKind::Revoke {
                ca.request_certificate(actor, id).ok().map(|i| i.serial)
            } else {
                None
            };
            Ok((req, issued))
        })
        .await;
    let (req, issued) = match r {
        Ok(v) => v,
        Err(e) => return error_page(lang, &actor, &e),
    };
    let may_decide = matches!(&actor, Actor::Officer { role, .. } if *role == Role::Approver)
        && req.state == RequestState::Pending
        && req.submitted_by != actor.label();
    html_response(
        StatusCode::OK,
        layout(
            lang,
            &format!("{} {}", lang.t("申請", "Request"), req.id),
            Some(&actor),
            html! {
                dl.detail {
                    dt { (lang.t("種別", "Kind")) } dd { (kind_name(lang, req.kind)) }
                    dt { (lang.t("状態", "State")) } dd.state { (state_name(lang, req.state)) }
                    dt { (lang.t("団体", "Organisation")) } dd { (req.org) }
                    dt { (lang.t("プロファイル", "Profile")) } dd { (req.profile.as_deref().unwrap_or("-")) }
                    dt { (lang.t("主体者", "Subject")) } dd { (req.subject.as_deref().unwrap_or("-")) }
                    dt { "SAN" } dd { (if req.sans.is_empty() { "-".to_string() } else { req.sans.join(", ") }) }
                    dt { (lang.t("申請者", "Submitted by")) } dd { (req.submitted_by) }
                    dt { (lang.t("判断者", "Decided by")) } dd { (req.decided_by.as_deref().unwrap_or("-")) }
                    @if let Some(r) = &req.reject_reason { dt { (lang.t("却下理由", "Rejected because")) } dd { (r) } }
                    @if let Some(s) = &req.serial { dt { (lang.t("対象の証明書", "Certificate concerned")) } dd { a href={"/certificates/" (s)} { code { (s) } } } }
                    @if let Some(s) = &issued { dt { (lang.t("発行された証明書", "Issued certificate")) } dd { a #issued-cert href={"/certificates/" (s)} { code { (s) } } } }
                }
                @if may_decide {
                    form.inline method="post" action={"/requests/" (req.id) "/approve"} {
                        (csrf_field(&app, &peer))
                        button #approve type="submit" { (lang.t("承認する", "Approve")) }
                    }
                    form.inline method="post" action={"/requests/" (req.id) "/reject"} {
                        (csrf_field(&app, &peer))
                        label for="reason" { (lang.t("却下理由", "Reason")) }
                        input #reason type="text" name="reason" required;
                        button type="submit" { (lang.t("却下する", "Reject")) }
                    }
                } @else if req.state == RequestState::Pending {
                    p.note { (lang.t("この申請は、申請者以外の承認者が承認または却下します。", "An approver other than the submitter approves or rejects this request.")) }
                }
            },
        ),
    )
}

/// A posted form with only a CSRF token and maybe a reason.
#[derive(Debug, Deserialize)]
struct SimpleForm {
    csrf: Option<String>,
    reason: Option<String>,
}

async fn approve(
    State(app): State<Arc<RaApp>>,
    Officer(actor): Officer,
    Extension(peer): Extension<PeerCert>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<SimpleForm>,
) -> Response {
    let lang = Lang::of(&headers);
    let r = match check_csrf(&app, &peer, f.csrf.as_deref()) {
        Ok(()) => {
            app.with_ca(&actor, move |ca, actor| ca.request_approve(actor, id))
                .await
        }
        Err(e) => Err(e),
    };
    match r {
        Ok(_) => secure(Redirect::to(&format!("/requests/{id}")).into_response()),
        Err(e) => error_page(lang, &actor, &e),
    }
}

async fn reject(
    State(app): State<Arc<RaApp>>,
    Officer(actor): Officer,
    Extension(peer): Extension<PeerCert>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<SimpleForm>,
) -> Response {
    let lang = Lang::of(&headers);
    let r = match check_csrf(&app, &peer, f.csrf.as_deref()) {
        Ok(()) => {
            let reason = f.reason.unwrap_or_default();
            app.with_ca(&actor, move |ca, actor| {
                ca.request_reject(actor, id, &reason)
            })
            .await
        }
        Err(e) => Err(e),
    };
    match r {
        Ok(_) => secure(Redirect::to(&format!("/requests/{id}")).into_response()),
        Err(e) => error_page(lang, &actor, &e),
    }
}

async fn certificates_page(
    State(app): State<Arc<RaApp>>,
    Officer(actor): Officer,
    Query(q): Query<CertQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::of(&headers);
    let text = q.q.clone().unwrap_or_default();
    let r = match q.to_core() {
        Ok(core) => {
            app.with_ca(&actor, move |ca, actor| ca.org_certificates(actor, &core))
                .await
        }
        Err(e) => Err(e),
    };
    match r {
        Ok(certs) => html_response(
            StatusCode::OK,
            layout(
                lang,
                lang.t("団体の証明書", "The organisation's certificates"),
                Some(&actor),
                html! {
                    form.inline method="get" action="/certificates" {
                        label for="q" { (lang.t("検索", "Search")) }
                        input #q type="search" name="q" value=(text);
                        label for="expiring" { (lang.t("有効期限まで（日）", "Expiring within (days)")) }
                        input #expiring type="number" min="0" name="expiring_within_days";
                        button type="submit" { (lang.t("検索", "Search")) }
                    }
                    (certs_table(lang, &certs))
                },
            ),
        ),
        Err(e) => error_page(lang, &actor, &e),
    }
}

async fn certificate_page(
    State(app): State<Arc<RaApp>>,
    Officer(actor): Officer,
    Extension(peer): Extension<PeerCert>,
    Path(serial): Path<String>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::of(&headers);
    let r = app
        .with_ca(&actor, move |ca, actor| ca.org_certificate(actor, &serial))
        .await;
    let c = match r {
        Ok(c) => c,
        Err(e) => return error_page(lang, &actor, &e),
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let status = status_name(c.status_at(now));
    let reasons = [
        "unspecified",
        "keyCompromise",
        "affiliationChanged",
        "superseded",
        "cessationOfOperation",
        "certificateHold",
        "privilegeWithdrawn",
    ];
    html_response(
        StatusCode::OK,
        layout(
            lang,
            lang.t("証明書", "Certificate"),
            Some(&actor),
            html! {
                dl.detail {
                    dt { (lang.t("シリアル番号", "Serial")) } dd { code { (c.serial) } }
                    dt { (lang.t("主体者", "Subject")) } dd { (c.subject) }
                    dt { (lang.t("プロファイル", "Profile")) } dd { (c.profile) }
                    dt { (lang.t("発行CA", "Issuing CA")) } dd { (c.ca) }
                    dt { (lang.t("有効期間", "Validity")) } dd { (ca_core::rfc3339(c.not_before)) " – " (ca_core::rfc3339(c.not_after)) }
                    dt { (lang.t("状態", "Status")) } dd { (cert_status_name(lang, status)) @if let Some(r) = &c.reason { " (" (r) ")" } }
                }
                h2 { (lang.t("ダウンロード", "Downloads")) }
                ul.downloads {
                    li { a #download-pem href={"/certificates/" (c.serial) "/download/pem"} { "PEM" } }
                    li { a #download-der href={"/certificates/" (c.serial) "/download/der"} { "DER" } }
                    li { a #download-chain href={"/certificates/" (c.serial) "/download/chain"} { (lang.t("チェーン（PEM）", "Chain (PEM)")) } }
                }
                @if status == "good" {
                    h2 { (lang.t("失効申請", "Request revocation")) }
                    form method="post" action={"/certificates/" (c.serial) "/revoke"} {
                        (csrf_field(&app, &peer))
                        label for="reason" { (lang.t("理由", "Reason")) }
                        select #reason name="reason" { @for r in reasons { option value=(r) { (r) } } }
                        button type="submit" { (lang.t("失効を申請する", "Request revocation")) }
                    }
                    h2 { (lang.t("更新申請", "Renewal")) }
                    form method="post" action={"/certificates/" (c.serial) "/renew"} enctype="multipart/form-data" {
                        (csrf_field(&app, &peer))
                        label for="csr_file" { (lang.t("新しいCSRファイル", "New CSR file")) }
                        input #csr_file type="file" name="csr_file";
                        label for="csr_pem" { (lang.t("またはPEMを貼り付け", "or paste the PEM")) }
                        textarea #csr_pem name="csr_pem" rows="6" {}
                        label.check { input type="checkbox" name="supersede" value="1"; " " (lang.t("発行後、旧証明書を失効（superseded）させる", "Revoke the old certificate (superseded) once the new one is issued")) }
                        button type="submit" { (lang.t("更新を申請する", "Request renewal")) }
                    }
                }
            },
        ),
    )
}

async fn download(
    State(app): State<Arc<RaApp>>,
    Officer(actor): Officer,
    Path((serial, format)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::of(&headers);
    let r = app
        .with_ca(&actor, move |ca, actor| {
            let c = ca.org_certificate(actor, &serial)?;
            let chain = ca.chain(&c.ca)?;
            Ok((c, chain))
        })
        .await;
    let (c, chain) = match r {
        Ok(v) => v,
        Err(e) => return error_page(lang, &actor, &e),
    };
    let (body, ctype, ext): (Vec<u8>, &str, &str) = match format.as_str() {
        "pem" => (
            ca_core::input::to_pem("CERTIFICATE", &c.der).into_bytes(),
            "application/x-pem-file",
            "pem",
        ),
        "der" => (c.der.clone(), "application/pkix-cert", "cer"),
        "chain" => {
            let mut s = ca_core::input::to_pem("CERTIFICATE", &c.der);
            for ca in &chain {
                s.push_str(&ca_core::input::to_pem("CERTIFICATE", &ca.cert_der));
            }
            (s.into_bytes(), "application/x-pem-file", "chain.pem")
        }
        _ => {
            return error_page(
                lang,
                &actor,
                &ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "formats: pem, der, chain".into(),
                    2,
                ),
            );
        }
    };
    let disposition = format!("attachment; filename=\"{}.{ext}\"", c.serial);
    let mut r = (StatusCode::OK, body).into_response();
    if let Ok(v) = HeaderValue::from_str(ctype) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    secure(r)
}

async fn revoke_request(
    State(app): State<Arc<RaApp>>,
    Officer(actor): Officer,
    Extension(peer): Extension<PeerCert>,
    Path(serial): Path<String>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<SimpleForm>,
) -> Response {
    let lang = Lang::of(&headers);
    let r = match check_csrf(&app, &peer, f.csrf.as_deref()) {
        Ok(()) => {
            let reason = f.reason.unwrap_or_default();
            app.with_ca(&actor, move |ca, actor| {
                ca.revoke_request(actor, &serial, &reason)
            })
            .await
        }
        Err(e) => Err(e),
    };
    match r {
        Ok(req) => secure(Redirect::to(&format!("/requests/{}", req.id)).into_response()),
        Err(e) => error_page(lang, &actor, &e),
    }
}

async fn renew(
    State(app): State<Arc<RaApp>>,
    Officer(actor): Officer,
    Extension(peer): Extension<PeerCert>,
    Path(serial): Path<String>,
    headers: HeaderMap,
    form: Multipart,
) -> Response {
    let lang = Lang::of(&headers);
    let r = async {
        let f = form_fields(form).await?;
        check_csrf(&app, &peer, Some(&text_field(&f, "csrf")))?;
        let csr = form_csr(&f)?;
        let supersede = text_field(&f, "supersede") == "1";
        app.with_ca(&actor, move |ca, actor| {
            ca.request_renew(actor, &serial, &csr, supersede)
        })
        .await
    }
    .await;
    match r {
        Ok(req) => secure(Redirect::to(&format!("/requests/{}", req.id)).into_response()),
        Err(e) => error_page(lang, &actor, &e),
    }
}
