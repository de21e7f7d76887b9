//! Why a certification path did not validate.

/// A failed RFC 5280 path validation. Each variant names the rule that failed; its `Display`
/// text is the `reason` the CLI prints.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// A certificate, CRL or extension could not be decoded.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// What was being decoded (e.g. `certificate CN=x`, `CRL from CN=y`).
        what: String,
        /// The decoder's complaint.
        detail: String,
    },
    /// The same extension appears twice in one certificate (RFC 5280 §4.2).
    #[error("duplicate extension {oid} in certificate {subject} (RFC 5280 4.2)")]
    DuplicateExtension {
        /// Subject of the certificate.
        subject: String,
        /// The extension.
        oid: String,
    },
    /// A signature on a certificate does not verify with the issuer's key (§6.1.3 (a)(1)).
    #[error("signature of certificate {subject} does not verify: {detail} (RFC 5280 6.1.3 (a)(1))")]
    BadSignature {
        /// Subject of the signed certificate.
        subject: String,
        /// Why (mismatch, unsupported algorithm, bad key).
        detail: String,
    },
    /// The validation time is before notBefore (§6.1.3 (a)(2)).
    #[error(
        "certificate {subject} is not yet valid: notBefore {not_before} (RFC 5280 6.1.3 (a)(2))"
    )]
    NotYetValid {
        /// Subject of the certificate.
        subject: String,
        /// notBefore, seconds since the Unix epoch.
        not_before: u64,
    },
    /// The validation time is after notAfter (§6.1.3 (a)(2)).
    #[error("certificate {subject} has expired: notAfter {} (RFC 5280 6.1.3 (a)(2))", rfc3339(*not_after))]
    Expired {
        /// Subject of the certificate.
        subject: String,
        /// notAfter, seconds since the Unix epoch.
        not_after: u64,
    },
    /// An intermediate certificate is not version 3 (§6.1.4 (k)).
    #[error("intermediate certificate {subject} is not version 3 (RFC 5280 6.1.4 (k))")]
    NotV3 {
        /// Subject of the certificate.
        subject: String,
    },
    /// An intermediate certificate lacks basicConstraints cA=TRUE (§6.1.4 (k)).
    #[error(
        "certificate {subject} is not a CA (basicConstraints cA is not TRUE, RFC 5280 6.1.4 (k))"
    )]
    NotCa {
        /// Subject of the certificate.
        subject: String,
    },
    /// A CA certificate's pathLenConstraint is exceeded (§6.1.4 (l), (m)).
    #[error("pathLenConstraint exceeded at certificate {subject} (RFC 5280 6.1.4 (l))")]
    PathLenExceeded {
        /// Subject of the certificate that is one CA too many.
        subject: String,
    },
    /// A CA certificate's keyUsage lacks keyCertSign (§6.1.4 (n)).
    #[error("certificate {subject} keyUsage lacks keyCertSign (RFC 5280 6.1.4 (n))")]
    MissingKeyCertSign {
        /// Subject of the certificate.
        subject: String,
    },
    /// A critical extension that is not processed (§6.1.4 (o), §6.1.5 (f)).
    #[error("certificate {subject} has unrecognized critical extension {oid} (RFC 5280 6.1.4 (o))")]
    UnknownCriticalExtension {
        /// Subject of the certificate.
        subject: String,
        /// The extension.
        oid: String,
    },
    /// A certificate breaks a requirement of the RFC 5280 §4 profile (or, for TLS server
    /// certificates, of the CA/B Forum Baseline Requirements) that validation enforces.
    #[error("certificate {subject} violates {rule}")]
    ProfileViolation {
        /// Subject of the certificate.
        subject: String,
        /// The rule, with its source.
        rule: &'static str,
    },
    /// A name is outside the permitted or inside the excluded subtrees (§6.1.3 (b), (c)).
    #[error(
        "name constraint violation in certificate {subject}: {name} {detail} (RFC 5280 6.1.3 (b)-(c))"
    )]
    NameConstraintViolation {
        /// Subject of the certificate carrying the name.
        subject: String,
        /// The offending name.
        name: String,
        /// `is not permitted`, `is excluded`, or why it could not be checked.
        detail: String,
    },
    /// A policyMappings extension maps to or from anyPolicy (§6.1.4 (a)).
    #[error("certificate {subject} maps a policy to or from anyPolicy (RFC 5280 6.1.4 (a))")]
    PolicyMappingAnyPolicy {
        /// Subject of the certificate.
        subject: String,
    },
    /// An explicit policy is required and no acceptable policy remains (§6.1.3 (f), §6.1.5 (g)).
    #[error(
        "explicit policy required but no acceptable policy is valid for the path (at {subject}, RFC 5280 6.1.5 (g))"
    )]
    PolicyRequired {
        /// Subject of the certificate where the check failed.
        subject: String,
    },
    /// The certificate is revoked (§6.3).
    #[error("certificate {subject} serial {serial} is revoked (reason: {reason}) (RFC 5280 6.3)")]
    Revoked {
        /// Subject of the revoked certificate.
        subject: String,
        /// Its serial number, hexadecimal.
        serial: String,
        /// The CRL reason code name, or `unspecified`.
        reason: String,
    },
    /// The revocation status could not be determined from the supplied CRLs (§6.3.3 (k)).
    #[error("revocation status of certificate {subject} undetermined: {detail} (RFC 5280 6.3.3)")]
    RevocationUnknown {
        /// Subject of the certificate.
        subject: String,
        /// What was missing or wrong (no CRL in scope, stale CRL, bad CRL signature...).
        detail: String,
    },
    /// The leaf's extendedKeyUsage (or a CA's) does not allow the requested purpose.
    #[error(
        "certificate {subject} is not valid for purpose {purpose} (extendedKeyUsage, RFC 5280 4.2.1.12)"
    )]
    PurposeMismatch {
        /// Subject of the certificate.
        subject: String,
        /// The requested purpose.
        purpose: String,
    },
    /// The leaf has no subjectAltName matching the requested name (RFC 6125 §6).
    #[error("certificate {subject} does not match name {name} (subjectAltName, RFC 6125 6)")]
    NameMismatch {
        /// Subject of the leaf.
        subject: String,
        /// The requested name.
        name: String,
    },
    /// No issuer for a certificate among the trust anchors and the untrusted pool (§6.1).
    #[error("no path to a trust anchor: no issuer found for {subject} (issuer {issuer})")]
    UnknownIssuer {
        /// Subject of the certificate whose issuer is missing.
        subject: String,
        /// The issuer name looked for.
        issuer: String,
    },
    /// Certificates named as the issuer exist, but none leads to a trust anchor: the nearest
    /// miss of path building (RFC 4158 §2.4).
    #[error(
        "no path to a trust anchor: no usable issuer for {subject} (issuer {issuer}): {detail}"
    )]
    NoUsableIssuer {
        /// Subject of the certificate whose issuer was looked for.
        subject: String,
        /// The issuer name looked for.
        issuer: String,
        /// What became of the candidates (key identifier mismatch, loop, dead end).
        detail: String,
    },
    /// Every candidate path is longer than the configured maximum.
    #[error("path longer than the maximum of {max} intermediate certificates")]
    PathTooLong {
        /// The maximum number of intermediates.
        max: usize,
    },
    /// Path building ran out of its [`crate::Budget`].
    #[error("path building budget exceeded: too many {what}")]
    BudgetExceeded {
        /// Which budget: `signature checks`, `build_chain calls`, `name constraint comparisons`.
        what: &'static str,
    },
}

