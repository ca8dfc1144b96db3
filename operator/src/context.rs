//! The state shared by every reconcile and the HTTP server. No globals: it travels in `Arc`s.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use kube::{
    Client,
    runtime::events::{Recorder, Reporter},
};

use crate::{
    applied::Applied,
    client::CountedLayer,
    controller::{CacheWriters, Caches},
    leader::Leadership,
    metrics::Metrics,
    resources::Images,
};

/// The one field manager of every server-side apply and create (DESIGN §6).
pub const FIELD_MANAGER: &str = "chatplane-operator";

/// Operator settings that reach the desired state.
#[derive(Clone, Debug)]
pub struct Settings {
    pub images: Images,
    pub otlp_endpoint: Option<String>,
    /// This replica's name (the pod name): the Lease holder and the events' reporting instance.
    pub identity: String,
}

/// Per-object retry delays after failures: doubling from `base` up to `max`, reset on success.
#[derive(Debug)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            failures: Mutex::default(),
        }
    }

    /// Records one more failure of `key` and returns how long to wait before the next try.
    pub fn next_delay(&self, key: &str) -> Duration {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = failures.entry(key.to_owned()).or_insert(0);
        let delay = self
            .base
            .saturating_mul(2u32.saturating_pow(*count))
            .min(self.max);
        *count = count.saturating_add(1);
        delay
    }

    pub fn reset(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(key);
    }
}

/// What `/readyz` reports. `main` sets it once it has a client, just before the controller starts
/// or, with leader election, before it competes for the Lease: a standby replica is ready too (a
/// rollout would otherwise wait for the old leader to step down). Nothing unsets it: a lost Lease
/// ends the process.
#[derive(Debug, Default)]
pub struct Readiness {
    ready: AtomicBool,
}

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    pub fn get(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}

/// Lives as long as the process; the HTTP server and each controller share it.
#[derive(Clone)]
pub struct State {
    pub metrics: Arc<Metrics>,
    pub readiness: Arc<Readiness>,
    /// May this process write now (always, without leader election).
    pub leadership: Arc<Leadership>,
    pub settings: Settings,
}

impl State {
    pub fn new(settings: Settings, leader_election: bool) -> Self {
        let metrics = Arc::new(Metrics::default());
        let leadership = Arc::new(Leadership::new(leader_election, metrics.leader.clone()));
        Self {
            metrics,
            readiness: Arc::default(),
            leadership,
            settings,
        }
    }

    /// The layer every API client of this process goes through: counts requests, fences writes.
    pub fn client_layer(&self) -> CountedLayer {
        CountedLayer {
            metrics: self.metrics.clone(),
            leadership: self.leadership.clone(),
        }
    }

    /// The reconcilers' context, and the write halves of its watch caches for `controller::run`.
    pub fn to_context(&self, client: Client) -> (Arc<Context>, CacheWriters) {
        let reporter = Reporter {
            controller: FIELD_MANAGER.to_owned(),
            instance: Some(self.settings.identity.clone()),
        };
        let (caches, writers) = Caches::new();
        let context = Arc::new(Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics: self.metrics.clone(),
            leadership: self.leadership.clone(),
            settings: self.settings.clone(),
            backoff: Backoff::new(Duration::from_secs(5), Duration::from_secs(300)),
            caches,
            applied: Applied::default(),
        });
        (context, writers)
    }
}

/// Handed to every reconcile.
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub leadership: Arc<Leadership>,
    pub settings: Settings,
    pub backoff: Backoff,
    /// What the watches last saw of the owned objects.
    pub caches: Caches,
    /// What this process last applied: an apply that would change nothing is skipped.
    pub applied: Applied,
}
