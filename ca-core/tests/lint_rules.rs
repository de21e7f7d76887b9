//! The pre-signing linter (`ca_core::lint`), proven rule by rule: a good TBSCertificate passes,
//! and for every rule in `lint::RULES` one mutation of a good TBS (or of what the linter is
//! told about the issuer and the intended certificate) makes exactly that rule fire. A rule
//! without a mutation here fails `every_rule_has_a_mutation`.

use std::collections::BTreeSet;

use ca_core::build::{TbsFields, encode_tbs};
use ca_core::lint::{Expectation, IssuerFacts, RULES, lint_tbs};
use ca_core::{DistinguishedName, Error, SignatureAlgorithm};
use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5280, rfc5912};
use der::Encode;
use der::asn1::{Any, BitString, Ia5String, OctetString, Utf8StringRef};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use time::OffsetDateTime;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::{GeneralName, OtherName};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectAltName, SubjectKeyIdentifier,
};

/// Everything `lint_tbs` sees: the TBS fields, a byte patch of the encoded TBS, the issuer
/// facts and the expectation.
#[derive(Clone)]
struct Case {
    serial: Vec<u8>,
    signature: AlgorithmIdentifierOwned,
    issuer: Vec<u8>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    subject: Vec<u8>,
    spki: Vec<u8>,
    extensions: Vec<Extension>,
    /// Applied to the encoded TBS (for what `encode_tbs` will not write).
    patch: Option<fn(Vec<u8>) -> Vec<u8>>,
    issuer_subject: Vec<u8>,
    issuer_ski: Vec<u8>,
    issuer_validity: Option<(OffsetDateTime, OffsetDateTime)>,
    issuer_alg: SignatureAlgorithm,
    ca: bool,
    min_rsa_bits: usize,
}

const ISSUER_SKI: [u8; 20] = [0x11; 20];

fn at(year: i32) -> OffsetDateTime {
    // 1 January of `year`, 00:00:00Z.
    let days = (1970..year)
        .map(|y| {
            if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) {
                366
            } else {
                365
            }
        })
        .sum::<i64>();
    OffsetDateTime::from_unix_timestamp(days * 86_400).expect("time")
}

fn name(dn: &str) -> Vec<u8> {
    DistinguishedName::parse(dn)
        .expect("dn")
        .to_der()
        .expect("der")
}

fn ext(oid: ObjectIdentifier, critical: bool, value: Vec<u8>) -> Extension {
    Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value).expect("octets"),
    }
}

fn ku(bits: impl Into<flagset::FlagSet<KeyUsages>>) -> Vec<u8> {
    KeyUsage(bits.into()).to_der().expect("ku")
}

fn ec_spki(curve: ObjectIdentifier) -> Vec<u8> {
    let mut point = vec![4u8];
    point.extend((1..=64u8).collect::<Vec<_>>());
    SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: rfc5912::ID_EC_PUBLIC_KEY,
            parameters: Some(Any::encode_from(&curve).expect("curve")),
        },
        subject_public_key: BitString::from_bytes(&point).expect("point"),
    }
    .to_der()
    .expect("spki")
}

/// An RSA SubjectPublicKeyInfo with a `bits`-bit modulus (odd, top bit set; not a real key,
/// the linter reads only its size).
fn rsa_spki(bits: usize) -> Vec<u8> {
    let mut n = vec![0xc5u8; bits / 8];
    n[bits / 8 - 1] |= 1;
    #[derive(der::Sequence)]
    struct RsaPub<'a> {
        n: der::asn1::UintRef<'a>,
        e: der::asn1::UintRef<'a>,
    }
    let key = RsaPub {
        n: der::asn1::UintRef::new(&n).expect("n"),
        e: der::asn1::UintRef::new(&[1, 0, 1]).expect("e"),
    }
    .to_der()
    .expect("rsa key");
    SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: rfc5912::RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        },
        subject_public_key: BitString::from_bytes(&key).expect("bits"),
    }
    .to_der()
    .expect("spki")
}

fn san(names: Vec<GeneralName>) -> Vec<u8> {
    SubjectAltName(names).to_der().expect("san")
}

fn email(s: &str) -> GeneralName {
    GeneralName::Rfc822Name(Ia5String::new(s).expect("ia5"))
}

fn aki(id: &[u8]) -> Vec<u8> {
    AuthorityKeyIdentifier {
        key_identifier: Some(OctetString::new(id).expect("id")),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    }
    .to_der()
    .expect("aki")
}

