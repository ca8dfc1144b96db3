//! Leader election through a coordination.k8s.io/v1 Lease, so two operator replicas can run:
//! one reconciles, the other waits to take over. Writes use the Lease's resourceVersion, so two
//! candidates racing for an expired Lease cannot both win.

use std::time::Duration;

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::{SignedDuration, Timestamp},
};
use kube::{Api, api::PostParams};
use tracing::{info, warn};

use crate::{Error, Result, context::FIELD_MANAGER};

/// What a candidate does after reading the Lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No Lease yet: create it.
    Create,
    /// Free or expired: take it over (incrementing `leaseTransitions`).
    TakeOver,
    /// Ours: renew it.
    Renew,
    /// Someone else holds a live Lease.
    Wait { holder: String },
}

/// Pure: who may hold the Lease at `now`.
pub fn decide(lease: Option<&Lease>, identity: &str, now: Timestamp) -> Decision {
    let Some(spec) = lease.and_then(|l| l.spec.as_ref()) else {
        return if lease.is_none() {
            Decision::Create
        } else {
            Decision::TakeOver
        };
    };
    let holder = spec.holder_identity.clone().unwrap_or_default();
    if holder == identity {
        return Decision::Renew;
    }
    let duration = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(0)));
    let renewed = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map(|t| t.0);
    match renewed {
        Some(renewed)
            if !holder.is_empty()
                && renewed.saturating_add(duration).is_ok_and(|end| end > now) =>
        {
            Decision::Wait { holder }
        }
        _ => Decision::TakeOver,
    }
}

pub struct LeaseLock {
    pub api: Api<Lease>,
    pub name: String,
    pub identity: String,
    pub duration: Duration,
}

impl LeaseLock {
    /// One round: read, decide, write. `Ok(true)` when this replica holds the Lease afterwards.
    pub async fn try_acquire_or_renew(&self) -> Result<bool> {
        let now = Timestamp::now();
        let current = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(Error::KubeError)?;
        let decision = decide(current.as_ref(), &self.identity, now);
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..Default::default()
        };
        let result = match (&decision, current) {
            (Decision::Wait { .. }, _) => return Ok(false),
            (Decision::Create, _) => self.api.create(&params, &self.lease(now, None, 0)).await,
            (Decision::TakeOver | Decision::Renew, Some(existing)) => {
                let spec = existing.spec.clone().unwrap_or_default();
                let (acquired, transitions) = match decision {
                    Decision::Renew => (spec.acquire_time, spec.lease_transitions.unwrap_or(0)),
                    _ => (None, spec.lease_transitions.unwrap_or(0) + 1),
                };
                let mut lease = self.lease(now, acquired, transitions);
                lease.metadata.resource_version = existing.metadata.resource_version;
                self.api.replace(&self.name, &params, &lease).await
            }
            (Decision::TakeOver | Decision::Renew, None) => return Ok(false),
        };
        match result {
            Ok(_) => Ok(true),
            // Someone else wrote first; the next round reads their Lease.
            Err(kube::Error::Api(status)) if status.is_conflict() => Ok(false),
            Err(e) => Err(Error::KubeError(e)),
        }
    }

    fn lease(&self, now: Timestamp, acquired: Option<MicroTime>, transitions: i32) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.identity.clone()),
                lease_duration_seconds: Some(
                    i32::try_from(self.duration.as_secs()).unwrap_or(i32::MAX),
                ),
                acquire_time: Some(acquired.unwrap_or(MicroTime(now))),
                renew_time: Some(MicroTime(now)),
                lease_transitions: Some(transitions),
                ..Default::default()
            }),
        }
    }

    /// Waits until this replica leads, polling at a third of the lease duration.
    pub async fn acquire(&self) -> Result<()> {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    info!(lease = %self.name, identity = %self.identity, "became leader");
                    return Ok(());
                }
                Ok(false) => {}
                Err(error) => warn!(%error, "leader election round failed"),
            }
            tokio::time::sleep(self.duration / 3).await;
        }
    }

    /// Renews until a renewal fails for a whole lease duration; then returns, and the caller stops
    /// reconciling (another replica may have taken over).
    pub async fn hold(&self) -> Error {
        let mut last_renewal = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.duration / 3).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_renewal = tokio::time::Instant::now(),
                Ok(false) => return Error::LeadershipLost(self.name.clone()),
                Err(error) if last_renewal.elapsed() >= self.duration => return error,
                Err(error) => warn!(%error, "renewing the lease failed; retrying"),
            }
        }
    }
}
