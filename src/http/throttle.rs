//! Limits on guessing: each client address may fail a limited number of
//! code lookups (invites, visit links, API keys) per window. A client over
//! the limit gets 429 with `Retry-After` for every code lookup — right or
//! wrong — until its oldest failure leaves the window.
//!
//! 128-bit codes cannot be found by guessing anyway; the limit keeps
//! scanners from hammering the database and makes them visible in the
//! request log as 429s.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};

/// Failed lookups allowed per address within [`WINDOW`]. A family that
/// mistypes a link a few times stays far below it.
pub const MAX_FAILURES: usize = 20;
/// How long a failure counts.
pub const WINDOW: SignedDuration = SignedDuration::from_mins(15);
/// Addresses tracked at most; beyond it the stalest are forgotten first.
const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<HashMap<IpAddr, VecDeque<Timestamp>>>,
}

impl Throttle {
    /// `Err(seconds to wait)` when `addr` is over the limit at `now`.
    pub fn check(&self, addr: IpAddr, now: Timestamp) -> Result<(), u64> {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let Some(times) = map.get_mut(&addr) else {
            return Ok(());
        };
        while times.front().is_some_and(|t| *t + WINDOW <= now) {
            times.pop_front();
        }
        if times.len() < MAX_FAILURES {
            return Ok(());
        }
        let free_at = times[times.len() - MAX_FAILURES] + WINDOW;
        Err(free_at.duration_since(now).as_secs().max(1) as u64)
    }

    /// Records a failed lookup by `addr`.
    pub fn fail(&self, addr: IpAddr, now: Timestamp) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(&addr) {
            map.retain(|_, times| times.back().is_some_and(|t| *t + WINDOW > now));
            if map.len() >= MAX_TRACKED {
                map.clear();
            }
        }
        let times = map.entry(addr).or_default();
        times.push_back(now);
        if times.len() > MAX_FAILURES {
            times.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_until_failures_age_out() {
        let t = Throttle::default();
        let addr: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        let start: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
        for i in 0..MAX_FAILURES {
            assert_eq!(t.check(addr, start), Ok(()), "failure {i}");
            t.fail(addr, start + SignedDuration::from_secs(i as i64));
        }
        let now = start + SignedDuration::from_secs(60);
        let wait = t.check(addr, now).unwrap_err();
        assert_eq!(wait, WINDOW.as_secs() as u64 - 60);
        assert_eq!(t.check(other, now), Ok(()));
        // Once the first failure is out of the window, one more try is allowed.
        assert_eq!(t.check(addr, start + WINDOW), Ok(()));
    }
}
