//! The commands: each reads its arguments, calls ca-core, and prints per the contract.

use std::io::{BufRead, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ca_core::{
    Authority, CertFilter, CertStatus, InitOptions, IssuanceRequest, Issued, NewCa,
    PassphraseSource, Policies, input, name_to_string,
};
use der::Decode;
use serde_json::{Value, json};

use crate::cli::{
    AuditCommand, CaCommand, CertCommand, Cli, Command, InitArgs, IssueArgs, ProfileCommand,
    RevokeArgs, StatusArg,
};
use crate::output::{CliError, print_json, print_text, table};

pub type CmdResult = Result<ExitCode, CliError>;

/// How many library chunks (`BATCH_CHUNK` lines) `issue --batch` hands over per call.
const READ_AHEAD_CHUNKS: usize = 16;

/// Largest `issue --batch` line: a CSR in PEM plus a few fields.
const MAX_BATCH_LINE: usize = 128 * 1024;
/// How far past [`MAX_BATCH_LINE`] an oversized line is skipped before the batch stops reading.
const MAX_SKIPPED_LINE: usize = 64 << 20;

/// Consumes `reader` up to and including the next newline, keeping nothing, but at most `limit`
/// bytes. Returns the bytes consumed and whether the line ended (newline or end of file).
fn skip_line(reader: &mut impl BufRead, limit: usize) -> std::io::Result<(usize, bool)> {
    let mut skipped = 0;
    while skipped <= limit {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok((skipped, true));
        }
        if let Some(i) = buf.iter().position(|b| *b == b'\n') {
            reader.consume(i + 1);
            return Ok((skipped + i + 1, true));
        }
        let n = buf.len();
        reader.consume(n);
        skipped += n;
    }
    Ok((skipped, false))
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> CmdResult {
    let ctx = Ctx {
        home: cli.home.clone(),
        json: cli.json,
        passphrase: match &cli.passphrase_file {
            Some(p) => PassphraseSource::File(p.clone()),
            None => PassphraseSource::Default,
        },
        store: cli.store.clone(),
    };
    if let Some(server) = &cli.server {
        let remote = crate::remote::Remote::new(
            server,
            cli.client_cert.as_deref(),
            cli.client_key.as_deref(),
            cli.server_ca.as_deref(),
        )?;
        return match cli.command {
            Command::Request(c) => {
                let (op, out) = crate::ra::request_op(c)?;
                let v = remote.call(&op)?;
                crate::ra::print_op_result(&ctx, &op, &v, out.as_deref())
            }
            Command::RevokeRequest { serial, reason } => {
                let op = crate::ra::RequestOp::RevokeRequest { serial, reason };
                let v = remote.call(&op)?;
                crate::ra::print_op_result(&ctx, &op, &v, None)
            }
            Command::Unhold { serial } => {
                let op = crate::ra::RequestOp::Unhold { serial };
                let v = remote.call(&op)?;
                crate::ra::print_op_result(&ctx, &op, &v, None)
            }
            other => crate::remote::cert_command(&remote, &ctx, other),
        };
    }
    match cli.command {
        Command::Init(a) => init(&ctx, a),
        Command::Ca(c) => match c {
            CaCommand::List => ca_list(&ctx),
            CaCommand::Cert {
                name, cross: true, ..
            } => ca_cert_cross(&ctx, &name),
            CaCommand::Cert {
                name,
                chain: _,
                links: true,
                ..
            } => ca_links(&ctx, &name),
            CaCommand::Cert { name, chain, .. } => ca_cert(&ctx, &name, chain),
            CaCommand::Create(a) => ca_create(&ctx, a),
            CaCommand::Renew(a) => ca_renew(&ctx, a),
        },
        Command::Profile(p) => match p {
            ProfileCommand::List => profile_list(&ctx),
            ProfileCommand::Show { name } => profile_show(&ctx, &name),
        },
        Command::Issue(a) => match &a.batch {
            Some(file) => issue_batch(&ctx, file, &a),
            None => issue_one(&ctx, a),
        },
        Command::Revoke(a) => match &a.batch {
            Some(file) => revoke_batch(&ctx, file, &a),
            None => revoke_one(&ctx, &a),
        },
        Command::Publish(a) => crate::publish_cmd::publish(&ctx, a),
        Command::Verify(a) => crate::verify::verify(&ctx, a),
        Command::CrossCertify(a) => cross_certify(&ctx, a),
        Command::Serve(a) => crate::serve::serve(&ctx, a),
        Command::Unhold { serial } => crate::ra::unhold(&ctx, &serial),
        Command::Completions { shell } => crate::docs::completions(shell),
        Command::Man => crate::docs::man(),
        Command::Config(crate::cli::ConfigCommand::Show) => crate::config_cmd::show(&ctx),
        Command::Org(c) => crate::ra::org(&ctx, c),
        Command::Officer(c) => crate::ra::officer(&ctx, c),
        Command::Request(c) => crate::ra::request(&ctx, c),
        Command::RevokeRequest { serial, reason } => {
            crate::ra::revoke_request(&ctx, &serial, &reason)
        }
        Command::Status { serial, ca } => status(&ctx, &serial, ca.as_deref()),
        Command::Crl {
            ca,
            delta,
            arl,
            pem,
            out,
            generation,
        } => crl(&ctx, &ca, delta, arl, pem, &out, generation),
        Command::Audit(a) => match a {
            AuditCommand::Verify { file } => audit_verify(&ctx, file.as_deref()),
            AuditCommand::List => audit_list(&ctx),
            AuditCommand::Export { out } => audit_export(&ctx, &out),
        },
        Command::VerifySignature(a) => crate::signature::verify_signature(&ctx, a),
        Command::TimestampSignature(a) => crate::signature::timestamp_signature(&ctx, a),
        Command::Receipt(c) => match c {
            crate::cli::ReceiptCommand::Create(a) => crate::receipt::create(&ctx, a),
            crate::cli::ReceiptCommand::Verify(a) => crate::receipt::verify(&ctx, a),
        },
        Command::Store(crate::cli::StoreCommand::Migrate { to }) => {
            crate::store_cmd::migrate(&ctx, &to)
        }
        Command::Backup { out } => crate::store_cmd::backup(&ctx, &out),
        Command::Restore { file, force } => crate::store_cmd::restore(&ctx, &file, force),
        Command::Cert(c) => match c {
            CertCommand::List {
                ca,
                profile,
                status,
            } => cert_list(&ctx, ca, profile, status),
            CertCommand::Show { serial, ca } => cert_show(&ctx, &serial, ca.as_deref()),
        },
    }
}

/// What every command needs: home, output mode, passphrase source, store.
#[derive(Clone)]
pub struct Ctx {
    pub home: PathBuf,
    pub json: bool,
    pub passphrase: PassphraseSource,
    /// `--store` (env `LGPKI_STORE`): None for the one recorded in home, else SQLite.
    pub store: Option<String>,
}

impl Ctx {
    /// The policies in force: the home's copy if `init --policies` made one, else the built-in.
    pub fn policies(&self) -> Result<Policies, CliError> {
        let dir = self.home.join("policies");
        Ok(if dir.is_dir() {
            Policies::load_dir(&dir)?
        } else {
            Policies::embedded()?
        })
    }

    pub fn open(&self) -> Result<Authority, CliError> {
        Ok(Authority::open_in(
            &self.home,
            self.store.as_deref(),
            self.passphrase.clone(),
            self.policies()?,
        )?)
    }
}

pub fn ok() -> CmdResult {
    Ok(ExitCode::SUCCESS)
}

fn init(ctx: &Ctx, a: InitArgs) -> CmdResult {
    let policies = match &a.policies {
        Some(dir) => Policies::load_dir(dir)?,
        None => Policies::embedded()?,
    };
    let mut ca = Authority::init_in(
        &ctx.home,
        ctx.store.as_deref(),
        InitOptions {
            key_alg: a.key_alg.into(),
            key_uri: a.key_uri.clone(),
            base_url: a.base_url.clone(),
            passphrase: ctx.passphrase.clone(),
            policies,
        },
        None,
    )?;
    if let Some(dir) = &a.policies {
        copy_policies(dir, &ctx.home.join("policies"))?;
    }
    after_init(&mut ca)?;
    let cas = ca.cas()?;
    if ctx.json {
        print_json(&json!({
            "home": ctx.home.display().to_string(),
            "cas": cas.iter().map(ca_json).collect::<Vec<_>>(),
        }));
    } else {
        print_text(&format!(
            "initialised {} with {} CAs:\n",
            ctx.home.display(),
            cas.len()
        ));
        print_text(&ca_table(&cas));
    }
    ok()
}

/// What `init` (and `serve`'s first start) add to a new home: the commented settings file
/// (`HOME/lgpki.toml`, every default shown) and the VA certificate of the validation service
/// (profile `va`, issued by the bridge CA, when the policies have both), and the TSA
/// certificate (profile `timestamping`, when a CA is bound to it).
pub fn after_init(ca: &mut Authority) -> Result<(), CliError> {
    let settings = ca.home().join(ca_core::Settings::FILE);
    if !settings.exists() {
        ca_core::write_atomic(&settings, ca_core::Settings::EXAMPLE.as_bytes())?;
    }
    if ca.policies().profile("va").is_ok() && ca.ca_record("bridge").is_ok() {
        crate::serve_certs::va().obtain(ca)?;
    }
    if tsa_available(ca)? {
        crate::serve_certs::tsa().obtain(ca)?;
    }
    // Delegated OCSP responders for the CAs the hierarchy marks (the application root and its
    // sub-CAs by default).
    let marked: Vec<String> = ca
        .policies()
        .hierarchy
        .iter()
        .filter(|s| s.ocsp_responder)
        .map(|s| s.name.clone())
        .collect();
    for name in marked {
        if ca.ca_record(&name).is_ok() {
            crate::serve_certs::ocsp_responder(&name).obtain(ca)?;
        }
    }
    Ok(())
}

/// Whether the home can have a TSA: the policies have profile `timestamping` and a CA of the
/// home is bound to it.
pub fn tsa_available(ca: &Authority) -> Result<bool, CliError> {
    Ok(ca.policies().profile("timestamping").is_ok()
        && ca
            .cas()?
            .iter()
            .any(|c| c.profiles.iter().any(|p| p == "timestamping")))
}

fn copy_policies(from: &Path, to: &Path) -> Result<(), CliError> {
    let io = |p: &Path, e: std::io::Error| {
        CliError::Core(ca_core::Error::Io {
            path: p.to_path_buf(),
            source: e,
        })
    };
    std::fs::create_dir_all(to.join("profiles")).map_err(|e| io(to, e))?;
    for f in ["oids.toml", "hierarchy.toml"] {
        std::fs::copy(from.join(f), to.join(f)).map_err(|e| io(&from.join(f), e))?;
    }
    let entries = std::fs::read_dir(from.join("profiles")).map_err(|e| io(from, e))?;
    for e in entries.flatten() {
        std::fs::copy(e.path(), to.join("profiles").join(e.file_name()))
            .map_err(|err| io(&e.path(), err))?;
    }
    Ok(())
}

fn ca_subject_and_expiry(c: &ca_core::CaRecord) -> (String, String, String) {
    match x509_cert::Certificate::from_der(&c.cert_der) {
        Ok(cert) => {
            let tbs = cert.tbs_certificate();
            (
                name_to_string(tbs.subject()),
                ca_core::rfc3339(tbs.validity().not_after.to_unix_duration().as_secs() as i64),
                hex::encode(tbs.serial_number().as_bytes()),
            )
        }
        Err(_) => ("?".into(), "?".into(), "?".into()),
    }
}

/// What a CA issues: `ca` when its certificate lets it certify CAs (basicConstraints
/// pathLenConstraint absent or above 0, RFC 5280 §4.2.1.9), `ee` when profiles are bound to it.
fn ca_issues(c: &ca_core::CaRecord) -> Vec<&'static str> {
    let path_len = x509_cert::Certificate::from_der(&c.cert_der)
        .ok()
        .and_then(|cert| {
            cert.tbs_certificate()
                .get_extension::<x509_cert::ext::pkix::BasicConstraints>()
                .ok()
                .flatten()
                .map(|(_, bc)| bc.path_len_constraint)
        });
    let mut out = Vec::new();
    if !matches!(path_len, Some(Some(0))) {
        out.push("ca");
    }
    if !c.profiles.is_empty() {
        out.push("ee");
    }
    out
}

