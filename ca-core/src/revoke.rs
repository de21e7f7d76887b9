//! Revocation and CRLs on top of the store: `revoke`, `status`, and signed full and delta CRLs
//! (RFC 5280 §5) for each CA.

use std::str::FromStr;

use der::{Decode, Encode};
use time::{Duration, OffsetDateTime};

use crate::authority::Authority;
use crate::crl::{CrlEntry, CrlNumber, CrlParams, CrlWriter, IssuingDistributionPoint, ReasonCode};
use crate::dist::ListPoint;
use crate::error::{Error, Result};
use crate::serial::Serial;
use crate::store::{CaRecord, CertRecord, RevocationRequest, RevokeOutcome};

/// How long a full CRL is valid: nextUpdate = thisUpdate + 7 days. A relying party that cannot
/// fetch a new CRL keeps a week's grace; the center republishes far more often.
pub const FULL_CRL_VALIDITY: Duration = Duration::days(7);
/// How long a delta CRL is valid (RFC 5280 §5.2.4: deltas are issued more often).
pub const DELTA_CRL_VALIDITY: Duration = Duration::days(1);

/// A revocation as the CLI asks for it.
#[derive(Clone, Debug)]
pub struct Revocation {
    /// Serial, hex as typed.
    pub serial: String,
    /// RFC 5280 reason name.
    pub reason: String,
    /// The issuing CA, if given.
    pub ca: Option<String>,
    /// invalidityDate (RFC 5280 §5.3.2).
    pub invalidity_date: Option<OffsetDateTime>,
}

/// The status of one certificate.
#[derive(Clone, Debug)]
pub enum RevocationStatus {
    /// Issued here and not revoked.
    Good(CertRecord),
    /// Revoked.
    Revoked(CertRecord),
    /// Not issued by this CA (or by any, without `--ca`).
    Unknown,
}

/// A freshly signed CRL.
#[derive(Clone, Debug)]
pub struct SignedCrl {
    /// The CRL, DER.
    pub der: Vec<u8>,
    /// Its CRL number.
    pub number: u64,
    /// How many revokedCertificates entries it lists.
    pub entries: u64,
}

impl Authority {
    /// Revokes certificates in one durable transaction; each gets its own outcome. A bad reason
    /// or serial fails that entry only.
    pub fn revoke(&mut self, revocations: &[Revocation]) -> Result<Vec<Result<RevokeOutcome>>> {
        let now = self.now().unix_timestamp();
        let mut checked: Vec<Result<RevocationRequest>> = Vec::with_capacity(revocations.len());
        for r in revocations {
            checked.push(self.check_revocation(r, now));
        }
        let valid: Vec<RevocationRequest> = checked
            .iter()
            .filter_map(|c| c.as_ref().ok().cloned())
            .collect();
        let mut stored = self.store.revoke(&self.actor, &valid)?.into_iter();
        Ok(checked
            .into_iter()
            .map(|c| match c {
                Ok(_) => stored.next().unwrap_or_else(|| {
                    Err(Error::PolicyRefused {
                        detail: "not revoked".into(),
                    })
                }),
                Err(e) => Err(e),
            })
            .collect())
    }

    fn check_revocation(&self, r: &Revocation, now: i64) -> Result<RevocationRequest> {
        let reason = ReasonCode::from_str(&r.reason)?;
        if reason == ReasonCode::RemoveFromCrl {
            return Err(Error::InvalidArgument {
                name: "--reason",
                value: r.reason.clone(),
                reason:
                    "removeFromCRL is not a revocation reason (RFC 5280 §5.3.1: delta CRLs only)"
                        .into(),
            });
        }
        if let Some(ca) = &r.ca {
            self.ca_record(ca)?;
        }
        let invalidity = r.invalidity_date.map(|t| t.unix_timestamp());
        if invalidity.is_some_and(|t| t > now) {
            return Err(Error::InvalidArgument {
                name: "--invalidity-date",
                value: r.invalidity_date.map(|t| t.to_string()).unwrap_or_default(),
                reason: "is in the future".into(),
            });
        }
        Ok(RevocationRequest {
            serial: r.serial.parse()?,
            ca: r.ca.clone(),
            reason,
            time: now,
            invalidity_date: invalidity,
        })
    }

