//! Time as an input: the [`Clock`] port, whole-second [`Timestamp`]s and [`Duration`]s,
//! and microsecond [`Moment`]s for ordering events closer than a second.
//!
//! Every expiry decision takes `now` from a clock handed in at start-up. The
//! only place that reads the system time is [`SystemClock`].

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};

use serde::{Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A point in time, whole seconds since the Unix epoch, UTC.
///
/// Whole seconds keep stored and served times identical across backends; no
/// expiry rule in Tessera needs finer resolution.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// A span of time in whole seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(i64);

impl Duration {
    /// A duration of `seconds` seconds (negative values are clamped to zero).
    pub const fn seconds(seconds: i64) -> Self {
        Self(if seconds < 0 { 0 } else { seconds })
    }

    /// The duration in seconds.
    pub const fn as_secs(self) -> i64 {
        self.0
    }
}

impl Timestamp {
    /// The timestamp `secs` seconds after the Unix epoch.
    pub const fn from_unix(secs: i64) -> Self {
        Self(secs)
    }

    /// Seconds since the Unix epoch.
    pub const fn unix(self) -> i64 {
        self.0
    }

    /// This time plus `d`, saturating.
    pub const fn plus(self, d: Duration) -> Self {
        Self(self.0.saturating_add(d.0))
    }

    /// This time minus `d`, saturating.
    pub const fn minus(self, d: Duration) -> Self {
        Self(self.0.saturating_sub(d.0))
    }

    /// The RFC 3339 UTC form, e.g. `2026-11-25T06:33:00Z`.
    pub fn to_rfc3339(self) -> String {
        OffsetDateTime::from_unix_timestamp(self.0)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

/// A point in time in microseconds since the Unix epoch, UTC.
///
/// Only for ordering events closer than a second, such as a refresh
/// request's arrival against the commit of the rotation that consumed its
/// token; expiry rules keep using [`Timestamp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Moment(i64);

impl Moment {
    /// The moment `micros` microseconds after the Unix epoch.
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// Microseconds since the Unix epoch.
    pub const fn micros(self) -> i64 {
        self.0
    }

    /// The start of the second `t`.
    pub const fn from_timestamp(t: Timestamp) -> Self {
        Self(t.0.saturating_mul(1_000_000))
    }
}

/// The source of the current time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> Timestamp;

    /// The current time to the microsecond. By default the start of
    /// [`Self::now`]'s second: a clock that stands still (a test's) gives
    /// equal moments to everything that happens while it stands.
    fn moment(&self) -> Moment {
        Moment::from_timestamp(self.now())
    }
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "this is the one place that reads the system time"
    )]
    fn now(&self) -> Timestamp {
        Timestamp(OffsetDateTime::now_utc().unix_timestamp())
    }

    #[allow(
        clippy::disallowed_methods,
        reason = "this is the one place that reads the system time"
    )]
    fn moment(&self) -> Moment {
        let micros = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000;
        Moment(i64::try_from(micros).unwrap_or(i64::MAX))
    }
}

/// A clock that only moves when told to: for tests and simulations.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self(AtomicI64::new(start.0))
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        self.0.fetch_add(d.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_rfc3339_is_utc_with_z() {
        assert_eq!(Timestamp::from_unix(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp::from_unix(1_795_000_000).to_rfc3339(), "2026-11-18T11:06:40Z");
    }

    #[test]
    fn manual_clock_advance_moves_now() {
        let c = ManualClock::new(Timestamp::from_unix(100));
        c.advance(Duration::seconds(5));
        assert_eq!(c.now(), Timestamp::from_unix(105));
    }

    #[test]
    fn duration_negative_clamps_to_zero() {
        assert_eq!(Duration::seconds(-3).as_secs(), 0);
    }
}