fn ca_json(c: &ca_core::CaRecord) -> Value {
    let (subject, not_after, serial) = ca_subject_and_expiry(c);
    json!({
        "self_signed": c.parent.is_none(),
        "generation": c.generation,
        "issues": ca_issues(c),
        "name": c.name,
        "subject": subject,
        "parent": c.parent,
        "key_alg": c.key_alg.name(),
        "key_location": ca_core::KeyRef(c.key_ref.clone()).location(),
        "profiles": c.profiles,
        "serial": serial,
        "not_after": not_after,
    })
}

fn ca_table(cas: &[ca_core::CaRecord]) -> String {
    let rows: Vec<Vec<String>> = cas
        .iter()
        .map(|c| {
            let (subject, _, _) = ca_subject_and_expiry(c);
            vec![
                c.name.clone(),
                subject,
                c.parent.clone().unwrap_or_else(|| "-".into()),
                c.generation.to_string(),
                c.key_alg.name().into(),
                ca_core::KeyRef(c.key_ref.clone()).location(),
                if c.profiles.is_empty() {
                    "-".into()
                } else {
                    c.profiles.join(",")
                },
            ]
        })
        .collect();
    table(
        &[
            "NAME", "SUBJECT", "PARENT", "GEN", "KEY", "LOCATION", "PROFILES",
        ],
        &rows,
    )
}

