//! Path building through bags of cross-certificates (RFC 4158): depth-first over every
//! candidate issuer with backtracking, loops pruned without ending the search, candidates
//! ordered by key identifier, validity and distance to a trust anchor, the budget kept, and
//! the nearest miss named when no path exists.

mod pathgen;

use ca_core::{Budget, PathError, ValidationOptions, validate_path};
use der::Decode;
use pathgen::{NOW, entity, issue, other_key_id, self_signed};
use x509_cert::Certificate;

fn subjects(chain: &[Certificate]) -> Vec<String> {
    chain
        .iter()
        .map(|c| c.tbs_certificate().subject().to_string())
        .collect()
}

fn cert(der: &[u8]) -> Certificate {
    Certificate::from_der(der).expect("certificate")
}

/// The defect of issue 12: a GPKI relying party (anchor: the GPKI bridge only) validates a
/// 職責 certificate of the organisation CA. The bag holds "bridge issued by root" and "root
/// cross-certified by bridge" (a loop), the bridge's self-signed certificate, and the GPKI
/// bridge's cross-certificate to the LGPKI bridge, whose subjectKeyIdentifier GPKI computed
/// with another hash than lgpki (so the AKI of "root cross-certified by bridge" does not
/// match it). The builder must back out of the loop and try the GPKI cross-certificate.
#[test]
fn gpki_bridge_path_through_a_loop_of_cross_certificates() {
    let root = entity("CN=LGPKI Root CA,O=LGPKI,C=JP");
    let bridge = entity("CN=LGPKI Bridge CA,O=LGPKI,C=JP");
    let org = entity("CN=LGPKI Organization CA,O=LGPKI,C=JP");
    let gpki = entity("CN=GPKI Bridge CA,O=Japanese Government,C=JP");
    let holder = entity("CN=山田 太郎,OU=総務部,OU=千代田区,O=LGPKI,C=JP");
    let leaf = issue(&holder, &org, 100).end_entity().sign();
    let bridge_by_gpki = issue(&bridge, &gpki, 7).ski(other_key_id(&bridge)).sign();
    let bag = vec![
        self_signed(&root, 1),
        issue(&bridge, &root, 2).sign(),
        self_signed(&bridge, 3),
        issue(&root, &bridge, 4).sign(),
        issue(&gpki, &bridge, 5).sign(),
        issue(&org, &root, 6).sign(),
        bridge_by_gpki.clone(),
    ];
    let anchors = vec![self_signed(&gpki, 8)];
    let opts = ValidationOptions::at(NOW);
    let path = validate_path(&leaf, &bag, &anchors, &opts).expect("a path across both bridges");
    assert_eq!(
        subjects(&path.chain),
        [&holder, &org, &root, &bridge, &gpki].map(|e| e.name.clone())
    );
    assert_eq!(path.chain[3], cert(&bridge_by_gpki));

    // Without the GPKI cross-certificate no chain of names reaches the GPKI bridge: the
    // nearest miss says so instead of blaming one certificate of the loop.
    let without: Vec<Vec<u8>> = bag[..6].to_vec();
    let err = validate_path(&leaf, &without, &anchors, &opts).expect_err("no path");
    assert!(matches!(err, PathError::NoUsableIssuer { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("no chain of names to a trust anchor") && msg.contains("one another"),
        "{msg}"
    );

    // A municipal relying party (anchor: the LGPKI root) still gets the short path.
    let path = validate_path(&leaf, &bag, &bag[..1], &opts).expect("valid under the root");
    assert_eq!(path.chain.len(), 3);
}

/// Same-subject decoys with other keys: the candidate whose SKI matches the AKI is tried
/// first (two signature checks suffice); decoys that claim the right SKI cost one signature
/// each and the budget still ends the search; without the real issuer the error names the
/// key identifier that matched nothing.
#[test]
fn same_subject_decoys_with_wrong_keys() {
    let root = entity("CN=Root,O=Test,C=JP");
    let ica = entity("CN=Issuing CA,O=Test,C=JP");
    let holder = entity("CN=leaf,O=Test,C=JP");
    let leaf = issue(&holder, &ica, 100).end_entity().sign();
    let real = issue(&ica, &root, 2).sign();
    let decoy_keys: Vec<_> = (0..5).map(|_| entity(&ica.name)).collect();
    let decoys: Vec<Vec<u8>> = decoy_keys
        .iter()
        .enumerate()
        .map(|(i, d)| issue(d, &root, 10 + i as u64).sign())
        .collect();
    let anchors = vec![self_signed(&root, 1)];

    let mut bag = decoys.clone();
    bag.push(real.clone());
    let mut opts = ValidationOptions::at(NOW);
    opts.budget = Budget {
        signatures: 2,
        ..Budget::default()
    };
    let path = validate_path(&leaf, &bag, &anchors, &opts).expect("matching SKI tried first");
    assert_eq!(path.chain[1], cert(&real));

    // Decoys claiming the real key identifier are indistinguishable until their signature
    // fails: five wasted checks exceed a budget of two, and that is what is reported.
    let liars: Vec<Vec<u8>> = decoy_keys
        .iter()
        .enumerate()
        .map(|(i, d)| {
            issue(d, &root, 20 + i as u64)
                .ski(ica.key_id.clone())
                .sign()
        })
        .collect();
    let mut bag = liars.clone();
    bag.push(real.clone());
    assert_eq!(
        validate_path(&leaf, &bag, &anchors, &opts).map(|_| ()),
        Err(PathError::BudgetExceeded {
            what: "signature checks"
        })
    );
    let path = validate_path(&leaf, &bag, &anchors, &ValidationOptions::at(NOW))
        .expect("found after the liars with the default budget");
    assert_eq!(path.chain[1], cert(&real));

    // Only decoys: the nearest miss is the key identifier.
    let err = validate_path(&leaf, &decoys, &anchors, &ValidationOptions::at(NOW))
        .expect_err("no issuer");
    let aki = hex::encode(&ica.key_id[..4]);
    assert_eq!(
        err.to_string(),
        format!(
            "no path to a trust anchor: no usable issuer for {} (issuer {}): \
             authorityKeyIdentifier {aki}… matches no subjectKeyIdentifier among 5 candidates \
             and no candidate's key verifies the signature",
            holder.name, ica.name
        )
    );
}

/// A cross-certificate whose key identifiers differ from the AKI but whose key is right
/// (another CA hashed the key differently) is still a valid issuer; with two candidates the
/// one with matching identifiers is preferred even when listed last.
#[test]
fn key_identifier_orders_but_does_not_filter() {
    let root_a = entity("CN=Root A,C=JP");
    let root_b = entity("CN=Root B,C=JP");
    let ica = entity("CN=ICA,C=JP");
    let holder = entity("CN=leaf,C=JP");
    let leaf = issue(&holder, &ica, 100)
        .end_entity()
        .aki(ica.key_id.clone())
        .sign();
    let via_a = issue(&ica, &root_a, 2).ski(other_key_id(&ica)).sign();
    let via_b = issue(&ica, &root_b, 3).sign();
    let anchors = vec![self_signed(&root_a, 4), self_signed(&root_b, 5)];
    let opts = ValidationOptions::at(NOW);
    let path = validate_path(&leaf, std::slice::from_ref(&via_a), &anchors, &opts)
        .expect("SKI mismatch is only a hint");
    assert_eq!(path.chain[1], cert(&via_a));
    let path = validate_path(&leaf, &[via_a, via_b.clone()], &anchors, &opts).expect("valid");
    assert_eq!(
        path.chain[1],
        cert(&via_b),
        "matching key identifiers first"
    );
}

/// An expired alternative and a not-yet-valid one do not hide the valid cross-certificate
/// (they cost no signature check and no build step), and when they are all there is, their
/// validity is the reason given.
#[test]
fn expired_alternatives() {
    let root = entity("CN=Root,C=JP");
    let ica = entity("CN=ICA,C=JP");
    let holder = entity("CN=leaf,C=JP");
    let leaf = issue(&holder, &ica, 100).end_entity().sign();
    let expired = issue(&ica, &root, 2)
        .validity(1_500_000_000, 1_700_000_000)
        .sign();
    let future = issue(&ica, &root, 3)
        .validity(2_100_000_000, 2_200_000_000)
        .sign();
    let good = issue(&ica, &root, 4).sign();
    let anchors = vec![self_signed(&root, 1)];
    let mut opts = ValidationOptions::at(NOW);
    opts.budget = Budget {
        signatures: 2,
        build_chain_calls: 2,
        ..Budget::default()
    };
    let bag = vec![expired.clone(), future.clone(), good.clone()];
    let path = validate_path(&leaf, &bag, &anchors, &opts).expect("valid");
    assert_eq!(path.chain[1], cert(&good));
    let err = validate_path(&leaf, &bag[..2], &anchors, &ValidationOptions::at(NOW))
        .expect_err("no valid cross-certificate");
    assert!(
        matches!(
            err,
            PathError::Expired { .. } | PathError::NotYetValid { .. }
        ),
        "{err:?}"
    );
}

/// A generated PKI: the leaf, the untrusted bag, the trust anchors, and the position in the
/// bag of the one link to the anchor's domain.
type Mesh = (Vec<u8>, Vec<Vec<u8>>, Vec<Vec<u8>>, usize);

/// Three CAs cross-certified with one another in every direction (loops of every length) and
/// one link to the trust anchor's domain, listed last.
fn mesh(link_validity: (u64, u64)) -> Mesh {
    let anchor = entity("CN=Anchor,C=JP");
    let cas: Vec<_> = (0..7)
        .map(|i| entity(&format!("CN=Mesh {i},C=JP")))
        .collect();
    let holder = entity("CN=leaf,C=JP");
    let leaf = issue(&holder, &cas[0], 1).end_entity().sign();
    let mut bag = Vec::new();
    let mut serial = 10;
    for a in &cas {
        bag.push(self_signed(a, serial));
        serial += 1;
        for b in &cas {
            if a.name != b.name {
                bag.push(issue(a, b, serial).sign());
                serial += 1;
            }
        }
    }
    let cross = bag.len();
    bag.push(
        issue(&cas[6], &anchor, 2)
            .validity(link_validity.0, link_validity.1)
            .sign(),
    );
    (leaf, bag, vec![self_signed(&anchor, 3)], cross)
}

#[test]
fn loops_are_pruned_and_the_search_goes_on() {
    let (leaf, bag, anchors, link) = mesh(pathgen::VALID);
    let opts = ValidationOptions::at(NOW);
    let path = validate_path(&leaf, &bag, &anchors, &opts).expect("valid through the mesh");
    // The shortest: leaf, Mesh 0 (by Mesh 6), Mesh 6 (by the anchor), anchor.
    assert_eq!(path.chain.len(), 4);
    assert_eq!(path.chain[2], cert(&bag[link]));

    let err = validate_path(&leaf, &bag[..link], &anchors, &opts).expect_err("no link");
    let msg = err.to_string();
    assert!(msg.contains("one another"), "{msg}");
}

/// With the only link expired, every path through the mesh is tried (thousands of them,
/// loops pruned) and the expired link is the nearest miss; a smaller build budget ends the
/// search with `BudgetExceeded` instead.
#[test]
fn exhaustive_search_reports_the_nearest_miss_or_the_budget() {
    let (leaf, bag, anchors, _) = mesh((1_500_000_000, 1_700_000_000));
    let opts = ValidationOptions::at(NOW);
    let err = validate_path(&leaf, &bag, &anchors, &opts).expect_err("link expired");
    assert!(
        matches!(&err, PathError::Expired { subject, .. } if subject == "CN=Mesh 6,C=JP"),
        "{err:?}"
    );
    let mut opts = ValidationOptions::at(NOW);
    opts.budget = Budget {
        build_chain_calls: 500,
        ..Budget::default()
    };
    assert_eq!(
        validate_path(&leaf, &bag, &anchors, &opts).map(|_| ()),
        Err(PathError::BudgetExceeded {
            what: "build_chain calls"
        })
    );
}

/// A missing link: the error names the certificate whose issuer nobody certified.
#[test]
fn nearest_miss_names_the_missing_link() {
    let root = entity("CN=Root,C=JP");
    let mid = entity("CN=Mid,C=JP");
    let ica = entity("CN=ICA,C=JP");
    let holder = entity("CN=leaf,C=JP");
    let leaf = issue(&holder, &ica, 100).end_entity().sign();
    let bag = vec![issue(&ica, &mid, 2).sign()];
    let anchors = vec![self_signed(&root, 1)];
    let err = validate_path(&leaf, &bag, &anchors, &ValidationOptions::at(NOW))
        .expect_err("Mid is missing");
    assert_eq!(
        err.to_string(),
        "no path to a trust anchor: no usable issuer for CN=leaf,C=JP (issuer CN=ICA,C=JP): \
         1 candidate with no chain of names to a trust anchor (no certificate is issued to \
         CN=Mid,C=JP, the issuer of CN=ICA,C=JP)"
    );
    // No certificate named as the issuer at all.
    let err = validate_path(&leaf, &[], &anchors, &ValidationOptions::at(NOW)).expect_err("none");
    assert!(matches!(err, PathError::UnknownIssuer { .. }), "{err:?}");
}

/// Writes the anchors, the bag and the target as PEM files for the peers.
fn write_case(dir: &std::path::Path, anchors: &[Vec<u8>], bag: &[Vec<u8>], target: &[u8]) {
    let join = |certs: &[Vec<u8>]| certs.iter().map(|c| pathgen::pem(c)).collect::<String>();
    std::fs::write(dir.join("anchors.pem"), join(anchors)).expect("anchors");
    std::fs::write(dir.join("bag.pem"), join(bag)).expect("bag");
    std::fs::write(dir.join("target.pem"), pathgen::pem(target)).expect("target");
}

/// `openssl verify -untrusted`: the subjects of the chain it built (target first), or its
/// error output.
fn openssl_chain(dir: &std::path::Path) -> Result<Vec<String>, String> {
    let out = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(["verify", "-show_chain", "-attime", &NOW.to_string()])
        .args(["-nameopt", "RFC2253", "-CAfile", "anchors.pem"])
        .args(["-untrusted", "bag.pem", "target.pem"])
        .output()
        .expect("openssl is not installed (CI installs it); this test does not skip");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(text
        .lines()
        .filter_map(|l| l.strip_prefix("depth="))
        .filter_map(|l| l.split_once(": ").map(|(_, s)| s))
        .map(|s| s.trim_end_matches(" (untrusted)").to_owned())
        .collect())
}

/// The JDK's PKIX CertPathBuilder (`tests/java/PkixBuild.java`): the subjects of the path it
/// built (target first, anchor last), or its reason.
fn jdk_chain(dir: &std::path::Path) -> Result<Vec<String>, String> {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/java/PkixBuild.java");
    let out = std::process::Command::new("java")
        .current_dir(dir)
        .args([
            src,
            "anchors.pem",
            "bag.pem",
            "target.pem",
            &NOW.to_string(),
        ])
        .output()
        .expect(
            "java is not installed (CI installs default-jdk-headless); this test does not skip",
        );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(text.lines().map(str::to_owned).collect())
}

/// Both bridges and a GPKI ministry: the certificates of issue 12's acceptance.
struct Fabric {
    holder: pathgen::Entity,
    signer: pathgen::Entity,
    /// An lgpki 職責-style certificate (two OUs: 団体 and 部署).
    leaf: Vec<u8>,
    /// A GPKI signer's certificate, issued by the ministry CA.
    gpki_leaf: Vec<u8>,
    lgpki_root: Vec<u8>,
    gpki_bridge: Vec<u8>,
    /// Everything a relying party may find in a directory: self-signed certificates, the
    /// cross-certificate pairs both ways (a loop), the ministry CA.
    bag: Vec<Vec<u8>>,
    /// Only the cross-certificates and subordinate CA certificates, with the GPKI bridge's
    /// cross-certificate carrying the SKI lgpki computes.
    crosses: Vec<Vec<u8>>,
}

fn fabric() -> Fabric {
    let root = entity("CN=LGPKI Root CA,O=LGPKI,C=JP");
    let bridge = entity("CN=LGPKI Bridge CA,O=LGPKI,C=JP");
    let org = entity("CN=LGPKI Organization CA,O=LGPKI,C=JP");
    let gpki = entity("CN=GPKI Bridge CA,O=Japanese Government,C=JP");
    let ministry = entity("CN=Ministry CA,O=Japanese Government,C=JP");
    let holder = entity("CN=Yamada Taro,OU=Soumu,OU=Chiyoda,O=LGPKI,C=JP");
    let signer = entity("CN=Signer,OU=Ministry,O=Japanese Government,C=JP");
    let leaf = issue(&holder, &org, 100).end_entity().sign();
    let gpki_leaf = issue(&signer, &ministry, 101).end_entity().sign();
    let common = vec![
        issue(&bridge, &root, 2).sign(),
        issue(&root, &bridge, 4).sign(),
        issue(&gpki, &bridge, 5).sign(),
        issue(&org, &root, 6).sign(),
        issue(&ministry, &gpki, 9).sign(),
    ];
    let mut bag = vec![self_signed(&root, 1), self_signed(&bridge, 3)];
    bag.extend(common.iter().cloned());
    bag.push(issue(&bridge, &gpki, 7).ski(other_key_id(&bridge)).sign());
    let mut crosses = common;
    crosses.push(issue(&bridge, &gpki, 8).sign());
    Fabric {
        holder,
        signer,
        leaf,
        gpki_leaf,
        lgpki_root: self_signed(&root, 10),
        gpki_bridge: self_signed(&gpki, 11),
        bag,
        crosses,
    }
}

/// Issue 12's acceptance with real peers: a GPKI relying party (anchor: the GPKI bridge only)
/// validates lgpki's certificate across both bridges, and a municipal relying party (anchor:
/// the LGPKI root) validates the GPKI signer; `validate_path` and the JDK's CertPathBuilder
/// build the same path through the whole bag (loop, self-signed certificates, a GPKI
/// cross-certificate whose SKI does not match the AKI) and through the cross-certificates
/// alone. OpenSSL 3.0 does not back out of the loop (it takes the first certificate named as
/// the issuer and stops with error 20, or with error 19 at a self-signed certificate among the
/// untrusted ones): it is given the intermediates of the path found and must accept that path,
/// except the one through the GPKI cross-certificate whose SKI differs from the AKI (OpenSSL
/// refuses such an issuer; RFC 5280 §4.2.1.1 makes the identifiers a hint, and the JDK agrees).
#[test]
fn peers_agree_across_both_bridges() {
    let f = fabric();
    let lgpki_path = [
        "CN=Yamada Taro,OU=Soumu,OU=Chiyoda,O=LGPKI,C=JP",
        "CN=LGPKI Organization CA,O=LGPKI,C=JP",
        "CN=LGPKI Root CA,O=LGPKI,C=JP",
        "CN=LGPKI Bridge CA,O=LGPKI,C=JP",
        "CN=GPKI Bridge CA,O=Japanese Government,C=JP",
    ];
    let gpki_path = [
        "CN=Signer,OU=Ministry,O=Japanese Government,C=JP",
        "CN=Ministry CA,O=Japanese Government,C=JP",
        "CN=GPKI Bridge CA,O=Japanese Government,C=JP",
        "CN=LGPKI Bridge CA,O=LGPKI,C=JP",
        "CN=LGPKI Root CA,O=LGPKI,C=JP",
    ];
    assert_eq!(f.holder.name, lgpki_path[0]);
    assert_eq!(f.signer.name, gpki_path[0]);
    let opts = ValidationOptions::at(NOW);
    let tmp = tempfile::tempdir().expect("tmp");
    let cases = [
        (
            "GPKI RP, whole bag",
            &f.leaf,
            &f.gpki_bridge,
            &f.bag,
            &lgpki_path,
            false,
        ),
        (
            "GPKI RP, crosses",
            &f.leaf,
            &f.gpki_bridge,
            &f.crosses,
            &lgpki_path,
            true,
        ),
        (
            "municipal RP, whole bag",
            &f.gpki_leaf,
            &f.lgpki_root,
            &f.bag,
            &gpki_path,
            true,
        ),
        (
            "municipal RP, crosses",
            &f.gpki_leaf,
            &f.lgpki_root,
            &f.crosses,
            &gpki_path,
            true,
        ),
    ];
    for (what, target, anchor, bag, expected, openssl_too) in cases {
        let anchors = vec![anchor.clone()];
        let ours = validate_path(target, bag, &anchors, &opts)
            .unwrap_or_else(|e| panic!("{what}: lgpki: {e}"));
        assert_eq!(subjects(&ours.chain), expected.to_vec(), "{what}: lgpki");
        let dir = tmp.path().join(what.replace([' ', ','], "_"));
        std::fs::create_dir(&dir).expect("dir");
        write_case(&dir, &anchors, bag, target);
        let jdk = jdk_chain(&dir).unwrap_or_else(|e| panic!("{what}: JDK: {e}"));
        assert_eq!(jdk, expected.to_vec(), "{what}: JDK");
        if !openssl_too {
            continue;
        }
        let found: Vec<Vec<u8>> = ours.chain[1..ours.chain.len() - 1]
            .iter()
            .map(|c| der::Encode::to_der(c).expect("der"))
            .collect();
        let dir = dir.join("openssl");
        std::fs::create_dir(&dir).expect("dir");
        write_case(&dir, &anchors, &found, target);
        let ossl = openssl_chain(&dir).unwrap_or_else(|e| panic!("{what}: openssl: {e}"));
        assert_eq!(ossl, expected.to_vec(), "{what}: openssl");
    }

    // Without the cross-certificates between the bridges no peer finds a path.
    let cut: Vec<Vec<u8>> = f
        .bag
        .iter()
        .filter(|c| {
            let c = cert(c);
            let (s, i) = (
                c.tbs_certificate().subject().to_string(),
                c.tbs_certificate().issuer().to_string(),
            );
            !(s.contains("Bridge") && i.contains("Bridge") && s != i)
        })
        .cloned()
        .collect();
    assert_eq!(cut.len(), f.bag.len() - 2);
    let anchors = vec![f.gpki_bridge.clone()];
    validate_path(&f.leaf, &cut, &anchors, &opts).expect_err("lgpki: no path");
    let dir = tmp.path().join("cut");
    std::fs::create_dir(&dir).expect("dir");
    write_case(&dir, &anchors, &cut, &f.leaf);
    jdk_chain(&dir).expect_err("JDK: no path");
}

/// CA/B Forum BR 7.1.2.1.3: a TLS server path refuses a root whose authorityKeyIdentifier
/// names an issuer serial number; other purposes follow RFC 5280 §4.2.1.1, which allows it.
#[test]
fn root_aki_with_serial_refused_for_tls_servers_only() {
    let root = entity("CN=Root,C=JP");
    let holder = entity("CN=leaf,C=JP");
    let leaf = issue(&holder, &root, 2).end_entity().sign();
    let anchors = vec![issue(&root, &root, 1).aki_serial(1).sign()];
    let mut opts = ValidationOptions::at(NOW);
    validate_path(&leaf, &[], &anchors, &opts).expect("RFC 5280 allows it");
    opts.purpose = Some(ca_core::Purpose::ServerAuth);
    let err = validate_path(&leaf, &[], &anchors, &opts).expect_err("CA/B refuses it");
    assert!(err.to_string().contains("7.1.2.1.3"), "{err}");
}
