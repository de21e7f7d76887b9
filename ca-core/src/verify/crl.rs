//! Revocation checking with supplied CRLs (RFC 5280 §6.3): complete and delta CRLs,
//! distribution point and issuingDistributionPoint scope, indirect CRLs, onlySomeReasons.

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280 as oids;
use der::Decode;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::crl::dp::{DistributionPoint, IssuingDistributionPoint};
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlNumber, CrlReason};
use x509_cert::name::Name;

use super::PathError;
use super::build::{Ctx, Run, State, better, verify_signed};
use super::cert::Cert;
use super::name::name_eq;

/// All reason bits of ReasonFlags except `unused` (RFC 5280 §4.2.1.13).
const ALL_REASONS: u16 = 0x1fe;

/// CRL extensions processed here (RFC 5280 §5.2); others that are critical make the CRL
/// unusable.
const KNOWN_CRL_EXTS: &[ObjectIdentifier] = &[
    oids::ID_CE_AUTHORITY_KEY_IDENTIFIER,
    oids::ID_CE_ISSUER_ALT_NAME,
    oids::ID_CE_CRL_NUMBER,
    oids::ID_CE_DELTA_CRL_INDICATOR,
    oids::ID_CE_ISSUING_DISTRIBUTION_POINT,
    oids::ID_CE_FRESHEST_CRL,
];

/// CRL entry extensions processed here (RFC 5280 §5.3).
const KNOWN_ENTRY_EXTS: &[ObjectIdentifier] = &[
    oids::ID_CE_CRL_REASONS,
    oids::ID_CE_INVALIDITY_DATE,
    oids::ID_CE_CERTIFICATE_ISSUER,
    oids::ID_CE_HOLD_INSTRUCTION_CODE,
];

/// A decoded CRL.
pub(crate) struct Crl {
    pub list: CertificateList,
    pub der: Vec<u8>,
    pub issuer: String,
    pub this_update: u64,
    pub next_update: Option<u64>,
    /// cRLNumber, minimal big-endian bytes.
    pub number: Option<Vec<u8>>,
    /// deltaCRLIndicator (BaseCRLNumber): this is a delta CRL.
    pub delta_base: Option<Vec<u8>>,
    pub idp: Option<IssuingDistributionPoint>,
    pub idp_der: Option<Vec<u8>>,
    pub aki: Option<Vec<u8>>,
    /// Why this CRL cannot be used at all, if so.
    pub unusable: Option<String>,
}

fn minimal(b: &[u8]) -> Vec<u8> {
    let skip = b.iter().take_while(|&&x| x == 0).count();
    b[skip..].to_vec()
}

