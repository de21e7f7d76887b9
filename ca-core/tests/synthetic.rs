//! Validation of certificates made on the fly (ECDSA P-256 keys from `generate_pkcs8`),
//! for cases the public suites do not cover: the policy-mapping blow-up that RFC 9618's
//! policy graph avoids, and a bridge-style mapping across several CAs.

use std::str::FromStr;
use std::time::{Duration, Instant};

use ca_core::{
    CaSigner, KeyAlgorithm, SoftwareSigner, ValidationOptions, generate_pkcs8, validate_path,
};
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280 as oids;
use der::asn1::{BitString, OctetString, UtcTime};
use der::{Decode, Encode, Sequence};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::certpolicy::PolicyInformation;
use x509_cert::ext::pkix::constraints::BasicConstraints;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, CertificatePolicies, KeyUsage, KeyUsages, PolicyMapping,
    PolicyMappings, SubjectKeyIdentifier,
};
use x509_cert::name::Name;

#[derive(Sequence)]
struct Validity {
    not_before: UtcTime,
    not_after: UtcTime,
}

#[derive(Sequence)]
struct Tbs {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    version: u8,
    serial: der::asn1::Uint,
    signature: AlgorithmIdentifierOwned,
    issuer: Name,
    validity: Validity,
    subject: Name,
    spki: SubjectPublicKeyInfoOwned,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT")]
    extensions: Vec<Extension>,
}

#[derive(Sequence)]
struct Cert {
    tbs: Tbs,
    alg: AlgorithmIdentifierOwned,
    sig: BitString,
}

struct Key {
    signer: SoftwareSigner,
    id: Vec<u8>,
}

fn key(id: u8) -> Key {
    let pkcs8 = generate_pkcs8(KeyAlgorithm::EcdsaP256).expect("key generation");
    Key {
        signer: SoftwareSigner::from_pkcs8(&pkcs8, "test").expect("key"),
        id: vec![id; 20],
    }
}

fn ext<T: Encode>(oid: ObjectIdentifier, critical: bool, value: &T) -> Extension {
    Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value.to_der().expect("encode")).expect("octets"),
    }
}

fn policies(list: &[ObjectIdentifier]) -> Extension {
    let cp = CertificatePolicies(
        list.iter()
            .map(|&p| PolicyInformation {
                policy_identifier: p,
                policy_qualifiers: None,
            })
            .collect(),
    );
    ext(oids::ID_CE_CERTIFICATE_POLICIES, false, &cp)
}

/// A certificate for `subject_key` named `subject`, signed by `issuer_key` named `issuer`.
fn cert(
    serial: u8,
    subject: &str,
    subject_key: &Key,
    issuer: &str,
    issuer_key: &Key,
    ca: bool,
    exts: Vec<Extension>,
) -> Vec<u8> {
    let validity = (1_600_000_000, 2_400_000_000);
    cert_valid(
        serial,
        subject,
        subject_key,
        issuer,
        issuer_key,
        ca,
        exts,
        validity,
    )
}

/// [`cert`] with a validity period (seconds since the epoch).
#[allow(clippy::too_many_arguments)]
fn cert_valid(
    serial: u8,
    subject: &str,
    subject_key: &Key,
    issuer: &str,
    issuer_key: &Key,
    ca: bool,
    mut exts: Vec<Extension>,
    (not_before, not_after): (u64, u64),
) -> Vec<u8> {
    exts.push(ext(
        oids::ID_CE_SUBJECT_KEY_IDENTIFIER,
        false,
        &SubjectKeyIdentifier(OctetString::new(subject_key.id.clone()).expect("id")),
    ));
    exts.push(ext(
        oids::ID_CE_AUTHORITY_KEY_IDENTIFIER,
        false,
        &AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(issuer_key.id.clone()).expect("id")),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        },
    ));
    if ca {
        exts.push(ext(
            oids::ID_CE_BASIC_CONSTRAINTS,
            true,
            &BasicConstraints {
                ca: true,
                path_len_constraint: None,
            },
        ));
        exts.push(ext(
            oids::ID_CE_KEY_USAGE,
            true,
            &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
        ));
    }
    let alg = issuer_key.signer.algorithm().algorithm_identifier();
    let tbs = Tbs {
        version: 2,
        serial: der::asn1::Uint::new(&[serial]).expect("serial"),
        signature: alg.clone(),
        issuer: Name::from_str(issuer).expect("issuer"),
        validity: Validity {
            not_before: UtcTime::from_unix_duration(Duration::from_secs(not_before)).expect("time"),
            not_after: UtcTime::from_unix_duration(Duration::from_secs(not_after)).expect("time"),
        },
        subject: Name::from_str(subject).expect("subject"),
        spki: SubjectPublicKeyInfoOwned::from_der(subject_key.signer.public_key_der())
            .expect("spki"),
        extensions: exts,
    };
    let tbs_der = tbs.to_der().expect("tbs");
    let sig = issuer_key.signer.sign(&tbs_der).expect("sign");
    Cert {
        tbs,
        alg,
        sig: BitString::from_bytes(&sig).expect("bits"),
    }
    .to_der()
    .expect("cert")
}

fn policy(k: u32) -> ObjectIdentifier {
    ObjectIdentifier::from_str(&format!("1.2.392.200127.99.{k}")).expect("oid")
}

