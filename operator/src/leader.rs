//! Leader election through a coordination.k8s.io/v1 Lease, so two operator replicas can run:
//! one reconciles, the other waits to take over. Writes use the Lease's resourceVersion, so two
//! candidates racing for an expired Lease cannot both win.
//!
//! `Leadership` is the fence: the leader may write only until the renew deadline (two thirds of
//! the lease duration) after the start of its last successful renewal, measured on the monotonic
//! clock. A standby takes over only once `renewTime + leaseDuration` has passed, so a paused or
//! cut-off leader stops writing (`client::Counted` refuses) before anyone else may start.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::{SignedDuration, Timestamp},
};
use kube::{Api, api::PostParams};
use prometheus_client::metrics::gauge::Gauge;
use tokio::time::Instant;
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

/// Whether this process may write now (shared by `LeaseLock` and the client's write fence).
#[derive(Debug)]
pub struct Leadership {
    /// Leader election disabled: a single replica, always allowed.
    always: bool,
    valid_until: Mutex<Option<Instant>>,
    /// `chatplane_operator_leader`.
    gauge: Gauge,
}

impl Leadership {
    pub fn new(election: bool, gauge: Gauge) -> Self {
        gauge.set(i64::from(!election));
        Self {
            always: !election,
            valid_until: Mutex::new(None),
            gauge,
        }
    }

    pub fn may_write(&self) -> bool {
        self.always
            || self
                .valid_until
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .is_some_and(|until| Instant::now() < until)
    }

    fn extend(&self, until: Instant) {
        *self
            .valid_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(until);
        self.gauge.set(1);
    }

    fn revoke(&self) {
        if !self.always {
            *self
                .valid_until
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
            self.gauge.set(0);
        }
    }
}

pub struct LeaseLock {
    pub api: Api<Lease>,
    pub name: String,
    pub identity: String,
    pub duration: Duration,
    pub leadership: Arc<Leadership>,
}

impl LeaseLock {
    /// How long a successful renewal lets this replica write: two thirds of the lease duration
    /// (client-go's 10 s of 15 s), leaving a third as margin before a standby may take over.
    pub fn renew_deadline(&self) -> Duration {
        self.duration * 2 / 3
    }

    /// How often the leader renews and a standby looks.
    pub fn retry_period(&self) -> Duration {
        self.duration / 5
    }

    /// One round: read, decide, write. `Ok(true)` when this replica holds the Lease afterwards.
    /// The fence is extended from the moment before the read, so it always ends before the
    /// `renewTime + leaseDuration` a standby waits for.
    pub async fn try_acquire_or_renew(&self) -> Result<bool> {
        let started = Instant::now();
        let won = self.acquire_or_renew_round().await?;
        if won {
            self.leadership.extend(started + self.renew_deadline());
        } else {
            self.leadership.revoke();
        }
        Ok(won)
    }

