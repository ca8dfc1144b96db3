//! A per-user token bucket for `/agents/run`: `per_minute` calls, refilled continuously, a
//! full minute's worth as burst. In memory, so per replica: N replicas allow N times the rate.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::domain::UserId;

/// Beyond this many tracked users, full buckets (idle users) are forgotten.
const MAX_TRACKED: usize = 100_000;

pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<UserId, (f64, Instant)>>,
}

impl RateLimiter {
    /// `per_minute == 0` disables the limit.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one call from the user's bucket, or says how long until one is available.
    pub fn check(&self, user: &UserId) -> Result<(), Duration> {
        self.check_at(user, Instant::now())
    }

    fn check_at(&self, user: &UserId, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_sec = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(user) {
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.saturating_duration_since(*at).as_secs_f64() * per_sec < capacity
            });
        }
        let (tokens, at) = buckets.entry(user.clone()).or_insert((capacity, now));
        let refilled =
            (*tokens + now.saturating_duration_since(*at).as_secs_f64() * per_sec).min(capacity);
        *at = now;
        if refilled >= 1.0 {
            *tokens = refilled - 1.0;
            Ok(())
        } else {
            *tokens = refilled;
            Err(Duration::from_secs_f64((1.0 - refilled) / per_sec))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_refused_until_refilled() {
        let limiter = RateLimiter::new(2);
        let (a, b) = (
            UserId::parse("a".into()).expect("id"),
            UserId::parse("b".into()).expect("id"),
        );
        let t0 = Instant::now();
        assert!(limiter.check_at(&a, t0).is_ok());
        assert!(limiter.check_at(&a, t0).is_ok());
        let wait = limiter.check_at(&a, t0).expect_err("third call refused");
        assert!(
            wait <= Duration::from_secs(30) && wait > Duration::from_secs(29),
            "{wait:?}"
        );
        assert!(limiter.check_at(&b, t0).is_ok(), "users are independent");
        assert!(limiter.check_at(&a, t0 + Duration::from_secs(31)).is_ok());
        assert!(RateLimiter::new(0).check(&a).is_ok());
    }
}
