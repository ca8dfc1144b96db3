//! A small map whose entries expire, keyed by a SHA-256 of a credential (never the credential
//! itself). Bounded: at `max` entries the expired ones are swept, and if that frees nothing the
//! map is cleared, so a flood of distinct tokens costs memory only up to the bound.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

pub type CredentialHash = [u8; 32];

/// The longest an entry is kept, whatever the credential says about itself.
pub const MAX_TTL: Duration = Duration::from_secs(3600);

pub fn hash(credential: &str) -> CredentialHash {
    Sha256::digest(credential.as_bytes()).into()
}

pub struct TtlCache<V> {
    max: usize,
    entries: Mutex<HashMap<CredentialHash, (V, Instant)>>,
}

impl<V: Clone> TtlCache<V> {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, key: &CredentialHash) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(v, _)| v.clone())
    }

    /// Keeps `value` for `ttl`, clamped to [`MAX_TTL`]: a TTL derived from an attacker-chosen
    /// claim (an `exp` of 9e18) must not overflow the clock.
    pub fn insert(&self, key: CredentialHash, value: V, ttl: Duration) {
        let ttl = ttl.min(MAX_TTL);
        if ttl.is_zero() {
            return;
        }
        let Some(until) = Instant::now().checked_add(ttl) else {
            return;
        };
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.max {
            let now = Instant::now();
            entries.retain(|_, (_, until)| *until > now);
            if entries.len() >= self.max {
                entries.clear();
            }
        }
        entries.insert(key, (value, until));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_the_size_stays_bounded() {
        let cache = TtlCache::new(2);
        cache.insert(hash("a"), 1, Duration::from_secs(60));
        cache.insert(hash("gone"), 2, Duration::ZERO);
        assert_eq!(cache.get(&hash("a")), Some(1));
        assert_eq!(cache.get(&hash("gone")), None);
        cache.insert(hash("b"), 2, Duration::from_secs(60));
        cache.insert(hash("c"), 3, Duration::from_secs(60));
        assert!(cache.entries.lock().expect("lock").len() <= 2);
        assert_eq!(cache.get(&hash("c")), Some(3));
    }

    #[test]
    fn an_absurd_ttl_is_clamped_instead_of_overflowing_the_clock() {
        let cache = TtlCache::new(2);
        cache.insert(hash("far"), 1, Duration::MAX);
        cache.insert(
            hash("far2"),
            2,
            Duration::from_secs(9_000_000_000_000_000_000),
        );
        assert_eq!(cache.get(&hash("far")), Some(1));
        assert_eq!(cache.get(&hash("far2")), Some(2));
    }
}