    async fn acquire_or_renew_round(&self) -> Result<bool> {
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

    /// Waits until this replica leads, looking every retry period.
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
            tokio::time::sleep(self.retry_period()).await;
        }
    }

    /// Renews every retry period. Returns only when another replica holds the Lease: the caller
    /// stops (the process exits, and restarts as a standby). A renewal that fails because the API
    /// server cannot be reached is retried without end: the fence closes by itself at the renew
    /// deadline, writes wait, and the first renewal that succeeds (nobody else took the Lease
    /// meanwhile) opens it again, so an API server restart is no reason to exit.
    pub async fn hold(&self) -> Error {
        loop {
            tokio::time::sleep(self.retry_period()).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => {}
                Ok(false) => return Error::LeadershipLost(self.name.clone()),
                Err(error) => {
                    warn!(%error, may_write = self.leadership.may_write(), "renewing the lease failed; retrying");
                }
            }
        }
    }

    /// On a graceful stop: hands the Lease back (no holder), so a standby takes over at its next
    /// look instead of after a whole lease duration. Best effort.
    pub async fn release(&self) {
        self.leadership.revoke();
        let Ok(Some(existing)) = self.api.get_opt(&self.name).await else {
            return;
        };
        let Some(spec) = existing.spec.clone() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                resource_version: existing.metadata.resource_version,
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: None,
                lease_duration_seconds: Some(1),
                ..spec
            }),
        };
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..Default::default()
        };
        match self.api.replace(&self.name, &params, &lease).await {
            Ok(_) => info!(lease = %self.name, "released the lease"),
            Err(error) => warn!(%error, "releasing the lease failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use chatplane_crds::ChatDeployment;
    use k8s_openapi::{
        api::coordination::v1::{Lease, LeaseSpec},
        apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
        jiff::Timestamp,
    };
    use std::sync::Arc;

    use kube::Api;
    use prometheus_client::metrics::gauge::Gauge;
    use serde_json::json;

    use super::{Decision, Leadership, LeaseLock, decide};
    use crate::fixtures::{Fixture, NAMESPACE, Scenario, against};

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).unwrap()
    }

    fn lease(holder: &str, renewed: i64) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some("leader".into()),
                resource_version: Some("9".into()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(holder.into()),
                lease_duration_seconds: Some(15),
                renew_time: Some(MicroTime(at(renewed))),
                lease_transitions: Some(2),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn a_live_lease_of_another_replica_is_respected_and_an_expired_one_taken_over() {
        assert_eq!(decide(None, "me", at(1000)), Decision::Create);
        assert_eq!(
            decide(Some(&lease("me", 990)), "me", at(1000)),
            Decision::Renew
        );
        assert_eq!(
            decide(Some(&lease("other", 990)), "me", at(1000)),
            Decision::Wait {
                holder: "other".into()
            }
        );
        assert_eq!(
            decide(Some(&lease("other", 984)), "me", at(1000)),
            Decision::TakeOver
        );
        assert_eq!(
            decide(Some(&lease("", 999)), "me", at(1000)),
            Decision::TakeOver
        );
        assert_eq!(
            decide(Some(&Lease::default()), "me", at(1000)),
            Decision::TakeOver
        );
    }

    fn lock(api: Api<Lease>) -> LeaseLock {
        LeaseLock {
            api,
            name: "leader".into(),
            identity: "me".into(),
            duration: std::time::Duration::from_secs(15),
            leadership: Arc::new(Leadership::new(true, Gauge::default())),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_fence_opens_on_a_won_round_and_closes_at_the_renew_deadline() {
        let leadership = Arc::new(Leadership::new(true, Gauge::default()));
        assert!(!leadership.may_write(), "a candidate may not write");
        let (won, _, _) = against(&ChatDeployment::test(), Scenario::default(), async |ctx| {
            let mut lock = lock(Api::namespaced(ctx.client.clone(), NAMESPACE));
            lock.leadership = leadership.clone();
            let won = lock.try_acquire_or_renew().await;
            (won, lock.renew_deadline())
        })
        .await;
        let (won, deadline) = won;
        assert!(won.unwrap());
        assert_eq!(deadline, std::time::Duration::from_secs(10));
        assert!(leadership.may_write());
        tokio::time::advance(deadline).await;
        assert!(!leadership.may_write(), "no renewal: the fence closes");
        assert!(Leadership::new(false, Gauge::default()).may_write());
    }

    #[tokio::test]
    async fn the_first_candidate_creates_the_lease() {
        let (won, recorded, _) =
            against(&ChatDeployment::test(), Scenario::default(), async |ctx| {
                lock(Api::namespaced(ctx.client.clone(), NAMESPACE))
                    .try_acquire_or_renew()
                    .await
            })
            .await;
        assert!(won.unwrap());
        let path = format!("/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases");
        assert_eq!(
            recorded
                .iter()
                .map(|r| (r.method.as_str(), r.path()))
                .collect::<Vec<_>>(),
            [
                ("GET", format!("{path}/leader").as_str()),
                ("POST", path.as_str())
            ]
        );
        assert_eq!(recorded[1].body["spec"]["holderIdentity"], "me");
        assert_eq!(recorded[1].body["spec"]["leaseDurationSeconds"], 15);
    }

    #[tokio::test]
    async fn a_held_lease_is_left_alone_and_an_expired_one_replaced_with_its_resource_version() {
        let key = format!("/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases/leader");
        let now = Timestamp::now().as_second();
        let mut live = Scenario::default();
        live.existing.insert(
            key.clone(),
            serde_json::to_value(lease("other", now + 3600)).unwrap(),
        );
        let (won, recorded, _) = against(&ChatDeployment::test(), live, async |ctx| {
            lock(Api::namespaced(ctx.client.clone(), NAMESPACE))
                .try_acquire_or_renew()
                .await
        })
        .await;
        assert!(!won.unwrap());
        assert_eq!(recorded.len(), 1, "only the read: {recorded:#?}");

        let mut expired = Scenario::default();
        expired.existing.insert(
            key.clone(),
            serde_json::to_value(lease("other", now - 60)).unwrap(),
        );
        let (won, recorded, _) = against(&ChatDeployment::test(), expired, async |ctx| {
            lock(Api::namespaced(ctx.client.clone(), NAMESPACE))
                .try_acquire_or_renew()
                .await
        })
        .await;
        assert!(won.unwrap());
        assert_eq!(recorded[1].method, "PUT");
        assert_eq!(recorded[1].path(), key);
        assert_eq!(
            recorded[1].body["metadata"]["resourceVersion"],
            json!("9"),
            "optimistic concurrency"
        );
        assert_eq!(recorded[1].body["spec"]["holderIdentity"], "me");
        assert_eq!(recorded[1].body["spec"]["leaseTransitions"], 3);
    }
}
