//! What a directory (LDAP) repository holds for each CA, by RFC 4523: the CA certificate
//! (`cACertificate`, §2.2), its CRLs (`certificateRevocationList`, §2.3, and
//! `authorityRevocationList`, §2.4) and its cross-certificate pairs (`crossCertificatePair`,
//! §2.5, with the CertificatePair syntax of §2.3.1 / X.509 §11.2.3). The directory client lives
//! in `lgpki publish --ldap`; this module only decides the values.
//!
//! # CRLs
//! A CA that issues end-entity certificates publishes its full CRL in both attributes: a
//! complete CRL (no onlyContains… scope, RFC 5280 §5.2.5) lists revoked CA certificates too,
//! so it is also its authority revocation list. A CA of CAs publishes its ARL
//! (onlyContainsCACerts) in both: everything it issued is a CA certificate, so the ARL is the
//! complete list of what it revoked.
//!
//! A CRL the directory already holds is kept (so an unchanged entry is not rewritten) while
//! it is still current: it parses, is signed by the CA's key for the CA's name, is younger
//! than the refresh interval of `HOME/lgpki.toml`, and lists exactly the serials the store
//! has revoked for that CA. Otherwise a new one is signed.
//!
//! # Key generations
//! After `ca renew`, the old key keeps signing CRLs and ARLs for what it issued while it
//! publishes ([`Authority::list_generations`]). Its CA has the same subject, so the same
//! directory entry; RFC 4523 §2.3-2.4 define both revocation-list attributes without
//! SINGLE-VALUE, so each retired generation's lists are further values of them, next to the
//! key in force's. A relying party picks the one its certificate's issuer key signed (its
//! authorityKeyIdentifier; RFC 5280 §6.3.3 (f)), as from the HTTP distribution points. Each
//! is kept while current for its own key, as above.

use std::collections::BTreeSet;

use der::{Decode, Encode};

use crate::authority::Authority;
use crate::crl::ParsedCrl;
use crate::derw;
use crate::error::{Error, Result};

/// One CA's directory entry as lgpki would write it now.
#[derive(Clone, Debug)]
pub struct RepositoryEntry {
    /// The CA's name in the store.
    pub name: String,
    /// Its certificate, DER (`cACertificate;binary`).
    pub cert_der: Vec<u8>,
    /// The CRL for both revocation-list attributes, DER (see the module documentation).
    pub crl_der: Vec<u8>,
    /// The authority revocation list (`authorityRevocationList;binary`), DER: `crl_der` for
    /// a CA of CAs, else the CA's ARL (onlyContainsCACerts).
    pub arl_der: Vec<u8>,
    /// Whether `crl_der` is an ARL (onlyContainsCACerts).
    pub is_arl: bool,
    /// Whether `crl_der` is the one the directory held (still current), not a new one.
    pub crl_kept: bool,
    /// `crossCertificatePair;binary` values, DER CertificatePair each.
    pub cross_pairs: Vec<Vec<u8>>,
    /// The CRL of each retired key generation that still publishes ([`crate::dist`]), signed
    /// by that generation's key, by generation: further `certificateRevocationList` values.
    pub retired_crls: Vec<(u32, Vec<u8>)>,
    /// Likewise their ARLs: further `authorityRevocationList` values.
    pub retired_arls: Vec<(u32, Vec<u8>)>,
}

/// One key generation's lists for a directory entry.
struct GenerationLists {
    crl: Vec<u8>,
    crl_kept: bool,
    arl: Vec<u8>,
}

/// Encodes a CertificatePair (RFC 4523 §2.3.1; X.509 §11.2.3):
/// `SEQUENCE { forward [0] Certificate OPTIONAL, reverse [1] Certificate OPTIONAL }`, explicit
/// tags (the X.509 module's default). `forward` is a certificate issued *to* the entry's CA,
/// `reverse` one issued *by* it. At least one must be present.
pub fn certificate_pair(forward: Option<&[u8]>, reverse: Option<&[u8]>) -> Result<Vec<u8>> {
    if forward.is_none() && reverse.is_none() {
        return Err(Error::malformed(
            "certificate pair",
            "at least one of the pair shall be present",
        ));
    }
    let mut content = Vec::new();
    if let Some(f) = forward {
        derw::push_tlv(&mut content, 0xa0, f);
    }
    if let Some(r) = reverse {
        derw::push_tlv(&mut content, 0xa1, r);
    }
    Ok(derw::tlv(0x30, &content))
}