/// Compares unsigned big-endian integers given as minimal byte strings.
fn cmp_uint(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

impl Crl {
    /// Decodes a DER CRL. Unusable CRLs (critical unknown extensions) are kept with a reason.
    pub(crate) fn parse(der_bytes: &[u8]) -> Result<Crl, PathError> {
        let malformed = |e: der::Error| PathError::Malformed {
            what: "CRL".into(),
            detail: e.to_string(),
        };
        let list = CertificateList::from_der(der_bytes).map_err(malformed)?;
        super::cert::signed_part(der_bytes).map_err(malformed)?;
        let tbs = &list.tbs_cert_list;
        let mut crl = Crl {
            issuer: tbs.issuer.to_string(),
            this_update: tbs.this_update.to_unix_duration().as_secs(),
            next_update: tbs.next_update.map(|t| t.to_unix_duration().as_secs()),
            number: None,
            delta_base: None,
            idp: None,
            idp_der: None,
            aki: None,
            unusable: None,
            der: der_bytes.to_vec(),
            list: list.clone(),
        };
        for ext in tbs.crl_extensions.iter().flatten() {
            let v = ext.extn_value.as_bytes();
            let bad = |what: &str| format!("malformed {what} extension");
            match ext.extn_id {
                // §5.2.3: cRLNumber is non-critical.
                o if o == oids::ID_CE_CRL_NUMBER && ext.critical => {
                    crl.unusable = Some("cRLNumber MUST be non-critical (RFC 5280 5.2.3)".into())
                }
                o if o == oids::ID_CE_CRL_NUMBER => match CrlNumber::from_der(v) {
                    Ok(n) => crl.number = Some(minimal(n.0.as_bytes())),
                    Err(_) => crl.unusable = Some(bad("cRLNumber")),
                },
                o if o == oids::ID_CE_DELTA_CRL_INDICATOR => match CrlNumber::from_der(v) {
                    Ok(n) => crl.delta_base = Some(minimal(n.0.as_bytes())),
                    Err(_) => crl.unusable = Some(bad("deltaCRLIndicator")),
                },
                o if o == oids::ID_CE_ISSUING_DISTRIBUTION_POINT => {
                    match IssuingDistributionPoint::from_der(v) {
                        Ok(idp) => {
                            crl.idp = Some(idp);
                            crl.idp_der = Some(v.to_vec());
                        }
                        Err(_) => crl.unusable = Some(bad("issuingDistributionPoint")),
                    }
                }
                o if o == oids::ID_CE_AUTHORITY_KEY_IDENTIFIER => {
                    if let Ok(aki) = AuthorityKeyIdentifier::from_der(v) {
                        crl.aki = aki.key_identifier.map(|k| k.as_bytes().to_vec());
                    }
                }
                o if ext.critical && !KNOWN_CRL_EXTS.contains(&o) => {
                    crl.unusable = Some(format!(
                        "unrecognized critical CRL extension {o} (RFC 5280 5.2)"
                    ));
                }
                _ => {}
            }
        }
        // RFC 5280 §5.2.3: conforming CRL issuers MUST include cRLNumber; §5.2.3 also bounds
        // it to 20 octets.
        if crl.unusable.is_none() {
            match &crl.number {
                None => crl.unusable = Some("CRL has no cRLNumber (RFC 5280 5.2.3)".into()),
                Some(n) if n.len() > 20 => {
                    crl.unusable = Some("cRLNumber longer than 20 octets".into())
                }
                _ => {}
            }
        }
        Ok(crl)
    }

    fn issuer_name(&self) -> &Name {
        &self.list.tbs_cert_list.issuer
    }
}

/// Names of a distribution point name: the full name, or the CRL issuer's name plus the
/// relative name (RFC 5280 §4.2.1.13).
fn dp_names(dpn: &DistributionPointName, issuer: &Name) -> Vec<GeneralName> {
    match dpn {
        DistributionPointName::FullName(names) => names.clone(),
        DistributionPointName::NameRelativeToCRLIssuer(rdn) => {
            let mut rdns: Vec<_> = issuer.iter_rdn().cloned().collect();
            rdns.push(rdn.clone());
            // A Name is a SEQUENCE OF RelativeDistinguishedName: re-encode and decode.
            match der::Encode::to_der(&rdns).and_then(|d| Name::from_der(&d)) {
                Ok(name) => vec![GeneralName::DirectoryName(name)],
                Err(_) => Vec::new(),
            }
        }
    }
}

fn general_name_eq(a: &GeneralName, b: &GeneralName) -> bool {
    match (a, b) {
        (GeneralName::DirectoryName(x), GeneralName::DirectoryName(y)) => name_eq(x, y),
        _ => a == b,
    }
}

/// The CRLReason name as RFC 5280 §5.3.1 spells it.
fn reason_name(r: Option<CrlReason>) -> String {
    match r {
        None | Some(CrlReason::Unspecified) => "unspecified",
        Some(CrlReason::KeyCompromise) => "keyCompromise",
        Some(CrlReason::CaCompromise) => "cACompromise",
        Some(CrlReason::AffiliationChanged) => "affiliationChanged",
        Some(CrlReason::Superseded) => "superseded",
        Some(CrlReason::CessationOfOperation) => "cessationOfOperation",
        Some(CrlReason::CertificateHold) => "certificateHold",
        Some(CrlReason::RemoveFromCRL) => "removeFromCRL",
        Some(CrlReason::PrivilegeWithdrawn) => "privilegeWithdrawn",
        Some(CrlReason::AaCompromise) => "aACompromise",
    }
    .into()
}

/// Status of a certificate on one CRL.
enum Entry {
    NotListed,
    Listed(Option<CrlReason>),
    Unusable(String),
}

/// Looks `cert` (issued by `cert_issuer`) up in `crl`, following certificateIssuer entry
/// extensions in indirect CRLs (RFC 5280 §5.3.3).
fn lookup(crl: &Crl, cert: &Cert, cert_issuer: &Name, indirect: bool) -> Entry {
    let serial = cert.cert.tbs_certificate().serial_number().as_bytes();
    let mut entry_issuer: Name = crl.issuer_name().clone();
    let mut found = Entry::NotListed;
    for rc in crl.list.tbs_cert_list.revoked_certificates.iter().flatten() {
        let mut reason = None;
        for ext in rc.crl_entry_extensions.iter().flatten() {
            let v = ext.extn_value.as_bytes();
            match ext.extn_id {
                o if o == oids::ID_CE_CERTIFICATE_ISSUER && indirect => {
                    let names = x509_cert::ext::pkix::name::GeneralNames::from_der(v);
                    match names.ok().and_then(|ns| {
                        ns.into_iter().find_map(|g| match g {
                            GeneralName::DirectoryName(n) => Some(n),
                            _ => None,
                        })
                    }) {
                        Some(n) => entry_issuer = n,
                        None => {
                            return Entry::Unusable(
                                "malformed certificateIssuer entry extension".into(),
                            );
                        }
                    }
                }
                o if o == oids::ID_CE_CRL_REASONS => match CrlReason::from_der(v) {
                    Ok(r) => reason = Some(r),
                    Err(_) => {
                        return Entry::Unusable("malformed reasonCode entry extension".into());
                    }
                },
                o if ext.critical && !KNOWN_ENTRY_EXTS.contains(&o) => {
                    // §5.3: a CRL with an unprocessable critical entry extension MUST NOT be used.
                    return Entry::Unusable(format!(
                        "unrecognized critical CRL entry extension {o} (RFC 5280 5.3)"
                    ));
                }
                _ => {}
            }
        }
        if matches!(found, Entry::NotListed)
            && rc.serial_number.as_bytes() == serial
            && name_eq(&entry_issuer, cert_issuer)
        {
            found = Entry::Listed(reason);
        }
    }
    found
}

/// RFC 5280 §6.3.3 for `path[pos]`. `depth` bounds nested revocation checks of CRL issuers.
pub(crate) fn check(
    st: &mut State,
    ctx: &Ctx<'_>,
    path: &[usize],
    pos: usize,
    depth: usize,
) -> Result<(), PathError> {
    let cert = ctx.on_path(path[pos])?;
    let cert_issuer = cert.cert.tbs_certificate().issuer();
    let unknown = |detail: String| PathError::RevocationUnknown {
        subject: cert.subject.clone(),
        detail,
    };
    let synthetic = [DistributionPoint {
        distribution_point: None,
        reasons: None,
        crl_issuer: None,
    }];
    let dps: &[DistributionPoint] = cert.crldp.as_deref().unwrap_or(&synthetic);
    let mut reasons_mask: u16 = 0;
    let mut problem: Option<PathError> = None;
    for dp in dps {
        for (ci, crl) in ctx.crls.iter().enumerate() {
            if reasons_mask == ALL_REASONS {
                break;
            }
            if crl.delta_base.is_some() {
                continue;
            }
            // §6.3.3 (b)(1): CRL issuer.
            let crl_issuer = crl.issuer_name();
            let indirect = crl.idp.as_ref().is_some_and(|i| i.indirect_crl);
            let dp_crl_issuers: Vec<&Name> = dp
                .crl_issuer
                .iter()
                .flatten()
                .filter_map(|g| match g {
                    GeneralName::DirectoryName(n) => Some(n),
                    _ => None,
                })
                .collect();
            if dp.crl_issuer.is_some() {
                if !indirect || !dp_crl_issuers.iter().any(|n| name_eq(n, crl_issuer)) {
                    continue;
                }
            } else if !name_eq(crl_issuer, cert_issuer) {
                continue;
            }
            // §6.3.3 (b)(2): issuingDistributionPoint scope.
            if let Some(idp) = &crl.idp {
                if let Some(idp_dpn) = &idp.distribution_point {
                    let idp_names = dp_names(idp_dpn, crl_issuer);
                    let cert_names: Vec<GeneralName> = match &dp.distribution_point {
                        Some(dpn) => dp_names(dpn, cert_issuer_for_dp(dp, cert_issuer)),
                        None => dp.crl_issuer.clone().unwrap_or_default(),
                    };
                    if !idp_names
                        .iter()
                        .any(|a| cert_names.iter().any(|b| general_name_eq(a, b)))
                    {
                        continue;
                    }
                }
                let is_ca = cert.is_ca();
                if (idp.only_contains_user_certs && is_ca)
                    || (idp.only_contains_ca_certs && !is_ca)
                    || idp.only_contains_attribute_certs
                {
                    continue;
                }
            }
            // §6.3.3 (d): interim reasons mask.
            let idp_reasons = crl
                .idp
                .as_ref()
                .and_then(|i| i.only_some_reasons)
                .map_or(ALL_REASONS, |r| r.bits());
            let dp_reasons = dp.reasons.map_or(ALL_REASONS, |r| r.bits());
            let interim = idp_reasons & dp_reasons & ALL_REASONS;
            // §6.3.3 (e)
            if interim & !reasons_mask == 0 {
                continue;
            }
            match use_crl(st, ctx, path, pos, depth, ci, cert_issuer, indirect) {
                Ok(()) => reasons_mask |= interim,
                Err(e @ (PathError::Revoked { .. } | PathError::BudgetExceeded { .. })) => {
                    return Err(e);
                }
                Err(e) => problem = better(problem, e),
            }
        }
    }
    // §6.3.3 (k)
    if reasons_mask == ALL_REASONS {
        return Ok(());
    }
    Err(problem.unwrap_or_else(|| unknown("no CRL in scope covers all reasons".into())))
}

fn cert_issuer_for_dp<'a>(dp: &'a DistributionPoint, cert_issuer: &'a Name) -> &'a Name {
    // A relative name in the certificate's DP is relative to the CRL issuer: the cRLIssuer
    // when present, else the certificate issuer (RFC 5280 §4.2.1.13).
    dp.crl_issuer
        .iter()
        .flatten()
        .find_map(|g| match g {
            GeneralName::DirectoryName(n) => Some(n),
            _ => None,
        })
        .unwrap_or(cert_issuer)
}

/// Validates complete CRL `ci` (and a matching delta CRL) and looks the certificate up.
#[allow(clippy::too_many_arguments)]
fn use_crl(
    st: &mut State,
    ctx: &Ctx<'_>,
    path: &[usize],
    pos: usize,
    depth: usize,
    ci: usize,
    cert_issuer: &Name,
    indirect: bool,
) -> Result<(), PathError> {
    let cert = ctx.on_path(path[pos])?;
    let crl = &ctx.crls[ci];
    let unknown = |detail: String| PathError::RevocationUnknown {
        subject: cert.subject.clone(),
        detail: format!("CRL from {}: {detail}", crl.issuer),
    };
    if let Some(why) = &crl.unusable {
        return Err(unknown(why.clone()));
    }
    let time = ctx.opts.time;
    if crl.this_update > time {
        return Err(unknown("thisUpdate is after the validation time".into()));
    }
    // §6.3.3 (a)(2): nextUpdate must be after the validation time.
    if crl.next_update.is_some_and(|t| t < time) {
        return Err(unknown("nextUpdate has passed".into()));
    }
    // §6.3.3 (f), (g): CRL issuer certificate and signature.
    let signer = find_signer(st, ctx, path, pos, depth, ci).map_err(|e| match e {
        PathError::BudgetExceeded { .. } => e,
        other => unknown(format!("no valid CRL issuer: {other}")),
    })?;
    // §6.3.3 (c): a delta CRL with the same issuer and scope, signed by the same key.
    let mut delta: Option<&Crl> = None;
    for (di, d) in ctx.crls.iter().enumerate() {
        let Some(base) = &d.delta_base else { continue };
        if !name_eq(d.issuer_name(), crl.issuer_name()) || d.idp_der != crl.idp_der {
            continue;
        }
        let Some(num) = &crl.number else { continue };
        // The delta must be based on this complete CRL or an earlier one, and be newer.
        if cmp_uint(base, num).is_gt()
            || d.number.as_ref().is_none_or(|dn| cmp_uint(dn, num).is_le())
        {
            continue;
        }
        if let Some(why) = &d.unusable {
            return Err(unknown(format!("delta CRL: {why}")));
        }
        if d.next_update.is_some_and(|t| t < time) {
            return Err(unknown("delta CRL nextUpdate has passed".into()));
        }
        if !crl_sig_ok(st, ctx, di, signer)? {
            return Err(unknown("delta CRL signature does not verify".into()));
        }
        if delta.is_none_or(|cur| {
            cmp_uint(
                d.number.as_deref().unwrap_or(&[]),
                cur.number.as_deref().unwrap_or(&[]),
            )
            .is_gt()
        }) {
            delta = Some(d);
        }
    }
    let revoked = |r: Option<CrlReason>| PathError::Revoked {
        subject: cert.subject.clone(),
        serial: cert.serial_hex(),
        reason: reason_name(r),
    };
    if let Some(d) = delta {
        match lookup(d, cert, cert_issuer, indirect) {
            Entry::Listed(Some(CrlReason::RemoveFromCRL)) => return Ok(()),
            Entry::Listed(r) => return Err(revoked(r)),
            Entry::Unusable(why) => return Err(unknown(why)),
            Entry::NotListed => {}
        }
    }
    match lookup(crl, cert, cert_issuer, indirect) {
        Entry::Listed(Some(CrlReason::RemoveFromCRL)) | Entry::NotListed => Ok(()),
        Entry::Listed(r) => Err(revoked(r)),
        Entry::Unusable(why) => Err(unknown(why)),
    }
}

fn crl_sig_ok(st: &mut State, ctx: &Ctx<'_>, ci: usize, signer: usize) -> Result<bool, PathError> {
    if let Some(&ok) = st.crl_sig_cache.get(&(ci, signer)) {
        return Ok(ok);
    }
    let crl = &ctx.crls[ci];
    let r = verify_signed(
        &crl.der,
        &crl.list.tbs_cert_list.signature,
        &crl.list.signature_algorithm,
        &crl.list.signature,
        ctx.on_path(signer)?,
        &mut st.budget,
    );
    let ok = match r {
        Ok(()) => true,
        Err(d) if d == "budget" => {
            return Err(PathError::BudgetExceeded {
                what: "signature checks",
            });
        }
        Err(_) => false,
    };
    st.crl_sig_cache.insert((ci, signer), ok);
    Ok(ok)
}

/// §6.3.3 (f): a certificate for the CRL issuer, with cRLSign, whose key verifies the CRL
/// and that has a valid path to the same trust anchor as the certificate being checked.
fn find_signer(
    st: &mut State,
    ctx: &Ctx<'_>,
    path: &[usize],
    pos: usize,
    depth: usize,
    ci: usize,
) -> Result<usize, PathError> {
    let crl = &ctx.crls[ci];
    let anchor = path[path.len() - 1];
    let mut best: Option<PathError> = None;
    // Prefer the certificates of the path above the checked one, then the rest.
    let mut cands: Vec<usize> = path[pos + 1..].to_vec();
    cands.extend(
        (0..ctx.len())
            .filter(|k| !path[pos + 1..].contains(k) && (!ctx.is_anchor[*k] || *k == anchor)),
    );
    for k in cands {
        let Some(c) = ctx.cert(k) else {
            continue;
        };
        if !name_eq(c.cert.tbs_certificate().subject(), crl.issuer_name()) {
            continue;
        }
        if let (Some(a), Some(s)) = (&crl.aki, &c.ski)
            && a != s
        {
            continue;
        }
        // §6.3.3 (f): keyUsage, when present, must assert cRLSign.
        if c.ku.as_ref().is_some_and(|ku| !ku.crl_sign()) {
            best = better(
                best,
                PathError::RevocationUnknown {
                    subject: c.subject.clone(),
                    detail: "CRL issuer certificate keyUsage lacks cRLSign (RFC 5280 6.3.3 (f))"
                        .into(),
                },
            );
            continue;
        }
        if !crl_sig_ok(st, ctx, ci, k)? {
            best = better(
                best,
                PathError::BadSignature {
                    subject: format!("CRL from {}", crl.issuer),
                    detail: format!("not signed by the key of {}", c.subject),
                },
            );
            continue;
        }
        if k == anchor || path[pos + 1..].contains(&k) {
            return Ok(k);
        }
        // A separate CRL signing certificate: validate its own path to the same anchor.
        let run = Run {
            initial_policy_set: Vec::new(),
            explicit: false,
            mapping_inhibit: false,
            any_inhibit: false,
            purpose: None,
            anchor: Some(anchor),
            revocation_depth: depth.checked_sub(1),
        };
        match st.build(ctx, k, &run) {
            Ok(_) => return Ok(k),
            Err(e @ PathError::BudgetExceeded { .. }) => return Err(e),
            Err(e) => best = better(best, e),
        }
    }
    Err(best.unwrap_or_else(|| PathError::UnknownIssuer {
        subject: format!("CRL from {}", crl.issuer),
        issuer: crl.issuer.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    #[test]
    fn crl_numbers_compare_as_integers() {
        assert_eq!(minimal(&[0, 0, 1, 2]), vec![1, 2]);
        assert_eq!(cmp_uint(&[1, 0], &[0xff]), Ordering::Greater);
        assert_eq!(cmp_uint(&[2], &[2]), Ordering::Equal);
        assert_eq!(cmp_uint(&[], &[1]), Ordering::Less);
    }

    #[test]
    fn pkits_crls_decode() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/conformance/pkits/crls"
        );
        let read = |n: &str| std::fs::read(format!("{dir}/{n}.crl")).expect("crl");
        let good = Crl::parse(&read("GoodCACRL")).expect("Good CA CRL");
        assert!(good.unusable.is_none() && good.delta_base.is_none() && good.number.is_some());
        let unknown = Crl::parse(&read("UnknownCRLExtensionCACRL")).expect("decodes");
        assert!(unknown.unusable.is_some());
        let delta = Crl::parse(&read("deltaCRLCA1deltaCRL")).expect("delta");
        assert!(delta.delta_base.is_some());
    }
}
