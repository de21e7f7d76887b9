//! The time-stamping authority of `serve` (`POST /tsa`, RFC 3161): the TSA certificate kept in
//! HOME/tsa (profile `timestamping`, issued by the CA bound to it), the policy OID of the
//! `timestamping` class, the accuracy of `HOME/lgpki.toml`, and every serial number recorded
//! in the store before its token is signed.

use std::sync::Arc;

use ca_core::Authority;
use ca_core::tsp::{self, FailureInfo, Rejection, Tsa, TsaPolicy};
use ca_core::tsp_log::{TimestampLog, TimestampRecord, TimestampStore};
use ring::rand::SecureRandom;

use crate::output::CliError;

/// How many serials to draw before giving up, should the store already hold each (with 128
/// random bits, only a broken random generator gets here).
const SERIAL_TRIES: usize = 4;

/// `serve`'s [`ca_http::TimeStamper`].
pub struct ServeTimeStamper {
    tsa: Tsa,
    log: TimestampLog,
    rng: ring::rand::SystemRandom,
}

impl ServeTimeStamper {
    /// The TSA over the certificate kept in HOME/tsa (issued now when missing or near its
    /// end), recording serials through a writer thread over `store`.
    pub fn obtain(
        authority: &mut Authority,
        store: Box<dyn TimestampStore>,
        accuracy: time::Duration,
    ) -> Result<ServeTimeStamper, CliError> {
        let kept = crate::serve_certs::tsa().obtain(authority)?;
        let data = ca_core::input::read_limited(&kept.chain, ca_core::input::MAX_INPUT_FILE)?;
        let mut chain = ca_core::input::der_blocks(&data, &["CERTIFICATE"], "TSA certificate")?;
        let kdata = ca_core::input::read_limited(&kept.key, 1 << 20)?;
        let key = ca_core::input::der_blocks(&kdata, &["PRIVATE KEY"], "TSA key")?.remove(0);
        let signer = ca_core::SoftwareSigner::from_pkcs8(&key, "TSA key")?;
        let cert = chain.remove(0);
        let policy = authority.policies().profile("timestamping")?.policy()?;
        let accuracy = u32::try_from(accuracy.whole_seconds()).map_err(|_| {
            CliError::Usage("[tsa] accuracy: too long for a time-stamp token".into())
        })?;
        let tsa = Tsa::new(
            Arc::new(signer),
            cert,
            chain,
            TsaPolicy { policy },
            accuracy,
        )?;
        tracing::info!(
            issued = kept.issued,
            chain = %kept.chain.display(),
            policy = %policy,
            accuracy_seconds = accuracy,
            "TSA certificate"
        );
        Ok(ServeTimeStamper {
            tsa,
            log: TimestampLog::start(store)?,
            rng: ring::rand::SystemRandom::new(),
        })
    }

    fn answer(&self, der: &[u8]) -> Result<Vec<u8>, Rejection> {
        let req = tsp::parse_request(der, self.tsa.policy())?;
        let system = |what: &str| Rejection {
            fail: FailureInfo::SystemFailure,
            reason: format!("the TSA could not {what}"),
        };
        let now = time::OffsetDateTime::now_utc();
        let imprint = hex::encode(req.request.message_imprint.hashed_message.as_bytes());
        for _ in 0..SERIAL_TRIES {
            let mut serial = [0u8; tsp::SERIAL_OCTETS];
            self.rng
                .fill(&mut serial)
                .map_err(|_| system("draw a serial number"))?;
            let serial_hex = ca_core::serial_hex(&serial);
            let record = TimestampRecord {
                serial: serial_hex.clone(),
                gen_time: now.unix_timestamp(),
                policy: self.tsa.policy().policy.to_string(),
                hash_alg: req.digest.name().into(),
                imprint: imprint.clone(),
            };
            match self.log.record(record) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::error!(target: "lgpki::tsa", error = %e, "recording a time-stamp");
                    return Err(system("record the time-stamp"));
                }
            }
            let granted = self.tsa.grant(&req, &serial, now).map_err(|e| {
                tracing::error!(target: "lgpki::tsa", error = %e, "signing a time-stamp");
                system("sign the time-stamp")
            })?;
            tracing::info!(
                target: "lgpki::tsa",
                serial = %serial_hex,
                hash = req.digest.name(),
                gen_time = now.unix_timestamp(),
                "time-stamp granted"
            );
            return Ok(granted.der);
        }
        Err(system("draw an unused serial number"))
    }
}

impl ca_http::TimeStamper for ServeTimeStamper {
    fn stamp(&self, request_der: &[u8]) -> Vec<u8> {
        match self.answer(request_der) {
            Ok(der) => der,
            Err(r) => {
                tracing::info!(
                    target: "lgpki::tsa",
                    fail_info = r.fail.name(),
                    reason = %r.reason,
                    "time-stamp refused"
                );
                r.to_der()
            }
        }
    }
}