/// A good end-entity TBS (利用者 certificate, EC P-256) under a CA valid 2026-2036.
fn good_ee() -> Case {
    let issuer = name("CN=LGPKI Test CA,O=LGPKI,C=JP");
    Case {
        serial: vec![0x42; 16],
        signature: SignatureAlgorithm::EcdsaSha256.algorithm_identifier(),
        issuer: issuer.clone(),
        not_before: at(2027),
        not_after: at(2029),
        subject: name("CN=山田 太郎,OU=総務部,OU=千代田区,O=LGPKI,C=JP"),
        spki: ec_spki(rfc5912::SECP_256_R_1),
        extensions: vec![
            ext(
                rfc5280::ID_CE_KEY_USAGE,
                true,
                ku(KeyUsages::DigitalSignature),
            ),
            ext(
                rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER,
                false,
                SubjectKeyIdentifier(OctetString::new([0x22; 20]).expect("ski"))
                    .to_der()
                    .expect("ski"),
            ),
            ext(
                rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER,
                false,
                aki(&ISSUER_SKI),
            ),
            ext(
                rfc5280::ID_CE_SUBJECT_ALT_NAME,
                false,
                san(vec![email("taro@city.chiyoda.lg.jp")]),
            ),
        ],
        patch: None,
        issuer_subject: issuer,
        issuer_ski: ISSUER_SKI.to_vec(),
        issuer_validity: Some((at(2026), at(2036))),
        issuer_alg: SignatureAlgorithm::EcdsaSha256,
        ca: false,
        min_rsa_bits: 2048,
    }
}

/// A good CA TBS (a subordinate CA) from the same issuer.
fn good_ca() -> Case {
    let mut c = good_ee();
    c.ca = true;
    c.subject = name("CN=LGPKI Sub CA,O=LGPKI,C=JP");
    c.extensions
        .retain(|e| e.extn_id != rfc5280::ID_CE_SUBJECT_ALT_NAME);
    set_ext(
        &mut c,
        ext(
            rfc5280::ID_CE_KEY_USAGE,
            true,
            ku(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
        ),
    );
    set_ext(&mut c, bc(true, true));
    c
}

/// A good end-entity TBS for an RSA-2048 key.
fn good_rsa_ee() -> Case {
    let mut c = good_ee();
    c.spki = rsa_spki(2048);
    c
}

fn bc(critical: bool, ca: bool) -> Extension {
    ext(
        rfc5280::ID_CE_BASIC_CONSTRAINTS,
        critical,
        BasicConstraints {
            ca,
            path_len_constraint: None,
        }
        .to_der()
        .expect("bc"),
    )
}

/// Replaces the extension with the same OID, or appends it.
fn set_ext(c: &mut Case, e: Extension) {
    match c.extensions.iter_mut().find(|x| x.extn_id == e.extn_id) {
        Some(slot) => *slot = e,
        None => c.extensions.push(e),
    }
}

fn drop_ext(c: &mut Case, oid: ObjectIdentifier) {
    c.extensions.retain(|e| e.extn_id != oid);
}

/// The rule ids `lint_tbs` reports for the case (empty: it passes).
fn fired(c: &Case) -> BTreeSet<&'static str> {
    let mut tbs = encode_tbs(&TbsFields {
        serial: &c.serial,
        signature: c.signature.clone(),
        issuer: &c.issuer,
        not_before: c.not_before,
        not_after: c.not_after,
        subject: &c.subject,
        spki: &c.spki,
        extensions: &c.extensions,
    })
    .expect("encode");
    if let Some(p) = c.patch {
        tbs = p(tbs);
    }
    let issuer = IssuerFacts {
        subject_der: &c.issuer_subject,
        ski: &c.issuer_ski,
        validity: c.issuer_validity,
        signature_algorithm: c.issuer_alg,
    };
    let expect = Expectation {
        ca: c.ca,
        min_rsa_bits: c.min_rsa_bits,
    };
    match lint_tbs(&tbs, &issuer, &expect) {
        Ok(_) => BTreeSet::new(),
        Err(Error::LintFailed { findings }) => findings.iter().map(|f| f.rule).collect(),
        Err(e) => panic!("not a lint failure: {e}"),
    }
}

