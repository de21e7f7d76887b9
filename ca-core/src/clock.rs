//! Where the CA's notion of "now" comes from: an injectable [`Clock`]. [`Authority`] reads
//! the time only through its clock (issuance notBefore, revocation times, CRL thisUpdate,
//! request dates, officer certificate checks), so a test can fix it with [`FixedClock`]; the
//! default is [`SystemClock`].
//!
//! [`Authority`]: crate::Authority

use std::sync::Arc;

use time::OffsetDateTime;

/// A source of the current time, in whole seconds (certificates and CRLs carry seconds).
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time, whole seconds, UTC.
    fn now(&self) -> OffsetDateTime;

    /// The current time as Unix seconds.
    fn unix(&self) -> i64 {
        self.now().unix_timestamp()
    }
}

/// The operating system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        now.replace_nanosecond(0).unwrap_or(now)
    }
}

/// A clock that always says the same time (for tests and reproducible runs).
#[derive(Clone, Copy, Debug)]
pub struct FixedClock(OffsetDateTime);

impl FixedClock {
    /// A clock stopped at `at` (cut to whole seconds).
    pub fn at(at: OffsetDateTime) -> FixedClock {
        FixedClock(at.replace_nanosecond(0).unwrap_or(at))
    }

    /// A clock stopped at Unix time `secs`; `None` outside the representable range.
    pub fn at_unix(secs: i64) -> Option<FixedClock> {
        OffsetDateTime::from_unix_timestamp(secs)
            .ok()
            .map(FixedClock)
    }
}

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        self.0
    }
}

/// The default clock, shared.
pub fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_stands_still_and_system_clock_moves_in_seconds() {
        let c = FixedClock::at_unix(1_700_000_000).expect("in range");
        assert_eq!(c.unix(), 1_700_000_000);
        assert_eq!(c.now(), c.now());
        assert!(FixedClock::at_unix(i64::MAX).is_none());
        let s = SystemClock.now();
        assert_eq!(s.nanosecond(), 0);
        assert!(s.unix_timestamp() > 1_700_000_000);
    }
}
