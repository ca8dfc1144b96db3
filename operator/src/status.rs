//! The status, computed from what the API server returned for the applied workloads. Pure: the
//! clock comes in as `now`, and conditions keep their transition time unless their status flips,
//! so a steady state computes a status equal to the stored one and no patch is sent.

use chatplane_crds::{
    ChatDeployment, ChatDeploymentStatus, ConditionStatus, ConditionType, Endpoints, Phase, Reason,
    set_condition,
};
use k8s_openapi::{
    api::apps::v1::{Deployment, StatefulSet},
    apimachinery::pkg::apis::meta::v1::Time,
};

use crate::resources::Names;

/// The workloads as the API server last returned them (`None`: not part of this deployment).
#[derive(Clone, Copy, Debug, Default)]
pub struct Observed<'a> {
    pub postgres: Option<&'a StatefulSet>,
    pub auth: Option<&'a Deployment>,
    pub api: Option<&'a Deployment>,
}

struct Check {
    ready: bool,
    reason: Reason,
    message: String,
}

fn deployment_check(what: &str, deployment: Option<&Deployment>) -> Check {
    let Some(deployment) = deployment else {
        return Check {
            ready: false,
            reason: Reason::DeploymentNotAvailable,
            message: format!("The {what} Deployment does not exist yet."),
        };
    };
    let desired = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    if desired == 0 {
        return Check {
            ready: true,
            reason: Reason::ScaledToZero,
            message: format!("The {what} is scaled to zero replicas."),
        };
    }
    let status = deployment.status.clone().unwrap_or_default();
    let current = status.observed_generation >= deployment.metadata.generation;
    let available = status.available_replicas.unwrap_or(0);
    let updated = status.updated_replicas.unwrap_or(0);
    let ready = current && available >= desired && updated >= desired;
    let message = format!("{available}/{desired} {what} replicas available, {updated} updated.");
    let reason = if ready {
        Reason::DeploymentAvailable
    } else {
        Reason::DeploymentNotAvailable
    };
    Check {
        ready,
        reason,
        message,
    }
}

fn postgres_check(stateful_set: Option<&StatefulSet>) -> Check {
    let Some(stateful_set) = stateful_set else {
        return Check {
            ready: true,
            reason: Reason::ExternalDatabaseConfigured,
            message: "An external database is configured; the API's readiness probe checks it."
                .to_owned(),
        };
    };
    let ready_replicas = stateful_set
        .status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    if ready_replicas >= 1 {
        Check {
            ready: true,
            reason: Reason::PostgresReady,
            message: "PostgreSQL accepts connections.".to_owned(),
        }
    } else {
        Check {
            ready: false,
            reason: Reason::PostgresNotReady,
            message: "PostgreSQL is starting or failing pg_isready.".to_owned(),
        }
    }
}

pub fn endpoints(cd: &ChatDeployment, names: &Names) -> Endpoints {
    Endpoints {
        public: cd.spec.public_url.clone(),
        api: names.api_url(),
        auth: names.auth_url(),
        ingress: cd.spec.ingress.as_ref().map(|i| i.host.clone()),
    }
}

/// The status after a successful apply.
pub fn observed_status(
    cd: &ChatDeployment,
    names: &Names,
    observed: Observed<'_>,
    now: &Time,
) -> ChatDeploymentStatus {
    let mut status = cd.status.clone().unwrap_or_default();
    let generation = cd.metadata.generation;
    let checks = [
        (
            ConditionType::DatabaseReady,
            postgres_check(observed.postgres),
        ),
        (
            ConditionType::AuthReady,
            deployment_check("auth", observed.auth),
        ),
        (
            ConditionType::ApiReady,
            deployment_check("API", observed.api),
        ),
    ];
    let not_ready: Vec<&str> = checks
        .iter()
        .filter(|(_, c)| !c.ready)
        .map(|(t, _)| t.as_str())
        .collect();
    for (type_, check) in checks {
        set_condition(
            &mut status.conditions,
            type_,
            ConditionStatus::from_bool(check.ready),
            check.reason,
            check.message,
            generation,
            now,
        );
    }
    let (ready, reason, message) = if not_ready.is_empty() {
        (
            true,
            Reason::AllComponentsReady,
            "The database, the auth server and the API are ready.".to_owned(),
        )
    } else {
        (
            false,
            Reason::ComponentsNotReady,
            format!("Waiting for {}.", not_ready.join(", ")),
        )
    };
    set_condition(
        &mut status.conditions,
        ConditionType::Ready,
        ConditionStatus::from_bool(ready),
        reason,
        message,
        generation,
        now,
    );
    set_condition(
        &mut status.conditions,
        ConditionType::Degraded,
        ConditionStatus::False,
        Reason::ReconcileSucceeded,
        "The spec was applied.",
        generation,
        now,
    );
    status.phase = Some(if ready {
        Phase::Ready
    } else {
        Phase::Progressing
    });
    status.observed_generation = generation;
    status.endpoints = Some(endpoints(cd, names));
    status
}

/// The status when the spec cannot be carried out: the other conditions keep describing the
/// workloads that still run from the last good spec.
pub fn degraded_status(
    cd: &ChatDeployment,
    reason: Reason,
    message: &str,
    now: &Time,
) -> ChatDeploymentStatus {
    let mut status = cd.status.clone().unwrap_or_default();
    let generation = cd.metadata.generation;
    set_condition(
        &mut status.conditions,
        ConditionType::Degraded,
        ConditionStatus::True,
        reason,
        message,
        generation,
        now,
    );
    set_condition(
        &mut status.conditions,
        ConditionType::Ready,
        ConditionStatus::False,
        Reason::SpecDegraded,
        format!("The spec cannot be applied: {message}"),
        generation,
        now,
    );
    status.phase = Some(Phase::Degraded);
    status.observed_generation = generation;
    status
}