/// Replaces the first occurrence of `from` in `v` with `to` (same length).
fn replace(mut v: Vec<u8>, from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let at = v
        .windows(from.len())
        .position(|w| w == from)
        .expect("pattern in TBS");
    v[at..at + from.len()].copy_from_slice(to);
    v
}

type Mutation = fn() -> Case;

/// One mutation per rule: (rule id, the mutated case).
fn mutations() -> Vec<(&'static str, Mutation)> {
    vec![
        ("tbs_decodes", || {
            let mut c = good_ee();
            // The outer SEQUENCE claims one octet more than there is.
            c.patch = Some(|mut v| {
                v.pop();
                v
            });
            c
        }),
        ("extension_decodes", || {
            let mut c = good_ee();
            set_ext(
                &mut c,
                ext(rfc5280::ID_CE_EXT_KEY_USAGE, false, vec![0x04, 0x00]),
            );
            c
        }),
        ("version_v3", || {
            let mut c = good_ee();
            // [0] EXPLICIT INTEGER 2 (v3) becomes 1 (v2).
            c.patch = Some(|v| {
                replace(
                    v,
                    &[0xa0, 0x03, 0x02, 0x01, 0x02],
                    &[0xa0, 0x03, 0x02, 0x01, 0x01],
                )
            });
            c
        }),
        ("serial_length", || {
            let mut c = good_ee();
            c.serial = vec![0x42; 21];
            c
        }),
        ("serial_positive", || {
            let mut c = good_ee();
            c.serial = vec![0];
            c
        }),
        ("signature_algorithm_matches_key", || {
            let mut c = good_ee();
            c.signature = SignatureAlgorithm::EcdsaSha384.algorithm_identifier();
            c
        }),
        ("issuer_matches_ca_subject", || {
            let mut c = good_ee();
            c.issuer = name("CN=Another CA,O=LGPKI,C=JP");
            c
        }),
        ("issuer_not_empty", || {
            // A CA whose own subject is empty issues a certificate naming it.
            let mut c = good_ee();
            c.issuer = vec![0x30, 0x00];
            c.issuer_subject = vec![0x30, 0x00];
            c
        }),
        ("validity_time_encoding", || {
            let mut c = good_ee();
            // notAfter 2029 as GeneralizedTime ("20290101000000Z") instead of UTCTime.
            c.patch = Some(|v| {
                let from = b"\x17\x0d290101000000Z";
                let at = v
                    .windows(from.len())
                    .position(|w| w == from)
                    .expect("notAfter");
                let mut out = v[..at].to_vec();
                out.extend_from_slice(b"\x18\x0f20290101000000Z");
                out.extend_from_slice(&v[at + from.len()..]);
                fix_lengths(&out)
            });
            c
        }),
        ("validity_order", || {
            let mut c = good_ee();
            (c.not_before, c.not_after) = (at(2029), at(2027));
            c
        }),
        ("validity_within_issuer", || {
            let mut c = good_ee();
            c.not_after = at(2037);
            c
        }),
        ("subject_attribute_encoding", || {
            let mut c = good_ee();
            c.subject = name("CN=山田 太郎,O=LGPKI,C=jp");
            c
        }),
        ("extension_unique", || {
            let mut c = good_ee();
            let dup = c.extensions[3].clone();
            c.extensions.push(dup);
            c
        }),
        ("aki_present", || {
            let mut c = good_ee();
            drop_ext(&mut c, rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER);
            c
        }),
        ("aki_matches_issuer_ski", || {
            let mut c = good_ee();
            set_ext(
                &mut c,
                ext(
                    rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER,
                    false,
                    aki(&[0x33; 20]),
                ),
            );
            c
        }),
        ("aki_not_critical", || {
            let mut c = good_ee();
            set_ext(
                &mut c,
                ext(
                    rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER,
                    true,
                    aki(&ISSUER_SKI),
                ),
            );
            c
        }),
        ("ski_present", || {
            let mut c = good_ee();
            drop_ext(&mut c, rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER);
            c
        }),
        ("ca_basic_constraints", || {
            let mut c = good_ca();
            set_ext(&mut c, bc(true, false));
            c
        }),
        ("ca_basic_constraints_critical", || {
            let mut c = good_ca();
            set_ext(&mut c, bc(false, true));
            c
        }),
        ("ee_not_ca", || {
            let mut c = good_ee();
            set_ext(&mut c, bc(true, true));
            c
        }),
        ("key_usage_present", || {
            let mut c = good_ee();
            drop_ext(&mut c, rfc5280::ID_CE_KEY_USAGE);
            c
        }),
        ("key_usage_critical", || {
            let mut c = good_ee();
            set_ext(
                &mut c,
                ext(
                    rfc5280::ID_CE_KEY_USAGE,
                    false,
                    ku(KeyUsages::DigitalSignature),
                ),
            );
            c
        }),
        ("key_usage_not_empty", || {
            let mut c = good_ee();
            set_ext(
                &mut c,
                ext(rfc5280::ID_CE_KEY_USAGE, true, vec![0x03, 0x01, 0x00]),
            );
            c
        }),
        ("ca_key_cert_sign", || {
            let mut c = good_ca();
            set_ext(
                &mut c,
                ext(rfc5280::ID_CE_KEY_USAGE, true, ku(KeyUsages::CRLSign)),
            );
            c
        }),
        ("ee_no_cert_sign", || {
            let mut c = good_ee();
            set_ext(
                &mut c,
                ext(
                    rfc5280::ID_CE_KEY_USAGE,
                    true,
                    ku(KeyUsages::DigitalSignature | KeyUsages::KeyCertSign),
                ),
            );
            c
        }),
        ("ec_key_usage", || {
            let mut c = good_ee();
            set_ext(
                &mut c,
                ext(
                    rfc5280::ID_CE_KEY_USAGE,
                    true,
                    ku(KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment),
                ),
            );
            c
        }),
        ("rsa_key_usage", || {
            let mut c = good_rsa_ee();
            set_ext(
                &mut c,
                ext(
                    rfc5280::ID_CE_KEY_USAGE,
                    true,
                    ku(KeyUsages::DigitalSignature | KeyUsages::KeyAgreement),
                ),
            );
            c
        }),
        ("encipher_only_needs_agreement", || {
            let mut c = good_ee();
            set_ext(
                &mut c,
                ext(
                    rfc5280::ID_CE_KEY_USAGE,
                    true,
                    ku(KeyUsages::DigitalSignature | KeyUsages::EncipherOnly),
                ),
            );
            c
        }),
        ("eku_consistent_with_key_usage", || {
            let mut c = good_ee();
            set_ext(
                &mut c,
                ext(
                    rfc5280::ID_CE_KEY_USAGE,
                    true,
                    ku(KeyUsages::NonRepudiation),
                ),
            );
            set_ext(
                &mut c,
                ext(
                    rfc5280::ID_CE_EXT_KEY_USAGE,
                    false,
                    ExtendedKeyUsage(vec![rfc5280::ID_KP_SERVER_AUTH])
                        .to_der()
                        .expect("eku"),
                ),
            );
            c
        }),
        ("eku_not_empty", || {
            let mut c = good_ee();
            set_ext(
                &mut c,
                ext(rfc5280::ID_CE_EXT_KEY_USAGE, false, vec![0x30, 0x00]),
            );
            c
        }),
        ("subject_or_san", || {
            let mut c = good_ee();
            c.subject = vec![0x30, 0x00];
            drop_ext(&mut c, rfc5280::ID_CE_SUBJECT_ALT_NAME);
            c
        }),
        ("san_not_empty", || {
            let mut c = good_ee();
            set_ext(
                &mut c,
                ext(rfc5280::ID_CE_SUBJECT_ALT_NAME, false, vec![0x30, 0x00]),
            );
            c
        }),
        ("san_critical_when_subject_empty", || {
            let mut c = good_ee();
            c.subject = vec![0x30, 0x00];
            c
        }),
        ("san_not_critical", || {
            let mut c = good_ee();
            set_ext(
                &mut c,
                ext(
                    rfc5280::ID_CE_SUBJECT_ALT_NAME,
                    true,
                    san(vec![email("taro@city.chiyoda.lg.jp")]),
                ),
            );
            c
        }),
        ("san_syntax", || {
            let mut c = good_ee();
            set_ext(
                &mut c,
                ext(
                    rfc5280::ID_CE_SUBJECT_ALT_NAME,
                    false,
                    san(vec![GeneralName::DnsName(
                        Ia5String::new("bad..name.lg.jp").expect("ia5"),
                    )]),
                ),
            );
            c
        }),
        ("san_supported", || {
            let mut c = good_ee();
            let other = OtherName {
                type_id: ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.20.2.3"),
                value: Any::encode_from(&Utf8StringRef::new("taro@example").expect("utf8"))
                    .expect("any"),
            };
            set_ext(
                &mut c,
                ext(
                    rfc5280::ID_CE_SUBJECT_ALT_NAME,
                    false,
                    san(vec![GeneralName::OtherName(other)]),
                ),
            );
            c
        }),
        ("rsa_key_size", || {
            let mut c = good_rsa_ee();
            c.spki = rsa_spki(1024);
            c
        }),
        ("ec_curve", || {
            let mut c = good_ee();
            // secp256k1 (SEC 2): not P-256 or P-384.
            c.spki = ec_spki(ObjectIdentifier::new_unwrap("1.3.132.0.10"));
            c
        }),
        ("public_key_decodes", || {
            let mut c = good_ee();
            // Ed25519 (RFC 8410): an algorithm the CA does not certify.
            c.spki = SubjectPublicKeyInfoOwned {
                algorithm: AlgorithmIdentifierOwned {
                    oid: ObjectIdentifier::new_unwrap("1.3.101.112"),
                    parameters: None,
                },
                subject_public_key: BitString::from_bytes(&[7; 32]).expect("bits"),
            }
            .to_der()
            .expect("spki");
            c
        }),
    ]
}

