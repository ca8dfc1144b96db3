//! The chart's RBAC against the code: the ClusterRole and the leader-election Role in
//! charts/chatplane/templates/rbac.yaml grant exactly `cluster_permissions` and
//! `leader_election_permissions`, and every request the reconcile scenarios send is among them.

use std::{collections::BTreeSet, sync::Arc};

use chatplane_crds::{ChatDeployment, DeletionPolicy};
use kube::Api;
use serde::Deserialize;
use serde_json::json;

use super::{Permission, cluster_permissions, leader_election_permissions};
use crate::{
    controller,
    fixtures::{Fixture, NAMESPACE, Recorded, Scenario, against},
    leader::LeaseLock,
    reconcile::reconcile,
    resources::Kind,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rules {
    rules: Vec<Rule>,
}

/// A PolicyRule as the chart writes them: no resourceNames, no nonResourceURLs.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Rule {
    api_groups: Vec<String>,
    resources: Vec<String>,
    verbs: Vec<String>,
}

/// The `rules:` of the chart's (Cluster)Role of this kind, expanded to single permissions. The
/// rules block holds no template directives, so it parses as plain YAML.
fn chart_permissions(kind: &str) -> BTreeSet<Permission> {
    // Read when the test runs (cargo sets it): `env!`'s value is the checkout that built this
    // binary, which cargo reuses unchanged for a checkout elsewhere.
    let dir = std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo");
    let path = std::path::Path::new(&dir).join("../charts/chatplane/templates/rbac.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let documents: Vec<&str> = text
        .split("\n---\n")
        .filter(|d| d.lines().any(|l| l == format!("kind: {kind}")))
        .collect();
    assert_eq!(documents.len(), 1, "one {kind} in {}", path.display());
    let rules = documents[0]
        .split_once("\nrules:\n")
        .map(|(_, rules)| format!("rules:\n{rules}"))
        .unwrap_or_else(|| panic!("the {kind} has rules"));
    let rules: Rules = serde_yaml::from_str(&rules).unwrap();
    let mut permissions = BTreeSet::new();
    for rule in rules.rules {
        for group in &rule.api_groups {
            for resource in &rule.resources {
                for verb in &rule.verbs {
                    let permission = (group.clone(), resource.clone(), verb.clone());
                    assert!(
                        permissions.insert(permission.clone()),
                        "{permission:?} granted twice"
                    );
                }
            }
        }
    }
    permissions
}

#[test]
fn the_chart_grants_exactly_what_the_operator_uses() {
    let show = |set: &BTreeSet<Permission>| -> Vec<String> {
        set.iter()
            .map(|(g, r, v)| format!("{g}/{r}: {v}"))
            .collect()
    };
    for (kind, code) in [
        ("ClusterRole", cluster_permissions()),
        ("Role", leader_election_permissions()),
    ] {
        let chart = chart_permissions(kind);
        assert_eq!(
            show(&chart.difference(&code).cloned().collect()),
            Vec::<String>::new(),
            "the chart's {kind} grants more than the code uses"
        );
        assert_eq!(
            show(&code.difference(&chart).cloned().collect()),
            Vec::<String>::new(),
            "the chart's {kind} lacks what the code uses"
        );
    }
}

/// The permission a request needs: group, resource (with subresource), verb.
fn needed(request: &Recorded) -> Permission {
    let segments: Vec<&str> = request.path().trim_start_matches('/').split('/').collect();
    let (group, rest) = match segments.as_slice() {
        ["api", _version, rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => panic!("not an API path: {}", request.uri),
    };
    let rest = match rest {
        ["namespaces", _namespace, rest @ ..] if !rest.is_empty() => rest,
        rest => rest,
    };
    let (resource, named) = match rest {
        [resource] => ((*resource).to_owned(), false),
        [resource, _name] => ((*resource).to_owned(), true),
        [resource, _name, sub] => (format!("{resource}/{sub}"), true),
        _ => panic!("unexpected path {}", request.uri),
    };
    let verb = match (request.method.as_str(), named) {
        ("GET", true) => "get",
        ("GET", false) if request.query().contains("watch=true") => "watch",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", _) => "delete",
        _ => panic!("unexpected request {} {}", request.method, request.uri),
    };
    (group.to_owned(), resource, verb.to_owned())
}

// Boxed: the scenarios' futures together outgrow a test thread's stack.
async fn reconciled(cd: ChatDeployment, scenario: Scenario) -> Vec<Recorded> {
    let (_, recorded, _) = Box::pin(against(&cd, scenario, async |ctx| {
        reconcile(Arc::new(cd.clone()), ctx).await
    }))
    .await;
    recorded
}

async fn lease_round(scenario: Scenario) -> Vec<Recorded> {
    let (won, recorded, _) = Box::pin(against(&ChatDeployment::test(), scenario, async |ctx| {
        let lock = LeaseLock {
            api: Api::namespaced(ctx.client.clone(), NAMESPACE),
            name: "leader".to_owned(),
            identity: "me".to_owned(),
            duration: std::time::Duration::from_secs(15),
            leadership: ctx.leadership.clone(),
        };
        let won = lock.try_acquire_or_renew().await;
        // A graceful stop hands the Lease back: its requests are granted too.
        lock.release().await;
        won
    }))
    .await;
    assert!(won.unwrap());
    recorded
}

#[tokio::test]
async fn every_request_of_the_reconcile_scenarios_is_granted_and_nothing_granted_goes_unused() {
    let with_ingress = ChatDeployment::test().with_spec(|spec| {
        spec.ingress = Some(chatplane_crds::IngressSpec {
            class_name: None,
            host: "chat.example.com".to_owned(),
            tls: None,
        });
    });
    let with_corpus = ChatDeployment::test().with_spec(|spec| {
        spec.rag.corpus = Some(chatplane_crds::CorpusSpec {
            config_map_ref: chatplane_crds::ConfigMapRef {
                name: "docs".to_owned(),
            },
        });
    });
    let first = reconciled(with_ingress.clone(), Scenario::default()).await;
    let status: chatplane_crds::ChatDeploymentStatus = first
        .iter()
        .rev()
        .find(|r| r.method == "PATCH" && r.path().ends_with("/status"))
        .map(|r| serde_json::from_value(r.body["status"].clone()).unwrap())
        .unwrap();
    let mut cluster = vec![
        reconciled(ChatDeployment::test().unfinalized(), Scenario::default()).await,
        first,
        // `spec.ingress` removed: its Ingress is deleted.
        reconciled(
            ChatDeployment::test().with_status(status),
            Scenario::default(),
        )
        .await,
        reconciled(
            with_corpus,
            Scenario::default().with_config_map("docs").ready(),
        )
        .await,
        // A missing Secret: degraded status and a Warning event.
        reconciled(ChatDeployment::test().with_llm_key(), Scenario::default()).await,
        reconciled(ChatDeployment::test().deleting(), Scenario::default()).await,
        reconciled(
            ChatDeployment::test().deleting().with_spec(|spec| {
                spec.database.managed.as_mut().unwrap().deletion_policy = DeletionPolicy::Delete;
            }),
            Scenario::default()
                .with_secret("chat-database", &["api-url"])
                .with_secret("chat-auth-secret", &["BETTER_AUTH_SECRET"]),
        )
        .await,
    ];
    let (_, startup, _) = Box::pin(against(
        &ChatDeployment::test(),
        Scenario::default(),
        async |ctx| {
            let (_, writers) = controller::Caches::new();
            controller::run(ctx.client.clone(), ctx, writers, Default::default()).await
        },
    ))
    .await;
    cluster.push(startup);

    let granted = cluster_permissions();
    let mut used = BTreeSet::new();
    for request in cluster.iter().flatten() {
        let permission = needed(request);
        assert!(
            granted.contains(&permission),
            "{} {} needs {permission:?}",
            request.method,
            request.uri
        );
        used.insert(permission);
    }
    // What no scenario sends, each for a reason: the child watches (metadata watches the
    // Controller starts after the start-up list); `create` on applied kinds (the API server
    // authorizes an apply that creates the object as a create, too: one PATCH, two checks);
    // the finalizers update (an admission check, not a request); and the patch of a repeated
    // event (a fresh recorder has none).
    let mut unused: BTreeSet<Permission> = granted.difference(&used).cloned().collect();
    let permission = |g: &str, r: &str, v: &str| (g.to_owned(), r.to_owned(), v.to_owned());
    for kind in Kind::ALL.into_iter().filter(|kind| kind.watched()) {
        let (group, resource) = kind.resource();
        for verb in ["list", "watch", "create"] {
            unused.remove(&permission(group, resource, verb));
        }
    }
    unused.remove(&permission("chatplane.dev", "chatdeployments", "watch"));
    assert_eq!(
        unused,
        BTreeSet::from([
            permission("chatplane.dev", "chatdeployments/finalizers", "update"),
            permission("events.k8s.io", "events", "patch"),
        ])
    );

    let mut expired = Scenario::default();
    expired.existing.insert(
        format!("/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases/leader"),
        json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "leader", "namespace": NAMESPACE, "resourceVersion": "9"},
            "spec": {"holderIdentity": "other", "leaseDurationSeconds": 15,
                     "renewTime": "2000-01-01T00:00:00.000000Z"},
        }),
    );
    let leases: BTreeSet<Permission> = [
        lease_round(Scenario::default()).await,
        lease_round(expired).await,
    ]
    .iter()
    .flatten()
    .map(needed)
    .collect();
    assert_eq!(leases, leader_election_permissions());
}