#[cfg(test)]
mod tests {
    use chatplane_crds::{ChatDeployment, ChatDeploymentStatus, Phase};
    use k8s_openapi::{
        api::apps::v1::{
            Deployment, DeploymentSpec, DeploymentStatus, StatefulSet, StatefulSetStatus,
        },
        apimachinery::pkg::apis::meta::v1::Time,
        jiff::Timestamp,
    };

    use super::{Observed, degraded_status, observed_status};
    use crate::{fixtures::Fixture, resources::Names};

    fn now() -> Time {
        Time(Timestamp::from_second(1_800_000_000).unwrap())
    }

    fn deployment(replicas: i32, available: i32, observed_generation: i64) -> Deployment {
        let mut d = Deployment {
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                ..Default::default()
            }),
            status: Some(DeploymentStatus {
                observed_generation: Some(observed_generation),
                available_replicas: Some(available),
                updated_replicas: Some(available),
                ..Default::default()
            }),
            ..Default::default()
        };
        d.metadata.generation = Some(2);
        d
    }

    fn postgres(ready: i32) -> StatefulSet {
        StatefulSet {
            status: Some(StatefulSetStatus {
                ready_replicas: Some(ready),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn conditions(status: &ChatDeploymentStatus) -> Vec<(String, String, String)> {
        status
            .conditions
            .iter()
            .map(|c| (c.type_.clone(), c.status.clone(), c.reason.clone()))
            .collect()
    }

    fn summary(observed: Observed<'_>) -> ChatDeploymentStatus {
        let cd = ChatDeployment::test();
        observed_status(&cd, &Names::new("chat", "testns"), observed, &now())
    }

    #[test]
    fn ready_needs_every_component_current_and_available() {
        let (pg, auth, api) = (postgres(1), deployment(2, 2, 2), deployment(3, 3, 2));
        let all = summary(Observed {
            postgres: Some(&pg),
            auth: Some(&auth),
            api: Some(&api),
        });
        assert_eq!(all.phase, Some(Phase::Ready));
        assert_eq!(
            conditions(&all),
            [
                (
                    "DatabaseReady".into(),
                    "True".into(),
                    "PostgresReady".into()
                ),
                (
                    "AuthReady".into(),
                    "True".into(),
                    "DeploymentAvailable".into()
                ),
                (
                    "ApiReady".into(),
                    "True".into(),
                    "DeploymentAvailable".into()
                ),
                ("Ready".into(), "True".into(), "AllComponentsReady".into()),
                (
                    "Degraded".into(),
                    "False".into(),
                    "ReconcileSucceeded".into()
                ),
            ]
        );

        let rolling = deployment(3, 3, 1);
        let stale = summary(Observed {
            postgres: Some(&pg),
            auth: Some(&auth),
            api: Some(&rolling),
        });
        assert_eq!(
            stale.phase,
            Some(Phase::Progressing),
            "a status of an older generation is not ready"
        );
        let ready = stale
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        assert_eq!(
            (ready.reason.as_str(), ready.message.as_str()),
            ("ComponentsNotReady", "Waiting for ApiReady.")
        );

        let starting = postgres(0);
        let waiting = summary(Observed {
            postgres: Some(&starting),
            auth: Some(&auth),
            api: Some(&api),
        });
        assert_eq!(waiting.conditions[0].reason, "PostgresNotReady");
    }

    #[test]
    fn zero_replicas_and_an_external_database_count_as_ready() {
        let (auth, api) = (deployment(0, 0, 2), deployment(1, 1, 2));
        let status = summary(Observed {
            postgres: None,
            auth: Some(&auth),
            api: Some(&api),
        });
        assert_eq!(status.conditions[0].reason, "ExternalDatabaseConfigured");
        assert_eq!(status.conditions[1].reason, "ScaledToZero");
        assert_eq!(status.phase, Some(Phase::Ready));
    }

    #[test]
    fn a_degraded_spec_keeps_the_component_conditions_and_recovers_on_success() {
        let (pg, auth, api) = (postgres(1), deployment(1, 1, 2), deployment(1, 1, 2));
        let observed = Observed {
            postgres: Some(&pg),
            auth: Some(&auth),
            api: Some(&api),
        };
        let ready = summary(observed);
        let cd = ChatDeployment::test().with_status(ready);
        let degraded = degraded_status(
            &cd,
            chatplane_crds::Reason::SecretNotFound,
            "Secret \"x\" is missing.",
            &now(),
        );
        assert_eq!(degraded.phase, Some(Phase::Degraded));
        let by_type = |s: &ChatDeploymentStatus, t: &str| {
            s.conditions.iter().find(|c| c.type_ == t).unwrap().clone()
        };
        assert_eq!(
            by_type(&degraded, "ApiReady").status,
            "True",
            "running workloads are still described"
        );
        assert_eq!(by_type(&degraded, "Degraded").reason, "SecretNotFound");
        assert_eq!(by_type(&degraded, "Ready").reason, "SpecDegraded");

        let fixed = ChatDeployment::test().with_status(degraded);
        let recovered = observed_status(&fixed, &Names::new("chat", "testns"), observed, &now());
        assert_eq!(recovered.phase, Some(Phase::Ready));
        assert_eq!(by_type(&recovered, "Degraded").status, "False");
    }
}