/// Re-encodes a TBS whose validity times were patched to a different length: the TBS and
/// Validity SEQUENCE lengths are recomputed from the elements, read TLV by TLV.
fn fix_lengths(v: &[u8]) -> Vec<u8> {
    // Header of the outer SEQUENCE.
    let (hdr, _) = read_len(v, 1);
    let body = &v[hdr..];
    let mut out_body = Vec::new();
    let mut i = 0;
    let mut index = 0;
    while i < body.len() {
        let tag = body[i];
        if index == 4 && tag == 0x30 {
            // Validity: its declared length is 2 short; take the two times as they are.
            let (h, _) = read_len(body, i + 1);
            let mut times = Vec::new();
            let mut j = i + h;
            for _ in 0..2 {
                let (th, tl) = read_len(body, j + 1);
                times.extend_from_slice(&body[j..j + th + tl]);
                j += th + tl;
            }
            push_tlv(&mut out_body, 0x30, &times);
            i = j;
        } else {
            let (h, l) = read_len(body, i + 1);
            out_body.extend_from_slice(&body[i..i + h + l]);
            i += h + l;
        }
        index += 1;
    }
    let mut out = Vec::new();
    push_tlv(&mut out, 0x30, &out_body);
    out
}

/// (header length including the tag, content length) of the TLV whose length octets start at
/// `at`.
fn read_len(v: &[u8], at: usize) -> (usize, usize) {
    let first = v[at];
    if first < 0x80 {
        (2, usize::from(first))
    } else {
        let n = usize::from(first & 0x7f);
        let len = v[at + 1..at + 1 + n]
            .iter()
            .fold(0usize, |a, b| (a << 8) | usize::from(*b));
        (2 + n, len)
    }
}

