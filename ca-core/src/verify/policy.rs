//! Certificate policy processing (RFC 5280 §6.1.2 (a), (d)-(f), §6.1.3 (d)-(f), §6.1.4 (a)-(b),
//! (h)-(j), §6.1.5 (a)-(b), (g)), with the valid_policy_tree replaced by the policy graph of
//! RFC 9618, which gives the same results in polynomial time and space.
//!
//! The graph has one level per certificate. A level holds at most one node per policy OID; a
//! node may have several parents (RFC 9618 §3.2).

use std::collections::BTreeSet;

use const_oid::db::rfc5280::ANY_POLICY;

use super::PathError;
use super::cert::Cert;
use crate::oid::Oid;

/// anyPolicy (RFC 5280 §4.2.1.4) as bytes.
fn any_policy() -> Oid {
    Oid::from(ANY_POLICY)
}

#[derive(Clone, Debug)]
struct Node {
    policy: Oid,
    expected: BTreeSet<Oid>,
    /// Indices into the previous level.
    parents: Vec<usize>,
    deleted: bool,
}

/// State of policy processing across a path (RFC 5280 §6.1.2 state variables).
pub(crate) struct PolicyState {
    /// `None` is the NULL valid_policy_tree.
    levels: Option<Vec<Vec<Node>>>,
    explicit_policy: usize,
    inhibit_any_policy: usize,
    policy_mapping: usize,
}

impl PolicyState {
    /// §6.1.2: initialise for a path of `n` certificates.
    pub(crate) fn new(n: usize, explicit: bool, any_inhibit: bool, mapping_inhibit: bool) -> Self {
        let root = Node {
            policy: any_policy(),
            expected: BTreeSet::from([any_policy()]),
            parents: Vec::new(),
            deleted: false,
        };
        PolicyState {
            levels: Some(vec![vec![root]]),
            explicit_policy: if explicit { 0 } else { n + 1 },
            inhibit_any_policy: if any_inhibit { 0 } else { n + 1 },
            policy_mapping: if mapping_inhibit { 0 } else { n + 1 },
        }
    }

    /// §6.1.3 (d)-(f) for certificate `i` (1-based) of `n`.
    pub(crate) fn process_cert(
        &mut self,
        cert: &Cert,
        i: usize,
        n: usize,
    ) -> Result<(), PathError> {
        match (&cert.policies, self.levels.as_mut()) {
            (Some(policies), Some(levels)) => {
                let prev = levels.last().map(Vec::as_slice).unwrap_or(&[]);
                let mut level: Vec<Node> = Vec::new();
                // (d)(1): each policy other than anyPolicy.
                for p in policies.iter().filter(|p| **p != ANY_POLICY) {
                    let parents: Vec<usize> = prev
                        .iter()
                        .enumerate()
                        .filter(|(_, n)| !n.deleted && n.expected.contains(p))
                        .map(|(k, _)| k)
                        .collect();
                    let parents = if parents.is_empty() {
                        // (d)(1)(ii): a child of the anyPolicy node.
                        prev.iter()
                            .position(|n| !n.deleted && n.policy == ANY_POLICY)
                            .into_iter()
                            .collect()
                    } else {
                        parents
                    };
                    if !parents.is_empty() {
                        level.push(Node {
                            policy: p.clone(),
                            expected: BTreeSet::from([p.clone()]),
                            parents,
                            deleted: false,
                        });
                    }
                }
                // (d)(2): anyPolicy asserted and not inhibited (self-issued intermediates excepted).
                if policies.iter().any(|p| *p == ANY_POLICY)
                    && (self.inhibit_any_policy > 0 || (i < n && cert.self_issued))
                {
                    for (k, parent) in prev.iter().enumerate().filter(|(_, n)| !n.deleted) {
                        for e in &parent.expected {
                            if let Some(existing) = level.iter_mut().find(|n| n.policy == *e) {
                                // RFC 9618 §4: one node per policy; record every parent.
                                if !existing.parents.contains(&k) {
                                    existing.parents.push(k);
                                }
                                continue;
                            }
                            level.push(Node {
                                policy: e.clone(),
                                expected: BTreeSet::from([e.clone()]),
                                parents: vec![k],
                                deleted: false,
                            });
                        }
                    }
                }
                levels.push(level);
                // (d)(3): prune childless nodes above.
                prune(levels);
                if levels.last().is_none_or(|l| l.iter().all(|n| n.deleted)) {
                    self.levels = None;
                }
            }
            // (e): no certificatePolicies extension.
            (None, Some(_)) => self.levels = None,
            _ => {}
        }
        // (f)
        if self.explicit_policy == 0 && self.levels.is_none() {
            return Err(PathError::PolicyRequired {
                subject: cert.subject.clone(),
            });
        }
        Ok(())
    }

