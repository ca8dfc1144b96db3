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

#[cfg(test)]
mod tests {
    use chatplane_crds::ChatDeployment;
    use k8s_openapi::{
        api::coordination::v1::{Lease, LeaseSpec},
        apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
        jiff::Timestamp,
    };
    use kube::Api;
    use serde_json::json;

    use super::{Decision, LeaseLock, decide};
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
        }
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