    /// The status of a serial (hex), optionally at one CA.
    pub fn status(&self, serial: &str, ca: Option<&str>) -> Result<RevocationStatus> {
        if let Some(c) = ca {
            self.ca_record(c)?;
        }
        let hex: Serial = serial.parse()?;
        Ok(match self.store.cert(&hex, ca)? {
            Some(rec) if rec.revoked_at.is_some() => RevocationStatus::Revoked(rec),
            Some(rec) => RevocationStatus::Good(rec),
            None => RevocationStatus::Unknown,
        })
    }

    /// Signs a fresh CRL for `ca`: a full CRL, or with `delta` a delta CRL against the newest
    /// full one (RFC 5280 §5.2.4). The CRL number is allocated durably before signing, so
    /// numbers never go backwards or repeat. A CA that issues only CA certificates (no profiles
    /// bound) gets an ARL: its issuingDistributionPoint says onlyContainsCACerts.
    pub fn crl(&mut self, ca_name: &str, delta: bool) -> Result<Vec<u8>> {
        self.sign_crl(ca_name, delta).map(|c| c.der)
    }

    /// [`Authority::crl`], also telling the CRL number and how many entries it lists (so a
    /// caller need not parse a CRL of a million entries again to say so).
    ///
    /// The entries are read and encoded while the CA key loads on another thread; the CRL
    /// number is allocated (durably, with its audit record) once the key is ready, just
    /// before signing.
    pub fn sign_crl(&mut self, ca_name: &str, delta: bool) -> Result<SignedCrl> {
        self.sign_crl_valid_for(ca_name, delta, None)
    }

    /// [`Authority::sign_crl`] with nextUpdate = thisUpdate + `validity` (`None`: the default
    /// [`FULL_CRL_VALIDITY`] or [`DELTA_CRL_VALIDITY`]); `serve` uses the validity that
    /// `HOME/lgpki.toml` sets.
    pub fn sign_crl_valid_for(
        &mut self,
        ca_name: &str,
        delta: bool,
        validity: Option<Duration>,
    ) -> Result<SignedCrl> {
        self.sign_scoped(ca_name, None, delta, validity, false)
    }

    /// CA `ca_name`'s authority revocation list (ARL): the revoked CA certificates it issued
    /// (its subordinate CAs', cross- and link certificates), with an issuingDistributionPoint
    /// saying onlyContainsCACerts (RFC 5280 §5.2.5). For a CA of CAs this is its full CRL; a
    /// CA that also issues end-entity certificates numbers its ARLs in a sequence of their
    /// own (a CRL number is unique within one scope, RFC 5280 §5.2.3), recorded under
    /// `NAME/arl`. nextUpdate = thisUpdate + `validity` (`None`: [`FULL_CRL_VALIDITY`]).
    pub fn sign_arl_valid_for(
        &mut self,
        ca_name: &str,
        validity: Option<Duration>,
    ) -> Result<SignedCrl> {
        self.sign_scoped(ca_name, None, false, validity, true)
    }

    /// [`Authority::sign_arl_valid_for`] with the default validity.
    pub fn sign_arl(&mut self, ca_name: &str) -> Result<SignedCrl> {
        self.sign_arl_valid_for(ca_name, None)
    }

    /// [`Authority::sign_arl_valid_for`] signed by generation `generation` of the CA's keys
    /// (`None`: the one in force), for as long as that generation publishes
    /// ([`Authority::list_generations`]).
    pub fn sign_arl_by_generation(
        &mut self,
        ca_name: &str,
        generation: Option<u32>,
        validity: Option<Duration>,
    ) -> Result<SignedCrl> {
        self.sign_scoped(ca_name, generation, false, validity, true)
    }