fn ca_list(ctx: &Ctx) -> CmdResult {
    let ca = ctx.open()?;
    let cas = ca.cas()?;
    if ctx.json {
        for c in &cas {
            print_json(&ca_json(c));
        }
    } else {
        print_text(&ca_table(&cas));
    }
    ok()
}

fn ca_cert(ctx: &Ctx, name: &str, chain: bool) -> CmdResult {
    let ca = ctx.open()?;
    let certs = if chain {
        ca.chain(name)?
    } else {
        vec![ca.ca_record(name)?]
    };
    let pem: String = certs
        .iter()
        .map(|c| input::to_pem("CERTIFICATE", &c.cert_der))
        .collect();
    if ctx.json {
        print_json(&json!({"name": name, "pem": pem}));
    } else {
        print_text(&pem);
    }
    ok()
}

/// The policies a CA made by `ca create` asserts: with `--profile`s, the classes of those
/// profiles and of its own delegated OCSP responder (only what lies beneath it); without, every
/// LGPKI class (CAs may be created beneath it).
fn ca_create_policies(
    ca: &Authority,
    profiles: &[String],
) -> Result<Option<Vec<const_oid::ObjectIdentifier>>, CliError> {
    if profiles.is_empty() {
        return Ok(None);
    }
    let mut oids = Vec::new();
    for p in profiles
        .iter()
        .map(String::as_str)
        .chain([ca_core::OCSP_RESPONDER_PROFILE])
    {
        oids.push(ca.policies().profile(p)?.policy()?);
    }
    oids.sort();
    oids.dedup();
    Ok(Some(oids))
}

/// `ca cert NAME --cross`: every cross-certificate issued to or by NAME (PEM blocks).
fn ca_cert_cross(ctx: &Ctx, name: &str) -> CmdResult {
    let ca = ctx.open()?;
    let pem: String = ca
        .cross_certificates_of(name)?
        .iter()
        .map(|d| input::to_pem("CERTIFICATE", d))
        .collect();
    if ctx.json {
        print_json(&json!({"name": name, "pem": pem}));
    } else {
        print_text(&pem);
    }
    ok()
}

fn ca_links(ctx: &Ctx, name: &str) -> CmdResult {
    let ca = ctx.open()?;
    let links = ca.ca_links(name)?;
    let pem: String = links
        .iter()
        .map(|c| input::to_pem("CERTIFICATE", &c.der))
        .collect();
    if ctx.json {
        print_json(&json!({"name": name, "pem": pem}));
    } else {
        print_text(&pem);
    }
    ok()
}

fn ca_renew(ctx: &Ctx, a: crate::cli::CaRenewArgs) -> CmdResult {
    let mut ca = ctx.open()?;
    let renewed = ca.renew_ca(
        &a.name,
        &ca_core::RenewOptions {
            key_alg: a.key_alg.map(Into::into),
            key_uri: a.key_uri,
            days: a.days,
        },
    )?;
    if ctx.json {
        print_json(&json!({
            "ca": renewed.ca,
            "generation": renewed.generation,
            "serial": renewed.serial,
            "links": renewed.links,
        }));
    } else {
        let mut text = format!(
            "CA {} renewed: generation {}, certificate {}\n",
            renewed.ca, renewed.generation, renewed.serial
        );
        for l in &renewed.links {
            text.push_str(&format!("link certificate {l}\n"));
        }
        for c in &renewed.crosses {
            text.push_str(&format!("cross-certificate re-issued {c}\n"));
        }
        print_text(&text);
    }
    ok()
}

