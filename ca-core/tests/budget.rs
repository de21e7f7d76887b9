//! Each [`Budget`] limit, when exhausted, ends validation with `BudgetExceeded` naming it.
//! Uses PKITS paths (`../shared/conformance/pkits`) that validate with the default budget.

use ca_core::{Budget, PathError, ValidationOptions, validate_path};

fn cert(name: &str) -> Vec<u8> {
    let p = format!(
        "{}/../../shared/conformance/pkits/certs/{name}.crt",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// PKITS 4.13.1: Valid DN nameConstraints Test1 (one intermediate with name constraints).
fn run(budget: Budget) -> Result<(), PathError> {
    let mut opts = ValidationOptions::at(1_302_825_600);
    opts.budget = budget;
    validate_path(
        &cert("ValidDNnameConstraintsTest1EE"),
        &[cert("nameConstraintsDN1CACert")],
        &[cert("TrustAnchorRootCertificate")],
        &opts,
    )
    .map(|_| ())
}

#[test]
fn default_budget_suffices() {
    assert_eq!(run(Budget::default()), Ok(()));
}

#[test]
fn signature_budget() {
    let b = Budget {
        signatures: 1,
        ..Budget::default()
    };
    assert_eq!(
        run(b),
        Err(PathError::BudgetExceeded {
            what: "signature checks"
        })
    );
}

#[test]
fn build_chain_budget() {
    let b = Budget {
        build_chain_calls: 1,
        ..Budget::default()
    };
    assert_eq!(
        run(b),
        Err(PathError::BudgetExceeded {
            what: "build_chain calls"
        })
    );
}

#[test]
fn name_constraint_budget() {
    let b = Budget {
        name_constraint_comparisons: 0,
        ..Budget::default()
    };
    assert_eq!(
        run(b),
        Err(PathError::BudgetExceeded {
            what: "name constraint comparisons"
        })
    );
}

/// Duplicates in the pool are tried once: 50 copies of a badly signed CA cost one signature
/// check, and the failure reported is the signature, not the budget.
#[test]
fn pathological_pool_is_bounded() {
    let mut opts = ValidationOptions::at(1_302_825_600);
    opts.budget = Budget {
        signatures: 10,
        ..Budget::default()
    };
    // Many copies of CAs named like the issuer but with other keys: all fail the signature.
    let decoys: Vec<Vec<u8>> = (0..50).map(|_| cert("BadSignedCACert")).collect();
    let r = validate_path(
        &cert("InvalidCASignatureTest2EE"),
        &decoys,
        &[cert("TrustAnchorRootCertificate")],
        &opts,
    );
    assert!(matches!(r, Err(PathError::BadSignature { .. })), "{r:?}");
}
