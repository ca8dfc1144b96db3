//! At most `SEARCH_CONCURRENCY_PER_USER` searches of one user at a time (issue 13, item 9): one
//! user's searches cannot take every database connection from the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::domain::UserId;

pub struct SearchGate {
    per_user: usize,
    running: Mutex<HashMap<UserId, usize>>,
}

/// A running search; dropping it frees the place.
pub struct SearchTurn {
    gate: Arc<SearchGate>,
    user: UserId,
}

impl SearchGate {
    pub fn new(per_user: usize) -> Self {
        Self {
            per_user,
            running: Mutex::new(HashMap::new()),
        }
    }

    /// A turn for `user`, or `None` when their searches already fill their places.
    pub fn enter(self: &Arc<Self>, user: &UserId) -> Option<SearchTurn> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let n = running.entry(user.clone()).or_insert(0);
        if *n >= self.per_user {
            return None;
        }
        *n += 1;
        Some(SearchTurn {
            gate: self.clone(),
            user: user.clone(),
        })
    }
}

impl Drop for SearchTurn {
    fn drop(&mut self) {
        let mut running = self.gate.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = running.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                running.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_gets_at_most_their_places_and_others_are_not_affected() {
        let gate = Arc::new(SearchGate::new(2));
        let a = UserId::parse("a".into()).expect("id");
        let b = UserId::parse("b".into()).expect("id");
        let first = gate.enter(&a).expect("first");
        let _second = gate.enter(&a).expect("second");
        assert!(gate.enter(&a).is_none(), "a third search of one user ran");
        assert!(gate.enter(&b).is_some(), "another user was held back");
        drop(first);
        assert!(gate.enter(&a).is_some(), "a finished search kept its place");
    }
}