fn ca_create(ctx: &Ctx, a: crate::cli::CaCreateArgs) -> CmdResult {
    let mut ca = ctx.open()?;
    let record = ca.create_ca(&NewCa {
        subject: a
            .subject
            .clone()
            .unwrap_or_else(|| format!("CN=LGPKI {} CA,O=LGPKI,C=JP", a.name)),
        name: a.name,
        parent: Some(a.parent),
        key_alg: a.key_alg.into(),
        key_uri: a.key_uri,
        path_len: a.path_len,
        validity_days: a.days,
        policies: ca_create_policies(&ca, &a.profiles)?,
        profiles: a.profiles,
        extended_key_usage: Vec::new(),
    })?;
    if ctx.json {
        print_json(&ca_json(&record));
    } else {
        print_text(&ca_table(&[record]));
    }
    ok()
}

fn profile_json(p: &ca_core::Profile) -> Value {
    let mut v = serde_json::to_value(p).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.remove("policy_oid");
        m.insert("policies".into(), json!([p.policy_oid]));
    }
    v
}

fn profile_list(ctx: &Ctx) -> CmdResult {
    let policies = ctx.policies()?;
    if ctx.json {
        for p in policies.profiles.values() {
            print_json(&profile_json(p));
        }
    } else {
        let rows: Vec<Vec<String>> = policies
            .profiles
            .values()
            .map(|p| {
                vec![
                    p.name.clone(),
                    p.policy_oid.clone(),
                    format!("{}d", p.validity_days),
                    p.description.clone(),
                ]
            })
            .collect();
        print_text(&table(
            &["NAME", "POLICY", "VALIDITY", "DESCRIPTION"],
            &rows,
        ));
    }
    ok()
}