struct CertNames {
    subject: Vec<u8>,
    spki: Vec<u8>,
}

fn names_of(der_bytes: &[u8]) -> Result<CertNames> {
    let cert = x509_cert::Certificate::from_der(der_bytes)
        .map_err(|e| Error::malformed("certificate", e))?;
    let tbs = cert.tbs_certificate();
    Ok(CertNames {
        subject: tbs.subject().to_der().map_err(Error::encode("subject"))?,
        spki: tbs
            .subject_public_key_info()
            .to_der()
            .map_err(Error::encode("public key"))?,
    })
}

impl Authority {
    /// The directory entry of every CA. `held_crls(name)` and `held_arls(name)` give the CRLs
    /// and ARLs the directory holds now for that CA (every value of the attribute); each is
    /// kept while still current (module documentation).
    pub fn repository_entries(
        &mut self,
        held_crls: &mut dyn FnMut(&str) -> Vec<Vec<u8>>,
        held_arls: &mut dyn FnMut(&str) -> Vec<Vec<u8>>,
    ) -> Result<Vec<RepositoryEntry>> {
        let settings = crate::config::Settings::load(self.home())?;
        let mut out = Vec::new();
        for rec in self.cas()? {
            let is_arl = rec.profiles.is_empty();
            let held_crl = held_crls(&rec.name);
            let held_arl = held_arls(&rec.name);
            let lists =
                self.generation_lists(&rec, None, &rec.cert_der, &held_crl, &held_arl, &settings)?;
            // Each retired key generation that still publishes (crate::dist): its own lists,
            // signed by its key, as further values of the same attributes (module docs).
            let freshness = if is_arl { settings.arl } else { settings.crl };
            let mut retired_crls = Vec::new();
            let mut retired_arls = Vec::new();
            let publishing = self.list_generations(&rec.name, freshness.validity)?;
            for g in self.store.ca_generations(&rec.name)? {
                if g.generation == rec.generation || !publishing.contains(&g.generation) {
                    continue;
                }
                let old = self.generation_lists(
                    &rec,
                    Some(g.generation),
                    &g.cert_der,
                    &held_crl,
                    &held_arl,
                    &settings,
                )?;
                retired_crls.push((g.generation, old.crl));
                retired_arls.push((g.generation, old.arl));
            }
            // Cross pairs as stored (RFC 4523 §2.5): forward = issuedToThisCA, reverse =
            // issuedByThisCA.
            let pairs = self
                .store
                .cross_pairs(Some(&rec.name))?
                .iter()
                .map(|p| {
                    certificate_pair(
                        p.issued_to_this_ca.as_deref(),
                        p.issued_by_this_ca.as_deref(),
                    )
                })
                .collect::<Result<Vec<_>>>()?;
            out.push(RepositoryEntry {
                name: rec.name.clone(),
                cert_der: rec.cert_der.clone(),
                crl_der: lists.crl,
                arl_der: lists.arl,
                is_arl,
                crl_kept: lists.crl_kept,
                cross_pairs: pairs,
                retired_crls,
                retired_arls,
            });
        }
        Ok(out)
    }