fn push_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(content);
}

#[test]
fn good_tbs_pass() {
    for (what, c) in [
        ("end entity", good_ee()),
        ("CA", good_ca()),
        ("RSA end entity", good_rsa_ee()),
    ] {
        assert_eq!(fired(&c), BTreeSet::new(), "the good {what} TBS");
    }
}

#[test]
fn each_mutation_fires_exactly_its_rule() {
    let mut wrong = Vec::new();
    for (rule, make) in mutations() {
        let got = fired(&make());
        if got != BTreeSet::from([rule]) {
            wrong.push(format!("{rule}: fired {got:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "mutations that missed:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_rule_has_a_mutation() {
    let covered: Vec<&str> = mutations().iter().map(|(r, _)| *r).collect();
    let listed: BTreeSet<&str> = RULES.iter().copied().collect();
    let uncovered: Vec<&&str> = RULES.iter().filter(|r| !covered.contains(r)).collect();
    assert!(
        uncovered.is_empty(),
        "rules no mutation covers: {uncovered:?}"
    );
    let unknown: Vec<&&str> = covered.iter().filter(|r| !listed.contains(*r)).collect();
    assert!(
        unknown.is_empty(),
        "mutations for rules not in RULES: {unknown:?}"
    );
    assert_eq!(covered.len(), RULES.len(), "one mutation per rule");
}
