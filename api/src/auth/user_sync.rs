//! Keeps the API's `users` row in step with the identity in the token, without a database
//! write on every request: a row is upserted when this process has not seen the user with the
//! same profile recently.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::AuthUser;
use crate::domain::UserId;
use crate::store::{self, Db};

/// How long a synced profile is trusted before it is written again (another replica may have
/// erased the user in between).
const RESYNC_AFTER: Duration = Duration::from_secs(60);
const MAX_ENTRIES: usize = 100_000;

pub struct UserSync {
    db: Db,
    seen: Mutex<HashMap<UserId, (u64, Instant)>>,
}

impl UserSync {
    pub fn new(db: Db) -> Self {
        Self {
            db,
            seen: Mutex::new(HashMap::new()),
        }
    }

    fn fingerprint(user: &AuthUser) -> u64 {
        let mut h = DefaultHasher::new();
        user.profile.hash(&mut h);
        h.finish()
    }

    pub async fn ensure(&self, user: &AuthUser) -> Result<(), sqlx::Error> {
        let fp = Self::fingerprint(user);
        let fresh = {
            let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            seen.get(&user.id)
                .is_some_and(|(f, at)| *f == fp && at.elapsed() < RESYNC_AFTER)
        };
        if fresh {
            return Ok(());
        }
        self.write(user).await
    }

    /// Upserts now, whatever the cache says (after a foreign-key miss, say).
    pub async fn write(&self, user: &AuthUser) -> Result<(), sqlx::Error> {
        store::users::upsert(&self.db, &user.id, &user.profile).await?;
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX_ENTRIES {
            seen.clear();
        }
        seen.insert(user.id.clone(), (Self::fingerprint(user), Instant::now()));
        Ok(())
    }

    /// Forgets a user whose row was deleted, so the next request writes it again.
    pub fn forget(&self, id: &UserId) {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }
}