    /// Signs a CRL (`arl`: an ARL) of CA `ca_name` with generation `generation`'s key (`None`
    /// or the one in force: the current key).
    fn sign_scoped(
        &mut self,
        ca_name: &str,
        generation: Option<u32>,
        delta: bool,
        validity: Option<Duration>,
        arl: bool,
    ) -> Result<SignedCrl> {
        let record = self.ca_record(ca_name)?;
        let arl_only = arl && !record.profiles.is_empty();
        let retired = generation.filter(|g| *g != record.generation);
        let (ca, (mut writer, covers, delta_base)) = match retired {
            None => self.load_ca_during(ca_name, |this, record| {
                this.crl_entries(record, delta, validity, arl)
            })?,
            Some(g) => {
                let keep = validity.unwrap_or(if delta {
                    DELTA_CRL_VALIDITY
                } else {
                    FULL_CRL_VALIDITY
                });
                if !self.list_generations(ca_name, keep)?.contains(&g) {
                    // An unknown generation is named as such by load_generation.
                    self.load_generation(ca_name, Some(g))?;
                    return Err(Error::PolicyRefused {
                        detail: format!(
                            "generation {g} of CA {ca_name:?} signed nothing that is still valid: it signs no more CRLs"
                        ),
                    });
                }
                let ca = self.load_generation(ca_name, Some(g))?;
                let entries = self.crl_entries(&ca.record, delta, validity, arl)?;
                (ca, entries)
            }
        };
        // One CRL number sequence per CA name (and one for the ARLs of a CA that also has
        // CRLs), across its key generations: numbers only grow (RFC 5280 §5.2.3).
        let sequence = if arl_only {
            format!("{ca_name}/arl")
        } else {
            ca_name.to_string()
        };
        let number = self.store.record_crl_for(
            &self.actor,
            &sequence,
            Some(ca.record.generation),
            covers,
            delta_base,
        )?;
        writer.set_crl_number(CrlNumber::from(number))?;
        let entries = writer.len();
        Ok(SignedCrl {
            der: writer.finish(ca.signer.as_ref())?,
            number,
            entries,
        })
    }

    /// [`Authority::sign_crl_valid_for`] signed by generation `generation` of the CA's keys
    /// (`None`: the one in force). A retired generation keeps signing CRLs, with its own
    /// issuer key identifier (RFC 5280 §5.2.1) and its own distribution point, for as long as
    /// it publishes ([`Authority::list_generations`]). Certificates of one issuer name have
    /// unique serials (RFC 5280 §4.1.2.2), so every generation's CRL lists every revoked
    /// certificate of the CA: a superset of its scope, never a gap.
    pub fn sign_crl_by_generation(
        &mut self,
        ca_name: &str,
        generation: Option<u32>,
        delta: bool,
        validity: Option<Duration>,
    ) -> Result<SignedCrl> {
        self.sign_scoped(ca_name, generation, delta, validity, false)
    }

    /// Whether CA `ca_name` has revoked an end-entity certificate.
    fn revoked_end_entity(&self, ca_name: &str) -> Result<bool> {
        let mut any = false;
        self.store.for_each_revoked(ca_name, None, &mut |e| {
            any |= !e.is_ca;
            Ok(())
        })?;
        Ok(any)
    }