    /// The CRL and ARL of one key generation of `rec` (`generation` None: the key in force),
    /// whose certificate is `cert_der`: a held one that is still current for that key, else a
    /// new one signed by that key.
    fn generation_lists(
        &mut self,
        rec: &crate::store::CaRecord,
        generation: Option<u32>,
        cert_der: &[u8],
        held_crl: &[Vec<u8>],
        held_arl: &[Vec<u8>],
        settings: &crate::config::Settings,
    ) -> Result<GenerationLists> {
        let me = names_of(cert_der)?;
        let is_arl = rec.profiles.is_empty();
        let freshness = if is_arl { settings.arl } else { settings.crl };
        let kept = held_crl
            .iter()
            .find(|held| {
                self.crl_still_current(&rec.name, &me, held, freshness.effective_refresh(), is_arl)
                    .unwrap_or(false)
            })
            .cloned();
        let (crl, crl_kept) = match kept {
            Some(c) => (c, true),
            None => (
                self.sign_crl_by_generation(
                    &rec.name,
                    generation,
                    false,
                    Some(freshness.validity),
                )?
                .der,
                false,
            ),
        };
        // The ARL (RFC 4523 §2.4): the CRL itself when that is an ARL or complete, else
        // (a CA that also issues end-entity certificates, whose CRL may be scoped to them)
        // its own ARL.
        let arl = if is_arl {
            crl.clone()
        } else {
            let held = held_arl
                .iter()
                .find(|held| {
                    self.crl_still_current(
                        &rec.name,
                        &me,
                        held,
                        settings.arl.effective_refresh(),
                        true,
                    )
                    .unwrap_or(false)
                })
                .cloned();
            match held {
                Some(a) => a,
                None => {
                    self.sign_arl_by_generation(&rec.name, generation, Some(settings.arl.validity))?
                        .der
                }
            }
        };
        Ok(GenerationLists { crl, crl_kept, arl })
    }

    /// Whether `held` is a CRL of the CA `name` that may stay in the directory: signed by the
    /// CA's key for its name, not a delta, younger than `refresh`, and listing exactly the
    /// serials the store has revoked for this CA.
    fn crl_still_current(
        &self,
        name: &str,
        ca: &CertNames,
        held: &[u8],
        refresh: time::Duration,
        arl: bool,
    ) -> Result<bool> {
        let Ok(crl) = ParsedCrl::parse(held) else {
            return Ok(false);
        };
        let spki = crate::key::parse_spki(&ca.spki)?;
        if crl.issuer_der != ca.subject
            || crl.is_delta()
            || !crl.usable_for_status()
            || crl.verify_signature(&spki).is_err()
        {
            return Ok(false);
        }
        let now = self.now();
        if now >= crl.this_update + refresh || crl.next_update.is_none_or(|n| now >= n) {
            return Ok(false);
        }
        // An ARL must still be one (its scope, RFC 5280 §5.2.5) and list exactly the revoked
        // CA certificates.
        let scoped_to_cas = crl
            .issuing_distribution_point
            .as_ref()
            .is_some_and(|idp| idp.only_contains_ca_certs);
        if arl && !scoped_to_cas {
            return Ok(false);
        }
        let mut revoked = BTreeSet::new();
        self.store.for_each_revoked(name, None, &mut |e| {
            if !scoped_to_cas || e.is_ca {
                revoked.insert(derw::uint_content(&magnitude(e.serial)?));
            }
            Ok(())
        })?;
        let listed: BTreeSet<Vec<u8>> = crl
            .entries
            .iter()
            .map(|e| derw::uint_content(&e.serial))
            .collect();
        Ok(listed == revoked)
    }
}

fn magnitude(serial_hex: &str) -> Result<Vec<u8>> {
    let b = hex::decode(serial_hex).map_err(|e| Error::malformed("stored serial", e))?;
    Ok(match b.as_slice() {
        [0, rest @ ..] if !rest.is_empty() => rest.to_vec(),
        s => s.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_pair_encodes_explicit_tags() {
        let cert = [0x30, 0x00];
        assert_eq!(
            certificate_pair(Some(&cert), None).ok(),
            Some(vec![0x30, 0x04, 0xa0, 0x02, 0x30, 0x00])
        );
        assert_eq!(
            certificate_pair(Some(&cert), Some(&cert)).ok(),
            Some(vec![
                0x30, 0x08, 0xa0, 0x02, 0x30, 0x00, 0xa1, 0x02, 0x30, 0x00
            ])
        );
        assert!(certificate_pair(None, None).is_err());
    }
}