/// Each of `depth` CAs asserts k policies and maps every one to every other: the RFC 5280
/// valid_policy_tree would grow as k^depth nodes (RFC 9618 §1), the policy graph stays k
/// nodes per level.
#[test]
fn policy_mapping_blow_up_is_polynomial() {
    let (k, depth) = (6u32, 16usize);
    let all: Vec<ObjectIdentifier> = (1..=k).map(policy).collect();
    let maps = PolicyMappings(
        all.iter()
            .flat_map(|&a| {
                all.iter().map(move |&b| PolicyMapping {
                    issuer_domain_policy: a,
                    subject_domain_policy: b,
                })
            })
            .collect(),
    );
    let keys: Vec<Key> = (0..=depth as u8 + 1).map(key).collect();
    let root = cert(1, "CN=Root", &keys[0], "CN=Root", &keys[0], true, vec![]);
    let mut pool = Vec::new();
    let mut issuer = "CN=Root".to_owned();
    for i in 1..=depth {
        let name = format!("CN=CA {i}");
        let exts = vec![
            policies(&all),
            ext(oids::ID_CE_POLICY_MAPPINGS, true, &maps),
        ];
        pool.push(cert(
            i as u8 + 1,
            &name,
            &keys[i],
            &issuer,
            &keys[i - 1],
            true,
            exts,
        ));
        issuer = name;
    }
    let leaf = cert(
        200,
        "CN=leaf",
        &keys[depth + 1],
        &issuer,
        &keys[depth],
        false,
        vec![policies(&all)],
    );
    let mut opts = ValidationOptions::at(2_000_000_000);
    opts.max_intermediates = depth;
    opts.initial_explicit_policy = true;
    opts.initial_policy_set = vec![policy(1).into()];
    let start = Instant::now();
    let path = validate_path(&leaf, &pool, &[root], &opts).expect("valid");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(path.chain.len(), depth + 2);
    assert_eq!(
        path.user_constrained_policy_set,
        vec![ca_core::Oid::from(policy(1))]
    );
}

/// Bridge-style: the anchor's domain policy 1 is mapped to 2 by a cross-certificate, and the
/// other domain's CA and leaf assert 2; the result is expressed in the anchor's domain. With
/// initial-policy-mapping-inhibit the path has no valid policy.
#[test]
fn mapping_through_a_cross_certificate() {
    let keys: Vec<Key> = (0..3).map(key).collect();
    let root = cert(
        1,
        "CN=Our Root",
        &keys[0],
        "CN=Our Root",
        &keys[0],
        true,
        vec![],
    );
    let maps = PolicyMappings(vec![PolicyMapping {
        issuer_domain_policy: policy(1),
        subject_domain_policy: policy(2),
    }]);
    let cross = cert(
        2,
        "CN=Their CA",
        &keys[1],
        "CN=Our Root",
        &keys[0],
        true,
        vec![
            policies(&[policy(1)]),
            ext(oids::ID_CE_POLICY_MAPPINGS, true, &maps),
        ],
    );
    let leaf = cert(
        3,
        "CN=their leaf",
        &keys[2],
        "CN=Their CA",
        &keys[1],
        false,
        vec![policies(&[policy(2)])],
    );
    let mut opts = ValidationOptions::at(2_000_000_000);
    opts.initial_explicit_policy = true;
    let path = validate_path(
        &leaf,
        std::slice::from_ref(&cross),
        std::slice::from_ref(&root),
        &opts,
    )
    .expect("valid");
    assert_eq!(
        path.user_constrained_policy_set,
        vec![ca_core::Oid::from(policy(1))]
    );
    opts.initial_policy_mapping_inhibit = true;
    let err = validate_path(&leaf, &[cross], &[root], &opts).expect_err("mapping inhibited");
    assert!(
        matches!(err, ca_core::PathError::PolicyRequired { .. }),
        "{err}"
    );
}

/// Two cross-certificates for the same intermediate CA (same name and key): one expired,
/// one valid, issued by different roots. The expired one, tried first, must not hide the
/// good path; without the good one the expiry is the reported failure.
#[test]
fn expired_cross_certificate_does_not_hide_a_good_one() {
    let keys: Vec<Key> = (0..4).map(key).collect();
    let old_root = cert(
        1,
        "CN=Old Root",
        &keys[0],
        "CN=Old Root",
        &keys[0],
        true,
        vec![],
    );
    let new_root = cert(
        2,
        "CN=New Root",
        &keys[1],
        "CN=New Root",
        &keys[1],
        true,
        vec![],
    );
    let expired = (1_600_000_000, 1_700_000_000);
    let ica_old = cert_valid(
        3,
        "CN=ICA",
        &keys[2],
        "CN=Old Root",
        &keys[0],
        true,
        vec![],
        expired,
    );
    let ica_new = cert(4, "CN=ICA", &keys[2], "CN=New Root", &keys[1], true, vec![]);
    let leaf = cert(5, "CN=leaf", &keys[3], "CN=ICA", &keys[2], false, vec![]);
    let opts = ValidationOptions::at(2_000_000_000);
    let anchors = [old_root, new_root.clone()];
    let path = validate_path(&leaf, &[ica_old.clone(), ica_new], &anchors, &opts).expect("valid");
    assert_eq!(path.chain.len(), 3);
    assert_eq!(
        path.chain[2],
        x509_cert::Certificate::from_der(&new_root).expect("root")
    );
    let err = validate_path(&leaf, &[ica_old], &anchors, &opts).expect_err("only the expired one");
    assert!(matches!(err, ca_core::PathError::Expired { .. }), "{err}");
}