    /// A CRL of `record`'s CA with every entry written but not yet numbered or signed; with
    /// the revocation sequence it covers and, for a delta CRL, its base.
    fn crl_entries(
        &mut self,
        record: &CaRecord,
        delta: bool,
        validity: Option<Duration>,
        arl: bool,
    ) -> Result<(CrlWriter, i64, Option<u64>)> {
        let ca_name = record.name.as_str();
        let base = self.base_url()?;
        let covers = self.store.revocation_seq()?;
        let (since, delta_base) = if delta {
            let (number, seq) = self
                .store
                .last_full_crl_for(ca_name, Some(record.generation))?
                .ok_or_else(|| Error::PolicyRefused {
                    detail: format!("CA {ca_name:?} has no full CRL yet to base a delta CRL on"),
                })?;
            (Some(seq), Some(number))
        } else {
            (None, None)
        };
        // The issuer fields as LoadedCa has them: subject Name and the key identifier of the
        // certificate's key (the key itself is checked against it once loaded).
        let cert = x509_cert::Certificate::from_der(&record.cert_der)
            .map_err(|e| Error::malformed("stored CA certificate", e))?;
        let tbs = cert.tbs_certificate();
        let subject_der = tbs
            .subject()
            .to_der()
            .map_err(Error::encode("CA subject"))?;
        let spki_der = tbs
            .subject_public_key_info()
            .to_der()
            .map_err(Error::encode("CA public key"))?;
        let ski = crate::build::key_identifier(&spki_der)?;
        let this_update = self.now();
        // A CA of CAs (no end-entity profiles) publishes an ARL as its CRL, unless it has
        // revoked an end-entity certificate (e.g. a delegated OCSP responder's): an ARL must
        // not list one (RFC 5280 §5.2.5), and a revocation is never left out, so its CRL is
        // then complete.
        let is_arl = arl || (record.profiles.is_empty() && !self.revoked_end_entity(ca_name)?);
        let params = CrlParams {
            issuer_name_der: subject_der,
            issuer_key_id: ski,
            // Set once allocated, before signing (sign_crl).
            crl_number: CrlNumber::from(delta_base.map_or(1, |b| b + 1)),
            this_update,
            next_update: this_update
                + validity.unwrap_or(if delta {
                    DELTA_CRL_VALIDITY
                } else {
                    FULL_CRL_VALIDITY
                }),
            // RFC 5280 §5.2.5: the scope matches the cRLDistributionPoints of what this CA issued.
            // An ARL names no distribution point, so it also covers a trust anchor without a
            // cRLDistributionPoints extension (relying parties such as OpenSSL's
            // -crl_check_all check the root against its own ARL).
            issuing_distribution_point: Some(IssuingDistributionPoint {
                full_name_uris: if is_arl {
                    Vec::new()
                } else {
                    // The distribution point this generation's certificates name.
                    vec![ListPoint::new(ca_name, record.generation).crl_url(&base)]
                },
                only_contains_user_certs: false,
                only_contains_ca_certs: is_arl,
            }),
            delta_base: delta_base.map(CrlNumber::from),
            freshest_crl_uris: Vec::new(),
        };
        let mut writer = CrlWriter::for_algorithm(params, record.key_alg.signature_algorithm(), 0)?;
        // One entry, refilled for each row: no allocation per revoked certificate.
        let mut entry = CrlEntry {
            serial: Vec::with_capacity(21),
            revocation_date: this_update,
            reason: None,
            invalidity_date: None,
        };
        let mut push = |e: &crate::store::RevokedEntry<'_>| -> Result<()> {
            decode_serial_hex(e.serial, &mut entry.serial)?;
            if let [0, rest @ ..] = entry.serial.as_slice()
                && !rest.is_empty()
            {
                entry.serial.remove(0);
            }
            entry.revocation_date = OffsetDateTime::from_unix_timestamp(e.revoked_at)
                .map_err(|err| Error::malformed("stored revocation time", err))?;
            entry.reason = Some(e.reason);
            entry.invalidity_date = e
                .invalidity_date
                .map(OffsetDateTime::from_unix_timestamp)
                .transpose()
                .map_err(|err| Error::malformed("stored invalidity date", err))?;
            writer.push(&entry)
        };
        // RFC 5280 §5.2.5: a CRL whose issuingDistributionPoint says onlyContainsCACerts lists
        // only CA certificates (and one saying onlyContainsUserCerts, none).
        let mut push = |e: &crate::store::RevokedEntry<'_>| -> Result<()> {
            if is_arl && !e.is_ca {
                return Ok(());
            }
            push(e)
        };
        self.store.for_each_revoked(ca_name, since, &mut push)?;
        Ok((writer, covers, delta_base))
    }
}

/// Decodes a stored serial (lower- or upper-case hex) into `out` (cleared first). Table-driven:
/// it runs once per entry of a CRL of a million.
fn decode_serial_hex(text: &str, out: &mut Vec<u8>) -> Result<()> {
    /// The value of each hex digit; 0xff for every other octet.
    const NIBBLE: [u8; 256] = {
        let mut t = [0xff; 256];
        let mut i = 0;
        while i < 10 {
            t[b'0' as usize + i] = i as u8;
            i += 1;
        }
        let mut i = 0;
        while i < 6 {
            t[b'a' as usize + i] = 10 + i as u8;
            t[b'A' as usize + i] = 10 + i as u8;
            i += 1;
        }
        t
    };
    out.clear();
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return Err(Error::malformed(
            "stored serial",
            "odd number of hex digits",
        ));
    }
    let mut bad = 0u8;
    out.extend(bytes.chunks_exact(2).map(|pair| {
        let (h, l) = (NIBBLE[pair[0] as usize], NIBBLE[pair[1] as usize]);
        bad |= (h | l) & 0xf0;
        h << 4 | l
    }));
    if bad != 0 {
        return Err(Error::malformed("stored serial", "not hex"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::decode_serial_hex;

    #[test]
    fn stored_serials_decode_and_bad_ones_are_refused() {
        let mut out = Vec::new();
        decode_serial_hex("00ff10aB9c", &mut out).expect("hex");
        assert_eq!(out, [0x00, 0xff, 0x10, 0xab, 0x9c]);
        decode_serial_hex("", &mut out).expect("empty");
        assert!(out.is_empty(), "cleared first");
        for bad in ["abc", "0g", "g0", "0 ", "é0", "+1", "0x"] {
            assert!(decode_serial_hex(bad, &mut out).is_err(), "{bad:?}");
        }
    }
}