    /// §6.1.4 (a), (b), (h)-(j): preparation for the next certificate after intermediate `cert`.
    pub(crate) fn prepare_next(&mut self, cert: &Cert) -> Result<(), PathError> {
        if let Some(maps) = &cert.mappings {
            // (a)
            if maps
                .iter()
                .any(|(a, b)| *a == ANY_POLICY || *b == ANY_POLICY)
            {
                return Err(PathError::PolicyMappingAnyPolicy {
                    subject: cert.subject.clone(),
                });
            }
            // (b)
            if let Some(levels) = self.levels.as_mut() {
                let mut issuer_policies: Vec<Oid> = maps.iter().map(|m| m.0.clone()).collect();
                issuer_policies.sort();
                issuer_policies.dedup();
                let depth = levels.len() - 1;
                for idp in issuer_policies {
                    let mapped: BTreeSet<Oid> = maps
                        .iter()
                        .filter(|m| m.0 == idp)
                        .map(|m| m.1.clone())
                        .collect();
                    let level = &mut levels[depth];
                    let pos = level.iter().position(|n| !n.deleted && n.policy == idp);
                    if self.policy_mapping > 0 {
                        if let Some(k) = pos {
                            level[k].expected = mapped;
                        } else if let Some(any) = level
                            .iter()
                            .position(|n| !n.deleted && n.policy == ANY_POLICY)
                        {
                            // (b)(1): a sibling of the anyPolicy node with the same parents.
                            let parents = level[any].parents.clone();
                            level.push(Node {
                                policy: idp,
                                expected: mapped,
                                parents,
                                deleted: false,
                            });
                        }
                    } else if let Some(k) = pos {
                        // (b)(2): mapping inhibited, delete the node.
                        level[k].deleted = true;
                    }
                }
                prune(levels);
                if levels.last().is_none_or(|l| l.iter().all(|n| n.deleted)) {
                    self.levels = None;
                }
            }
        }
        // (h): counters decrease for certificates that are not self-issued.
        if !cert.self_issued {
            self.explicit_policy = self.explicit_policy.saturating_sub(1);
            self.policy_mapping = self.policy_mapping.saturating_sub(1);
            self.inhibit_any_policy = self.inhibit_any_policy.saturating_sub(1);
        }
        // (i)
        if let Some(pc) = &cert.policy_constraints {
            if let Some(r) = pc.require_explicit_policy {
                self.explicit_policy = self.explicit_policy.min(r as usize);
            }
            if let Some(m) = pc.inhibit_policy_mapping {
                self.policy_mapping = self.policy_mapping.min(m as usize);
            }
        }
        // (j)
        if let Some(skip) = cert.inhibit_any {
            self.inhibit_any_policy = self.inhibit_any_policy.min(skip as usize);
        }
        Ok(())
    }

    /// §6.1.5 (a), (b), (g): wrap-up after the leaf; returns the user-constrained-policy-set.
    pub(crate) fn finish(mut self, leaf: &Cert, initial: &[Oid]) -> Result<Vec<Oid>, PathError> {
        self.explicit_policy = self.explicit_policy.saturating_sub(1);
        if leaf
            .policy_constraints
            .as_ref()
            .and_then(|p| p.require_explicit_policy)
            == Some(0)
        {
            self.explicit_policy = 0;
        }
        let any_initial = initial.is_empty() || initial.iter().any(|p| *p == ANY_POLICY);
        let result: Vec<Oid> = match &self.levels {
            None => Vec::new(),
            Some(levels) => user_constrained(levels, initial, any_initial),
        };
        // (g)(iii)
        if self.explicit_policy == 0 && result.is_empty() {
            return Err(PathError::PolicyRequired {
                subject: leaf.subject.clone(),
            });
        }
        Ok(result)
    }
}