/// Seconds since the Unix epoch as an RFC 3339 UTC time, for messages.
fn rfc3339(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{secs} s after the epoch"))
}

impl PathError {
    /// How specific the error is: when every candidate path fails, the builder reports the
    /// failure with the highest rank (the first one among equals).
    pub(crate) fn rank(&self) -> u8 {
        match self {
            PathError::UnknownIssuer { .. } | PathError::NoUsableIssuer { .. } => 0,
            PathError::PathTooLong { .. } => 1,
            PathError::Malformed { .. } | PathError::DuplicateExtension { .. } => 2,
            PathError::BadSignature { .. } => 3,
            PathError::NotYetValid { .. } | PathError::Expired { .. } => 4,
            PathError::NotV3 { .. }
            | PathError::NotCa { .. }
            | PathError::MissingKeyCertSign { .. }
            | PathError::UnknownCriticalExtension { .. }
            | PathError::ProfileViolation { .. } => 5,
            PathError::PurposeMismatch { .. } | PathError::NameMismatch { .. } => 6,
            PathError::PathLenExceeded { .. }
            | PathError::NameConstraintViolation { .. }
            | PathError::PolicyMappingAnyPolicy { .. }
            | PathError::PolicyRequired { .. } => 7,
            PathError::RevocationUnknown { .. } => 8,
            PathError::Revoked { .. } => 9,
            PathError::BudgetExceeded { .. } => 10,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_rule_and_time() {
        let e = PathError::Expired {
            subject: "CN=x".into(),
            not_after: 1_293_870_600,
        };
        assert_eq!(
            e.to_string(),
            "certificate CN=x has expired: notAfter 2011-01-01T08:30:00Z (RFC 5280 6.1.3 (a)(2))"
        );
    }

    #[test]
    fn most_specific_error_wins() {
        let unknown = PathError::UnknownIssuer {
            subject: "a".into(),
            issuer: "b".into(),
        };
        let revoked = PathError::Revoked {
            subject: "a".into(),
            serial: "01".into(),
            reason: "keyCompromise".into(),
        };
        let best = crate::verify::build::better(None, unknown.clone());
        let best = crate::verify::build::better(best, revoked.clone());
        let best = crate::verify::build::better(best, unknown);
        assert_eq!(best, Some(revoked));
    }
}