fn profile_show(ctx: &Ctx, name: &str) -> CmdResult {
    let policies = ctx.policies()?;
    let p = policies.profile(name)?;
    if ctx.json {
        print_json(&profile_json(p));
    } else {
        let names = |v: &[String]| {
            if v.is_empty() {
                "-".to_string()
            } else {
                v.join(", ")
            }
        };
        let dbg = |v: &dyn std::fmt::Debug| format!("{v:?}");
        let mut s = String::new();
        s.push_str(&format!("name:               {}\n", p.name));
        s.push_str(&format!("description:        {}\n", p.description));
        s.push_str(&format!("policies:           {}\n", p.policy_oid));
        s.push_str(&format!(
            "validity:           {} days (at most {})\n",
            p.validity_days, p.max_validity_days
        ));
        s.push_str(&format!("keyUsage (EC):      {}\n", dbg(&p.key_usage_ec)));
        s.push_str(&format!("keyUsage (RSA):     {}\n", dbg(&p.key_usage_rsa)));
        s.push_str(&format!(
            "extendedKeyUsage:   {}\n",
            dbg(&p.extended_key_usage)
        ));
        s.push_str(&format!(
            "key algorithms:     {} (RSA at least {} bits)\n",
            p.key_algorithms
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(", "),
            p.min_rsa_bits
        ));
        s.push_str(&format!(
            "subject fixed:      {}\n",
            p.subject
                .fixed
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        s.push_str(&format!(
            "subject required:   {}\n",
            names(&p.subject.required)
        ));
        s.push_str(&format!(
            "subject allowed:    {}\n",
            names(&p.subject.allowed)
        ));
        s.push_str(&format!("SAN required:       {}\n", dbg(&p.san.required)));
        s.push_str(&format!("SAN allowed:        {}\n", dbg(&p.san.allowed)));
        if !p.san.dns_suffixes.is_empty() {
            s.push_str(&format!(
                "DNS names under:    {}\n",
                p.san.dns_suffixes.join(", ")
            ));
        }
        print_text(&s);
    }
    ok()
}

pub fn read_csr(path: &Path) -> Result<Vec<u8>, CliError> {
    let data = input::read_limited(path, ca_core::MAX_CSR_BYTES * 2)?;
    csr_der_from(&data, &path.display().to_string())
}

fn csr_der_from(data: &[u8], what: &str) -> Result<Vec<u8>, CliError> {
    let mut blocks = input::der_blocks(
        data,
        &["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"],
        &format!("CSR {what}"),
    )?;
    if blocks.len() != 1 {
        return Err(CliError::Core(ca_core::Error::malformed(
            format!("CSR {what}"),
            format!("{} CSRs in one file; give one", blocks.len()),
        )));
    }
    Ok(blocks.remove(0))
}

pub fn issued_json(i: &Issued) -> Value {
    let mut v = serde_json::to_value(i).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.remove("replayed");
        if i.replayed {
            m.insert("replayed".into(), Value::Bool(true));
        }
    }
    v
}

fn issue_one(ctx: &Ctx, a: IssueArgs) -> CmdResult {
    let (Some(profile), Some(csr)) = (a.profile.clone(), a.csr.clone()) else {
        return Err(CliError::Usage(
            "--profile and --csr are required without --batch".into(),
        ));
    };
    let csr_der = read_csr(&csr)?;
    let mut ca = ctx.open()?;
    let issued = ca.issue(IssuanceRequest {
        profile,
        csr_der,
        ca: a.ca.clone(),
        subject: a.subject.clone(),
        sans: a.sans.clone(),
        days: a.days,
        request_id: None,
    })?;
    if let Some(out) = &a.out {
        ca_core::write_atomic(out, issued.pem.as_bytes())?;
        if !ctx.json {
            // A status line on stderr (stdout stays empty for scripts): what was issued, where.
            eprintln!(
                "issued {} ({}, {}) by {}, valid until {}: {}",
                issued.serial,
                issued.profile,
                issued.subject,
                issued.ca,
                issued.not_after,
                out.display()
            );
        }
    }
    if ctx.json {
        print_json(&issued_json(&issued));
    } else if a.out.is_none() {
        print_text(&issued.pem);
    }
    ok()
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchLine {
    profile: String,
    csr: String,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    san: Vec<String>,
    #[serde(default)]
    ca: Option<String>,
    #[serde(default)]
    days: Option<u32>,
    #[serde(default)]
    id: Option<String>,
}

fn issue_batch(ctx: &Ctx, file: &Path, a: &IssueArgs) -> CmdResult {
    if a.out.is_some()
        || !a.sans.is_empty()
        || a.subject.is_some()
        || a.ca.is_some()
        || a.days.is_some()
    {
        return Err(CliError::Usage(
            "--batch takes its fields from the file; drop --out/--san/--subject/--ca/--days".into(),
        ));
    }
    let f = std::fs::File::open(file).map_err(|e| {
        CliError::Core(ca_core::Error::Io {
            path: file.to_path_buf(),
            source: e,
        })
    })?;
    let mut reader = std::io::BufReader::new(f);
    let mut ca = ctx.open()?;
    let progress = std::io::stderr().is_terminal();
    let (mut line_no, mut done, mut failed) = (0usize, 0usize, 0usize);
    let mut eof = false;
    while !eof {
        // Read a chunk of lines; parse errors are results of their own line.
        let mut parsed: Vec<(usize, Result<IssuanceRequest, CliError>)> = Vec::new();
        // Several chunks per call, so that the library can check one chunk while it records
        // the one before (it still reports each line only once it is durable).
        while parsed.len() < ca_core::BATCH_CHUNK * READ_AHEAD_CHUNKS {
            let mut buf = Vec::new();
            let n = Read::by_ref(&mut reader)
                .take(MAX_BATCH_LINE as u64 + 1)
                .read_until(b'\n', &mut buf)
                .map_err(|e| {
                    CliError::Core(ca_core::Error::Io {
                        path: file.to_path_buf(),
                        source: e,
                    })
                })?;
            if n == 0 {
                eof = true;
                break;
            }
            line_no += 1;
            if buf.len() > MAX_BATCH_LINE && !buf.ends_with(b"\n") {
                // Skip the rest of an oversized line without keeping it; a line that goes on
                // past MAX_SKIPPED_LINE (e.g. /dev/zero) ends the batch.
                let (skipped, ended) = skip_line(&mut reader, MAX_SKIPPED_LINE).map_err(|e| {
                    CliError::Core(ca_core::Error::Io {
                        path: file.to_path_buf(),
                        source: e,
                    })
                })?;
                parsed.push((
                    line_no,
                    Err(CliError::Core(ca_core::Error::TooLarge {
                        what: if ended {
                            format!("line {line_no}")
                        } else {
                            format!("line {line_no} (the rest of the file is not read)")
                        },
                        size: buf.len() + skipped,
                        limit: MAX_BATCH_LINE,
                    })),
                ));
                if !ended {
                    eof = true;
                    break;
                }
                continue;
            }
            let text = String::from_utf8_lossy(&buf);
            if text.trim().is_empty() {
                continue;
            }
            parsed.push((line_no, parse_batch_line(&text, line_no)));
        }
        // The requests go to the library; parse failures stay behind as results of their line.
        let mut lines: Vec<(usize, Option<CliError>)> = Vec::with_capacity(parsed.len());
        let mut reqs: Vec<IssuanceRequest> = Vec::with_capacity(parsed.len());
        for (line, p) in parsed {
            match p {
                Ok(r) => {
                    reqs.push(r);
                    lines.push((line, None));
                }
                Err(e) => lines.push((line, Some(e))),
            }
        }
        // Print each result as the library reports it (durably recorded), preceded by the
        // parse failures of the lines before it.
        let mut next = 0usize;
        ca.issue_batch(reqs, |_, r| {
            while let Some((line, err)) = lines.get_mut(next) {
                match err.take() {
                    Some(e) => print_issue_result(*line, Err(e), &mut done, &mut failed),
                    None => break,
                }
                next += 1;
            }
            // `next` is now this request's line.
            if let Some((line, _)) = lines.get(next) {
                print_issue_result(*line, r.map_err(CliError::Core), &mut done, &mut failed);
            }
            next += 1;
        })?;
        for (line, err) in lines.iter_mut().skip(next) {
            if let Some(e) = err.take() {
                print_issue_result(*line, Err(e), &mut done, &mut failed);
            }
        }
        if progress {
            eprint!("\rissued {done}, failed {failed}");
        }
    }
    if progress {
        eprintln!();
    }
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// One `issue --batch` result line.
fn print_issue_result(
    line: usize,
    r: Result<Issued, CliError>,
    done: &mut usize,
    failed: &mut usize,
) {
    match r {
        Ok(i) => {
            let mut v = issued_json(&i);
            if let Value::Object(m) = &mut v {
                m.insert("line".into(), json!(line));
            }
            print_json(&v);
            *done += 1;
        }
        Err(e) => {
            print_json(&json!({"line": line, "error": e.to_json()}));
            *failed += 1;
        }
    }
}

fn parse_batch_line(text: &str, line: usize) -> Result<IssuanceRequest, CliError> {
    let l: BatchLine = serde_json::from_str(text)
        .map_err(|e| CliError::Core(ca_core::Error::malformed(format!("batch line {line}"), e)))?;
    let csr_der = csr_der_from(l.csr.as_bytes(), &format!("on line {line}"))?;
    Ok(IssuanceRequest {
        profile: l.profile,
        csr_der,
        ca: l.ca,
        subject: l.subject,
        sans: l.san,
        days: l.days,
        // Batch ids live in their own namespace: a line's id can never name an RA request's
        // issuance (`ra-request-N`) or any other caller's key.
        request_id: l.id.map(|id| format!("batch:{id}")),
    })
}

fn status_name(s: CertStatus) -> &'static str {
    match s {
        CertStatus::Good => "good",
        CertStatus::Revoked => "revoked",
        CertStatus::Expired => "expired",
    }
}

fn cert_list(
    ctx: &Ctx,
    ca_name: Option<String>,
    profile: Option<String>,
    status: Option<StatusArg>,
) -> CmdResult {
    let ca = ctx.open()?;
    if let Some(c) = &ca_name {
        ca.ca_record(c)?;
    }
    if let Some(p) = &profile
        && p != "root"
        && p != "sub-ca"
        && p != "cross"
        && p != ca_core::LINK_PROFILE
    {
        ca.policies().profile(p)?;
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let certs = ca.store().certs(&CertFilter {
        ca: ca_name,
        profile,
        status: status.map(|s| match s {
            StatusArg::Good => CertStatus::Good,
            StatusArg::Revoked => CertStatus::Revoked,
            StatusArg::Expired => CertStatus::Expired,
        }),
        now,
    })?;
    if ctx.json {
        for c in &certs {
            print_json(&json!({
                "serial": c.serial, "ca": c.ca, "profile": c.profile, "subject": c.subject,
                "not_after": ca_core::rfc3339(c.not_after), "status": status_name(c.status_at(now)),
            }));
        }
    } else {
        let rows: Vec<Vec<String>> = certs
            .iter()
            .map(|c| {
                vec![
                    c.serial.to_string(),
                    c.ca.clone(),
                    c.profile.clone(),
                    status_name(c.status_at(now)).into(),
                    ca_core::rfc3339(c.not_after),
                    c.subject.clone(),
                ]
            })
            .collect();
        print_text(&table(
            &["SERIAL", "CA", "PROFILE", "STATUS", "NOT_AFTER", "SUBJECT"],
            &rows,
        ));
    }
    ok()
}

fn cert_show(ctx: &Ctx, serial: &str, ca_name: Option<&str>) -> CmdResult {
    let ca = ctx.open()?;
    let hex: ca_core::Serial = serial.parse()?;
    let c = ca
        .store()
        .cert(&hex, ca_name)?
        .ok_or_else(|| ca_core::Error::CertificateNotFound {
            serial: hex.to_string(),
        })?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let status = status_name(c.status_at(now));
    let pem = input::to_pem("CERTIFICATE", &c.der);
    if ctx.json {
        print_json(&json!({
            "serial": c.serial, "ca": c.ca, "profile": c.profile, "subject": c.subject,
            "not_before": ca_core::rfc3339(c.not_before), "not_after": ca_core::rfc3339(c.not_after),
            "status": status,
            "revoked_at": c.revoked_at.map(ca_core::rfc3339), "reason": c.reason,
            "pem": pem,
        }));
    } else {
        let mut s = format!(
            "serial:  {}\nca:      {}\nprofile: {}\nsubject: {}\nstatus:  {status}\n",
            c.serial, c.ca, c.profile, c.subject
        );
        if let (Some(t), Some(r)) = (c.revoked_at, &c.reason) {
            s.push_str(&format!("revoked: {} ({r})\n", ca_core::rfc3339(t)));
        }
        s.push_str(&pem);
        print_text(&s);
    }
    ok()
}

fn audit_verify(ctx: &Ctx, file: Option<&Path>) -> CmdResult {
    let (records, source) = match file {
        Some(f) => {
            let data = input::read_limited(f, 1 << 30)?;
            let text = String::from_utf8(data)
                .map_err(|e| ca_core::Error::malformed(f.display().to_string(), e))?;
            let mut records = Vec::new();
            for (i, line) in text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                let r: ca_core::AuditRecord = serde_json::from_str(line).map_err(|e| {
                    ca_core::Error::malformed(format!("{} line {}", f.display(), i + 1), e)
                })?;
                records.push(r);
            }
            (records, f.display().to_string())
        }
        None => return audit_verify_store(ctx),
    };
    match ca_core::verify_chain(&records) {
        Ok(()) => {
            if ctx.json {
                print_json(&json!({"valid": true, "records": records.len(), "source": source}));
            } else {
                print_text(&format!(
                    "audit log in {source}: {} records, chain intact\n",
                    records.len()
                ));
            }
            ok()
        }
        Err((seq, why)) => {
            if ctx.json {
                print_json(
                    &json!({"valid": false, "first_bad_record": seq, "reason": why, "source": source}),
                );
            }
            eprintln!("lgpki: audit log in {source} is broken at record {seq}: {why}");
            Ok(ExitCode::from(1))
        }
    }
}

/// `audit verify` of the store: the chain and its signed checkpoints.
fn audit_verify_store(ctx: &Ctx) -> CmdResult {
    let mut ca = ctx.open()?;
    match ca.verify_audit()? {
        Ok(r) => {
            if ctx.json {
                print_json(&json!({
                    "valid": true, "records": r.records, "source": "the store",
                    "checkpoint": r.checkpoint, "checkpoints": r.checkpoints,
                    "unanchored": r.unanchored,
                }));
            } else {
                print_text(&format!(
                    "audit log in the store: {} records, chain intact; {}\n",
                    r.records,
                    match r.checkpoint {
                        Some(seq) => format!(
                            "signed checkpoint at record {seq} verified ({} checkpoints), {} \
                             records after it",
                            r.checkpoints, r.unanchored
                        ),
                        None => "no signed checkpoint yet (not anchored)".to_string(),
                    }
                ));
            }
            ok()
        }
        Err((seq, why)) => {
            if ctx.json {
                print_json(
                    &json!({"valid": false, "first_bad_record": seq, "reason": why, "source": "the store"}),
                );
            }
            eprintln!("lgpki: audit log in the store is broken at record {seq}: {why}");
            Ok(ExitCode::from(1))
        }
    }
}

fn audit_list(ctx: &Ctx) -> CmdResult {
    let records = ctx.open()?.store().audit_records()?;
    if ctx.json {
        for r in &records {
            print_json(
                &json!({"seq": r.seq, "time": r.time, "actor": r.actor, "action": r.action, "target": r.target, "outcome": r.outcome}),
            );
        }
    } else {
        let rows: Vec<Vec<String>> = records
            .iter()
            .map(|r| {
                vec![
                    r.seq.to_string(),
                    r.time.clone(),
                    r.actor.clone(),
                    r.action.clone(),
                    r.target.clone(),
                    r.outcome.clone(),
                ]
            })
            .collect();
        print_text(&table(
            &["SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "OUTCOME"],
            &rows,
        ));
    }
    ok()
}

fn audit_export(ctx: &Ctx, out: &Path) -> CmdResult {
    let records = ctx.open()?.store().audit_records()?;
    let mut text = String::new();
    for r in &records {
        text.push_str(&serde_json::to_string(r).map_err(|e| CliError::Usage(e.to_string()))?);
        text.push('\n');
    }
    ca_core::write_atomic(out, text.as_bytes())?;
    if ctx.json {
        print_json(&json!({"records": records.len(), "out": out.display().to_string()}));
    } else {
        print_text(&format!(
            "exported {} records to {}\n",
            records.len(),
            out.display()
        ));
    }
    ok()
}

pub fn parse_time(name: &'static str, v: &str) -> Result<time::OffsetDateTime, CliError> {
    time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339).map_err(|e| {
        CliError::Core(ca_core::Error::InvalidArgument {
            name,
            value: v.to_string(),
            reason: format!("not an RFC 3339 time: {e}"),
        })
    })
}

fn revoked_json(o: &ca_core::RevokeOutcome) -> Value {
    let r = &o.record;
    json!({
        "serial": r.serial, "ca": r.ca, "status": "revoked",
        "revoked_at": r.revoked_at.map(ca_core::rfc3339), "reason": r.reason,
        "invalidity_date": r.invalidity_date.map(ca_core::rfc3339),
        "already_revoked": o.already,
    })
}

fn revoke_one(ctx: &Ctx, a: &RevokeArgs) -> CmdResult {
    let (Some(serial), Some(reason)) = (a.serial.clone(), a.reason.clone()) else {
        return Err(CliError::Usage(
            "--serial and --reason are required without --batch".into(),
        ));
    };
    let invalidity_date = a
        .invalidity_date
        .as_deref()
        .map(|v| parse_time("--invalidity-date", v))
        .transpose()?;
    let mut ca = ctx.open()?;
    let mut results = ca.revoke(&[ca_core::Revocation {
        serial,
        reason,
        ca: a.ca.clone(),
        invalidity_date,
    }])?;
    let outcome = results
        .pop()
        .ok_or_else(|| CliError::Usage("nothing revoked".into()))??;
    if ctx.json {
        print_json(&revoked_json(&outcome));
    } else {
        let r = &outcome.record;
        print_text(&format!(
            "{} {} (CA {}, {} at {})\n",
            if outcome.already {
                "already revoked:"
            } else {
                "revoked:"
            },
            r.serial,
            r.ca,
            r.reason
                .map_or("unspecified", ca_core::crl::ReasonCode::name),
            r.revoked_at.map(ca_core::rfc3339).unwrap_or_default()
        ));
    }
    ok()
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeLine {
    serial: String,
    reason: String,
    #[serde(default)]
    ca: Option<String>,
    #[serde(default)]
    invalidity_date: Option<String>,
}

fn revoke_batch(ctx: &Ctx, file: &Path, a: &RevokeArgs) -> CmdResult {
    if a.ca.is_some() || a.invalidity_date.is_some() {
        return Err(CliError::Usage(
            "--batch takes its fields from the file; drop --ca/--invalidity-date".into(),
        ));
    }
    let data = input::read_limited(file, 1 << 30)?;
    let text = String::from_utf8(data)
        .map_err(|e| ca_core::Error::malformed(file.display().to_string(), e))?;
    let mut ca = ctx.open()?;
    let mut failed = 0usize;
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    for chunk in lines.chunks(ca_core::BATCH_CHUNK) {
        let parsed: Vec<(usize, Result<ca_core::Revocation, CliError>)> = chunk
            .iter()
            .map(|(n, l)| {
                let r = serde_json::from_str::<RevokeLine>(l)
                    .map_err(|e| {
                        CliError::Core(ca_core::Error::malformed(format!("batch line {n}"), e))
                    })
                    .and_then(|r| {
                        let invalidity_date = r
                            .invalidity_date
                            .as_deref()
                            .map(|v| parse_time("invalidity_date", v))
                            .transpose()?;
                        Ok(ca_core::Revocation {
                            serial: r.serial,
                            reason: r.reason,
                            ca: r.ca,
                            invalidity_date,
                        })
                    });
                (*n, r)
            })
            .collect();
        let valid: Vec<ca_core::Revocation> = parsed
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok().cloned())
            .collect();
        // One durable transaction for the chunk; lines are printed only after it commits.
        let mut results = ca.revoke(&valid)?.into_iter();
        for (line, p) in parsed {
            let r = match p {
                Err(e) => Err(e),
                Ok(_) => results
                    .next()
                    .unwrap_or_else(|| {
                        Err(ca_core::Error::PolicyRefused {
                            detail: "no result".into(),
                        })
                    })
                    .map_err(CliError::Core),
            };
            match r {
                Ok(o) => {
                    let mut v = revoked_json(&o);
                    if let Value::Object(m) = &mut v {
                        m.insert("line".into(), json!(line));
                    }
                    print_json(&v);
                }
                Err(e) => {
                    failed += 1;
                    print_json(&json!({"line": line, "error": e.to_json()}));
                }
            }
        }
    }
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn status(ctx: &Ctx, serial: &str, ca_name: Option<&str>) -> CmdResult {
    let ca = ctx.open()?;
    let st = ca.status(serial, ca_name)?;
    let hex: ca_core::Serial = serial.parse()?;
    let (v, text) = match &st {
        ca_core::RevocationStatus::Good(r) => (
            json!({"serial": r.serial, "ca": r.ca, "status": "good"}),
            "good\n".to_string(),
        ),
        ca_core::RevocationStatus::Revoked(r) => (
            json!({"serial": r.serial, "ca": r.ca, "status": "revoked", "revoked_at": r.revoked_at.map(ca_core::rfc3339), "reason": r.reason, "invalidity_date": r.invalidity_date.map(ca_core::rfc3339)}),
            format!(
                "revoked {} {}\n",
                r.revoked_at.map(ca_core::rfc3339).unwrap_or_default(),
                r.reason
                    .map_or("unspecified", ca_core::crl::ReasonCode::name)
            ),
        ),
        ca_core::RevocationStatus::Unknown => (
            json!({"serial": hex, "ca": ca_name, "status": "unknown"}),
            "unknown\n".to_string(),
        ),
    };
    if ctx.json {
        print_json(&v);
    } else {
        print_text(&text);
    }
    // The contract: exit 1 for "revoked"; unknown is not valid either.
    Ok(match st {
        ca_core::RevocationStatus::Good(_) => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}

fn crl(
    ctx: &Ctx,
    ca_name: &str,
    delta: bool,
    arl: bool,
    pem: bool,
    out: &Path,
    generation: Option<u32>,
) -> CmdResult {
    let mut ca = ctx.open()?;
    let signed = if arl {
        ca.sign_arl_by_generation(ca_name, generation, None)?
    } else {
        ca.sign_crl_by_generation(ca_name, generation, delta, None)?
    };
    let der = signed.der;
    let bytes = if pem {
        input::to_pem("X509 CRL", &der).into_bytes()
    } else {
        der
    };
    ca_core::write_atomic(out, &bytes)?;
    let number = signed.number.to_string();
    let entries = signed.entries;
    if ctx.json {
        print_json(
            &json!({"ca": ca_name, "delta": delta, "arl": arl, "crl_number": number, "entries": entries, "out": out.display().to_string()}),
        );
    } else {
        print_text(&format!(
            "{} {number} of {ca_name}: {} entries, written to {}\n",
            if arl {
                "ARL"
            } else if delta {
                "delta CRL"
            } else {
                "full CRL"
            },
            entries,
            out.display()
        ));
    }
    ok()
}

fn cross_certify(ctx: &Ctx, a: crate::cli::CrossArgs) -> CmdResult {
    let mut ca = ctx.open()?;
    match a.sub {
        Some(crate::cli::CrossSub::Import { file }) => {
            let der = crate::ra::read_cert(&file)?;
            let name = ca.import_cross(&der)?;
            if ctx.json {
                print_json(&json!({"name": name}));
            } else {
                print_text(&format!("imported as {name}\n"));
            }
            return ok();
        }
        Some(crate::cli::CrossSub::List) => {
            for (name, der) in ca.cross_certificates()? {
                let cert = x509_cert::Certificate::from_der(&der)
                    .map_err(|e| ca_core::Error::malformed("cross-certificate", e))?;
                let (s, i) = (
                    name_to_string(cert.tbs_certificate().subject()),
                    name_to_string(cert.tbs_certificate().issuer()),
                );
                if ctx.json {
                    print_json(&json!({"name": name, "subject": s, "issuer": i}));
                } else {
                    print_text(&format!("{name}: {i} -> {s}\n"));
                }
            }
            return ok();
        }
        None => {}
    }
    let (Some(issuer), Some(subject_cert), Some(out)) = (a.ca, a.subject_cert, a.out) else {
        return Err(CliError::Usage(
            "cross-certify needs --ca, --subject-cert and --out".into(),
        ));
    };
    let mappings = a
        .maps
        .iter()
        .map(|m| ca_core::parse_mapping(m))
        .collect::<Result<Vec<_>, _>>()?;
    let issued = ca.cross_certify(&ca_core::CrossCertRequest {
        ca: issuer,
        subject_cert_der: crate::ra::read_cert(&subject_cert)?,
        mappings,
        require_explicit_policy: a.require_explicit_policy,
        inhibit_policy_mapping: a.inhibit_policy_mapping,
        inhibit_any_policy: a.inhibit_any_policy,
        permitted: a.permit,
        excluded: a.exclude,
        path_len: a.path_len,
        days: a.days,
        ..Default::default()
    })?;
    ca_core::write_atomic(&out, issued.pem.as_bytes())?;
    if ctx.json {
        print_json(&issued_json(&issued));
    } else {
        print_text(&format!(
            "cross-certificate {} for {} written to {}\n",
            issued.serial,
            issued.subject,
            out.display()
        ));
    }
    ok()
}