/// §6.1.5 (g) and §6.1.6 on the graph (RFC 9618 §4.4). After pruning every node lies on a
/// path to the leaf level. The valid_policy_node_set is the set of nodes other than anyPolicy
/// with an anyPolicy parent: the policies as the trust anchor's domain names them, before
/// any mapping. The user-constrained-policy-set is the policies of those nodes that are in
/// the user-initial-policy-set, plus, when the leaf level still has an anyPolicy node (so
/// every policy is acceptable), the initial policies not in the valid_policy_node_set (and
/// anyPolicy itself when the initial set is anyPolicy).
fn user_constrained(levels: &[Vec<Node>], initial: &[Oid], any_initial: bool) -> Vec<Oid> {
    let mut node_set: BTreeSet<Oid> = BTreeSet::new();
    for d in 1..levels.len() {
        let prev = &levels[d - 1];
        for n in levels[d]
            .iter()
            .filter(|n| !n.deleted && n.policy != ANY_POLICY)
        {
            if n.parents
                .iter()
                .any(|&p| !prev[p].deleted && prev[p].policy == ANY_POLICY)
            {
                node_set.insert(n.policy.clone());
            }
        }
    }
    let leaf_any = levels
        .last()
        .is_some_and(|l| l.iter().any(|n| !n.deleted && n.policy == ANY_POLICY));
    let mut out: Vec<Oid> = if any_initial {
        let mut v: Vec<Oid> = node_set.iter().cloned().collect();
        if leaf_any {
            v.push(any_policy());
        }
        v
    } else {
        let mut v: Vec<Oid> = node_set
            .iter()
            .filter(|p| initial.contains(p))
            .cloned()
            .collect();
        if leaf_any {
            v.extend(
                initial
                    .iter()
                    .filter(|p| **p != ANY_POLICY && !node_set.contains(*p))
                    .cloned(),
            );
        }
        v
    };
    out.sort();
    out.dedup();
    out
}

/// Deletes, level by level from the bottom, nodes without live children (RFC 9618 §4.3).
fn prune(levels: &mut [Vec<Node>]) {
    for d in (1..levels.len()).rev() {
        let (upper, lower) = levels.split_at_mut(d);
        let parent_level = &mut upper[d - 1];
        let mut has_child = vec![false; parent_level.len()];
        for n in lower[0].iter().filter(|n| !n.deleted) {
            for &p in &n.parents {
                if let Some(h) = has_child.get_mut(p) {
                    *h = true;
                }
            }
        }
        for (n, h) in parent_level.iter_mut().zip(has_child) {
            if !h {
                n.deleted = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkits(name: &str) -> Cert {
        let p = format!(
            "{}/../../shared/conformance/pkits/certs/{name}.crt",
            env!("CARGO_MANIFEST_DIR")
        );
        let der = std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"));
        Cert::parse(&der).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    fn oid(s: &str) -> Oid {
        s.parse().expect("oid")
    }

    /// PKITS 4.10.1: the CA maps NIST-test-policy-1 to -2 and the EE asserts -2; the output
    /// is in the trust anchor's domain (policy 1). With mapping inhibited nothing is valid.
    fn run(mapping_inhibit: bool) -> Result<Vec<Oid>, PathError> {
        let ca = pkits("Mapping1to2CACert");
        let ee = pkits("ValidPolicyMappingTest1EE");
        let mut st = PolicyState::new(2, true, false, mapping_inhibit);
        st.process_cert(&ca, 1, 2)?;
        st.prepare_next(&ca)?;
        st.process_cert(&ee, 2, 2)?;
        st.finish(&ee, &[])
    }

    #[test]
    fn mapping_reports_the_anchor_domain() {
        assert_eq!(run(false), Ok(vec![oid("2.16.840.1.101.3.2.1.48.1")]));
        assert!(matches!(run(true), Err(PathError::PolicyRequired { .. })));
    }

    /// Three certificates through `PolicyState`, default inputs.
    fn run3(ca: &Cert, ee: &Cert) -> Result<Vec<Oid>, PathError> {
        let mut st = PolicyState::new(2, false, false, false);
        st.process_cert(ca, 1, 2)?;
        st.prepare_next(ca)?;
        st.process_cert(ee, 2, 2)?;
        st.finish(ee, &[])
    }

    #[test]
    fn missing_policies_nullify_the_graph() {
        let ee = pkits("ValidCertificatePathTest1EE");
        let none = pkits("NoPoliciesCACert");
        assert!(none.policies.is_none());
        // Not required by default: valid with an empty user-constrained-policy-set.
        assert_eq!(run3(&none, &ee), Ok(vec![]));
        assert_eq!(
            run3(&pkits("GoodCACert"), &ee),
            Ok(vec![oid("2.16.840.1.101.3.2.1.48.1")])
        );
    }
}
