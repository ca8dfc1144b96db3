//! Request-level tests: the reconciler against a scripted fake API server (tower-test).

use std::{sync::Arc, time::Duration};

use chatplane_crds::{ChatDeployment, ChatDeploymentStatus, DeletionPolicy, SecretKeyRef};
use kube::runtime::controller::Action;
use serde_json::Value;

use super::{error_policy, reconcile};
use crate::{
    Error,
    fixtures::{Fixture, NAMESPACE, Recorded, Scenario, against, test_inputs},
    resources::{GeneratedValues, desired},
};

const APPLY_QUERY: &str = "&force=true&fieldManager=chatplane-operator";

fn applies(recorded: &[Recorded]) -> Vec<&Recorded> {
    recorded
        .iter()
        .filter(|r| {
            r.method == "PATCH" && r.content_type.as_deref() == Some("application/apply-patch+yaml")
        })
        .collect()
}

fn status_patches(recorded: &[Recorded]) -> Vec<ChatDeploymentStatus> {
    applies(recorded)
        .into_iter()
        .filter(|r| r.path().ends_with("/status"))
        .map(|r| serde_json::from_value(r.body["status"].clone()).expect("a ChatDeploymentStatus"))
        .collect()
}

/// The paths of the DELETE requests, in order.
fn deleted_paths(recorded: &[Recorded]) -> Vec<&str> {
    recorded
        .iter()
        .filter(|r| r.method == "DELETE")
        .map(Recorded::path)
        .collect()
}

fn condition<'a>(
    status: &'a ChatDeploymentStatus,
    type_: &str,
) -> &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_} condition"))
}

#[tokio::test]
async fn a_new_resource_first_gets_the_finalizer_and_nothing_else() {
    let cd = ChatDeployment::test().unfinalized();
    let (result, recorded, _) = against(&cd, Scenario::default(), async |ctx| {
        reconcile(Arc::new(cd.clone()), ctx).await
    })
    .await;
    assert_eq!(result.unwrap(), Action::await_change());
    assert_eq!(recorded.len(), 1, "{recorded:#?}");
    assert_eq!(recorded[0].method, "PATCH");
    assert_eq!(
        recorded[0].path(),
        format!("/apis/chatplane.dev/v1alpha1/namespaces/{NAMESPACE}/chatdeployments/chat")
    );
    assert_eq!(recorded[0].body[1]["op"], "add");
    assert_eq!(
        recorded[0].body[1]["value"],
        serde_json::json!([super::FINALIZER])
    );
}

#[tokio::test]
async fn reconcile_creates_secrets_then_server_side_applies_every_object_with_one_field_manager() {
    let cd = ChatDeployment::test();
    let (result, recorded, _) = against(&cd, Scenario::default(), async |ctx| {
        reconcile(Arc::new(cd.clone()), ctx).await
    })
    .await;
    result.unwrap();

    let expected = desired(&cd, &test_inputs(), &GeneratedValues::placeholders()).unwrap();
    let base = format!("/api/v1/namespaces/{NAMESPACE}");
    // Generated secrets: one create each, without a lookup first; never an apply.
    for name in ["chat-auth-secret", "chat-database"] {
        let calls: Vec<_> = recorded
            .iter()
            .filter(|r| r.path().starts_with(&format!("{base}/secrets")))
            .filter(|r| r.path().ends_with(name) || r.body["metadata"]["name"] == name)
            .collect();
        assert_eq!(calls.len(), 1, "{name}: {calls:#?}");
        assert_eq!(calls[0].method, "POST");
        assert_eq!(
            calls[0].uri,
            format!("{base}/secrets?&fieldManager=chatplane-operator")
        );
    }
    let created: Vec<&Recorded> = recorded
        .iter()
        .filter(|r| r.method == "POST" && r.path().ends_with("/secrets"))
        .collect();
    let database = created
        .iter()
        .find(|r| r.body["metadata"]["name"] == "chat-database")
        .unwrap();
    let password = database.body["stringData"]["api-password"]
        .as_str()
        .unwrap();
    assert_eq!(password.len(), 48);
    assert!(password.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(
        database.body["stringData"]["api-url"],
        format!(
            "postgres://chatplane_api:{password}@chat-postgres.{NAMESPACE}.svc:5432/chatplane_api"
        )
    );
    assert!(
        database.body["metadata"]["ownerReferences"].is_null(),
        "generated secrets outlive the resource"
    );

    // Every owned object: one apply each, forced, under the one field manager, with exactly the
    // desired body, in order.
    let object_applies: Vec<&Recorded> = applies(&recorded)
        .into_iter()
        .filter(|r| !r.path().ends_with("/status"))
        .collect();
    let mut manifests = expected.manifests().unwrap();
    manifests.retain(|m| m["kind"] != "Secret");
    assert_eq!(object_applies.len(), manifests.len());
    for (request, manifest) in object_applies.iter().zip(&manifests) {
        assert_eq!(request.query(), APPLY_QUERY, "{}", request.uri);
        assert!(
            request
                .path()
                .ends_with(manifest["metadata"]["name"].as_str().unwrap()),
            "{}",
            request.uri
        );
        assert_eq!(&request.body, manifest, "{}", request.uri);
    }
    let kinds: Vec<&str> = object_applies
        .iter()
        .map(|r| r.body["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "ConfigMap",
            "Service",
            "Service",
            "Service",
            "Service",
            "StatefulSet",
            "Deployment",
            "Deployment",
            "NetworkPolicy",
            "NetworkPolicy"
        ]
    );

    // Then the status, applied on the subresource.
    let last_apply = applies(&recorded).into_iter().last().unwrap();
    assert_eq!(
        last_apply.uri,
        format!(
            "/apis/chatplane.dev/v1alpha1/namespaces/{NAMESPACE}/chatdeployments/chat/status?{APPLY_QUERY}"
        )
    );
    let status = &status_patches(&recorded)[0];
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(condition(status, "Ready").status, "False");
    assert_eq!(
        condition(status, "ApiReady").reason,
        "DeploymentNotAvailable"
    );
    assert_eq!(condition(status, "Degraded").status, "False");
    assert_eq!(
        status.endpoints.as_ref().unwrap().auth,
        format!("http://chat-auth.{NAMESPACE}.svc:3000")
    );
}

#[tokio::test]
async fn an_existing_generated_secret_is_never_replaced() {
    let cd = ChatDeployment::test();
    let scenario = Scenario::default()
        .with_secret("chat-auth-secret", &["BETTER_AUTH_SECRET"])
        .with_secret("chat-database", &["api-url", "auth-url"]);
    let (result, recorded, _) = against(&cd, scenario, async |ctx| {
        reconcile(Arc::new(cd.clone()), ctx).await
    })
    .await;
    result.unwrap();
    let secret_calls: Vec<&Recorded> = recorded
        .iter()
        .filter(|r| r.path().contains("/secrets"))
        .collect();
    // Each create is answered 409 and the stored Secret kept: nothing is read, replaced or
    // patched.
    assert_eq!(secret_calls.len(), 2, "{secret_calls:#?}");
    assert!(
        secret_calls.iter().all(|r| r.method == "POST"),
        "only creates: {secret_calls:#?}"
    );
}

#[tokio::test]
async fn a_second_reconcile_applies_identical_bytes_and_does_not_patch_the_status() {
    let cd = ChatDeployment::test();
    let (_, first, _) = against(&cd, Scenario::default().ready(), async |ctx| {
        reconcile(Arc::new(cd.clone()), ctx).await
    })
    .await;
    let status = status_patches(&first).remove(0);
    assert_eq!(status.phase, Some(chatplane_crds::Phase::Ready));
    assert!(
        first
            .iter()
            .any(|r| r.path().ends_with("/events") && r.body["reason"] == "Ready"),
        "a Ready event"
    );

    let settled = cd.clone().with_status(status);
    let scenario = Scenario::default()
        .ready()
        .with_secret("chat-auth-secret", &["BETTER_AUTH_SECRET"])
        .with_secret("chat-database", &["api-url"]);
    let (result, second, _) = against(&settled, scenario, async |ctx| {
        reconcile(Arc::new(settled.clone()), ctx).await
    })
    .await;
    assert_eq!(result.unwrap(), Action::requeue(Duration::from_secs(300)));
    assert!(
        status_patches(&second).is_empty(),
        "unchanged status is not patched"
    );
    assert!(
        !second.iter().any(|r| r.path().ends_with("/events")),
        "no event without a transition"
    );
    let bodies = |recorded: &[Recorded]| -> Vec<Vec<u8>> {
        applies(recorded)
            .iter()
            .filter(|r| !r.path().ends_with("/status"))
            .map(|r| serde_json::to_vec(&r.body).unwrap())
            .collect()
    };
    assert_eq!(bodies(&first), bodies(&second));
}

#[tokio::test]
async fn a_missing_secret_degrades_the_resource_without_applying_anything_and_backs_off() {
    let cd = ChatDeployment::test().with_llm_key();
    let (outcome, recorded, metrics) = against(&cd, Scenario::default(), async |ctx| {
        let cd = Arc::new(cd.clone());
        let result = reconcile(cd.clone(), ctx.clone()).await;
        let error = result
            .as_ref()
            .expect_err("a missing secret fails the reconcile");
        let delays: Vec<Action> = (0..8)
            .map(|_| error_policy(cd.clone(), error, ctx.clone()))
            .collect();
        (result, delays)
    })
    .await;
    let (result, delays) = outcome;
    match result {
        Err(Error::Degraded { reason, message }) => {
            assert_eq!(reason, chatplane_crds::Reason::SecretNotFound);
            assert!(
                message.contains("\"llm-key\"") && message.contains("spec.rag.llm.apiKeySecretRef"),
                "{message}"
            );
        }
        other => panic!("expected Degraded, got {other:?}"),
    }
    assert!(
        applies(&recorded)
            .iter()
            .all(|r| r.path().ends_with("/status")),
        "nothing but the status is applied"
    );
    assert!(
        !recorded
            .iter()
            .any(|r| r.method == "POST" && r.path().ends_with("/secrets")),
        "no secret generated"
    );
    let status = &status_patches(&recorded)[0];
    assert_eq!(status.phase, Some(chatplane_crds::Phase::Degraded));
    assert_eq!(condition(status, "Degraded").status, "True");
    assert_eq!(condition(status, "Degraded").reason, "SecretNotFound");
    assert_eq!(condition(status, "Ready").reason, "SpecDegraded");
    let event = recorded
        .iter()
        .find(|r| r.path().ends_with("/events"))
        .expect("a Warning event");
    assert_eq!(event.body["type"], "Warning");
    assert_eq!(event.body["reason"], "SecretNotFound");

    let seconds = [5, 10, 20, 40, 80, 160, 300, 300];
    let expected: Vec<Action> = seconds
        .iter()
        .map(|s| Action::requeue(Duration::from_secs(*s)))
        .collect();
    assert_eq!(
        delays, expected,
        "exponential backoff, capped at five minutes"
    );
    let text = crate::metrics::encode(&metrics).unwrap();
    assert!(
        text.contains("chatplane_operator_reconcile_failures_total{error=\"degraded\"} 8"),
        "{text}"
    );
}

#[tokio::test]
async fn a_secret_without_the_named_key_is_reported_as_such() {
    let cd = ChatDeployment::test().with_spec(|spec| {
        spec.auth.secret_ref = Some(SecretKeyRef {
            name: "auth".to_owned(),
            key: "secret".to_owned(),
        });
    });
    let scenario = Scenario::default().with_secret("auth", &["other"]);
    let (result, _, _) = against(&cd, scenario, async |ctx| {
        reconcile(Arc::new(cd.clone()), ctx).await
    })
    .await;
    assert!(
        matches!(
            result,
            Err(Error::Degraded {
                reason: chatplane_crds::Reason::SecretKeyMissing,
                ..
            })
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn success_resets_the_backoff() {
    let cd = ChatDeployment::test();
    let (delay, _, _) = against(&cd, Scenario::default(), async |ctx| {
        let arc = Arc::new(cd.clone());
        let error = Error::InvalidSpec("x".to_owned());
        error_policy(arc.clone(), &error, ctx.clone());
        error_policy(arc.clone(), &error, ctx.clone());
        reconcile(arc.clone(), ctx.clone()).await.unwrap();
        error_policy(arc, &error, ctx)
    })
    .await;
    assert_eq!(delay, Action::requeue(Duration::from_secs(5)));
}

#[tokio::test]
async fn deleting_with_the_retain_policy_keeps_the_volume_and_secrets() {
    let cd = ChatDeployment::test().deleting();
    let (result, recorded, _) = against(&cd, Scenario::default(), async |ctx| {
        reconcile(Arc::new(cd.clone()), ctx).await
    })
    .await;
    result.unwrap();
    assert!(
        !recorded.iter().any(|r| r.method == "DELETE"),
        "{recorded:#?}"
    );
    let event = recorded
        .iter()
        .find(|r| r.path().ends_with("/events"))
        .unwrap();
    assert_eq!(event.body["reason"], "DataRetained");
    let last = recorded.last().unwrap();
    assert_eq!(
        (last.method.as_str(), last.body[1]["op"].as_str()),
        ("PATCH", Some("remove")),
        "finalizer removed last"
    );
}

#[tokio::test]
async fn deleting_with_the_delete_policy_removes_the_volume_and_generated_secrets() {
    let cd = ChatDeployment::test().deleting().with_spec(|spec| {
        spec.database.managed.as_mut().unwrap().deletion_policy = DeletionPolicy::Delete;
    });
    let scenario = Scenario::default()
        .with_secret("chat-database", &["api-url"])
        .with_secret("chat-auth-secret", &["BETTER_AUTH_SECRET"]);
    let (result, recorded, _) = against(&cd, scenario, async |ctx| {
        reconcile(Arc::new(cd.clone()), ctx).await
    })
    .await;
    result.unwrap();
    let deleted = deleted_paths(&recorded);
    let base = format!("/api/v1/namespaces/{NAMESPACE}");
    assert_eq!(
        deleted,
        [
            format!("{base}/secrets/chat-database"),
            format!("{base}/secrets/chat-auth-secret"),
            format!("{base}/persistentvolumeclaims/data-chat-postgres-0"),
        ]
    );
}

#[tokio::test]
async fn a_corpus_config_map_version_reaches_the_api_pods_config_hash() {
    let hash_of = |recorded: &[Recorded]| -> Value {
        applies(recorded)
            .iter()
            .find(|r| r.path().ends_with("/deployments/chat-api"))
            .unwrap()
            .body["spec"]["template"]["metadata"]["annotations"]["chatplane.dev/config-hash"]
            .clone()
    };
    let cd = ChatDeployment::test().with_spec(|spec| {
        spec.rag.corpus = Some(chatplane_crds::CorpusSpec {
            config_map_ref: chatplane_crds::ConfigMapRef {
                name: "docs".to_owned(),
            },
        });
    });
    let (_, before, _) = against(
        &cd,
        Scenario::default().with_config_map("docs"),
        async |ctx| reconcile(Arc::new(cd.clone()), ctx).await,
    )
    .await;
    let mut changed = Scenario::default().with_config_map("docs");
    let key = format!("/api/v1/namespaces/{NAMESPACE}/configmaps/docs");
    changed.existing.get_mut(&key).unwrap()["metadata"]["resourceVersion"] = "43".into();
    let (_, after, _) = against(&cd, changed, async |ctx| {
        reconcile(Arc::new(cd.clone()), ctx).await
    })
    .await;
    assert_ne!(
        hash_of(&before),
        hash_of(&after),
        "new documents roll the API pods"
    );

    let (result, _, _) = against(&cd, Scenario::default(), async |ctx| {
        reconcile(Arc::new(cd.clone()), ctx).await
    })
    .await;
    assert!(
        matches!(
            result,
            Err(Error::Degraded {
                reason: chatplane_crds::Reason::ConfigMapNotFound,
                ..
            })
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn once_the_missing_secret_exists_the_next_reconcile_recovers() {
    let cd = ChatDeployment::test().with_llm_key();
    let (_, first, _) = against(&cd, Scenario::default(), async |ctx| {
        reconcile(Arc::new(cd.clone()), ctx).await
    })
    .await;
    let degraded = ChatDeployment::test()
        .with_llm_key()
        .with_status(status_patches(&first).remove(0));

    let scenario = Scenario::default().with_secret("llm-key", &["api-key"]);
    let (result, recorded, _) = against(&degraded, scenario, async |ctx| {
        reconcile(Arc::new(degraded.clone()), ctx).await
    })
    .await;
    result.unwrap();
    let status = status_patches(&recorded).remove(0);
    assert_eq!(status.phase, Some(chatplane_crds::Phase::Progressing));
    assert_eq!(condition(&status, "Degraded").status, "False");
    assert_eq!(condition(&status, "Degraded").reason, "ReconcileSucceeded");
    let event = recorded
        .iter()
        .find(|r| r.path().ends_with("/events"))
        .expect("a transition event");
    assert_eq!(
        (event.body["type"].as_str(), event.body["reason"].as_str()),
        (Some("Normal"), Some("Progressing"))
    );
    let api = applies(&recorded)
        .into_iter()
        .find(|r| r.path().ends_with("/deployments/chat-api"))
        .unwrap();
    let env = api.body["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap();
    let key = env.iter().find(|e| e["name"] == "LLM_API_KEY").unwrap();
    assert_eq!(
        key["valueFrom"]["secretKeyRef"],
        serde_json::json!({"name": "llm-key", "key": "api-key", "optional": false})
    );
}

#[tokio::test]
async fn removing_the_ingress_from_the_spec_deletes_the_ingress_once() {
    let with_ingress = ChatDeployment::test().with_spec(|spec| {
        spec.ingress = Some(chatplane_crds::IngressSpec {
            class_name: None,
            host: "chat.example.com".to_owned(),
            tls: None,
        });
    });
    let (_, first, _) = against(&with_ingress, Scenario::default(), async |ctx| {
        reconcile(Arc::new(with_ingress.clone()), ctx).await
    })
    .await;
    let status = status_patches(&first).remove(0);
    assert_eq!(
        status.endpoints.as_ref().unwrap().ingress.as_deref(),
        Some("chat.example.com")
    );

    let removed = ChatDeployment::test().with_status(status);
    let (result, recorded, _) = against(&removed, Scenario::default(), async |ctx| {
        reconcile(Arc::new(removed.clone()), ctx).await
    })
    .await;
    result.unwrap();
    let deletes = deleted_paths(&recorded);
    assert_eq!(
        deletes,
        [format!(
            "/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/ingresses/chat"
        )]
    );
    let status = status_patches(&recorded).remove(0);
    assert_eq!(
        status.endpoints.unwrap().ingress,
        None,
        "the next reconcile deletes nothing"
    );

    let (_, never_had, _) = against(&ChatDeployment::test(), Scenario::default(), async |ctx| {
        reconcile(Arc::new(ChatDeployment::test()), ctx).await
    })
    .await;
    assert!(!never_had.iter().any(|r| r.method == "DELETE"));
}

#[tokio::test]
async fn an_apply_the_api_server_refuses_shows_on_the_resource_once_and_recovers() {
    let cd = ChatDeployment::test();
    let service = format!("/api/v1/namespaces/{NAMESPACE}/services/chat-postgres-headless");
    let quota = "services \"chat-postgres-headless\" is forbidden: exceeded quota: q, requested: services=1, used: services=0, limited: services=0";
    let refusing = Scenario::default().refusing(&service, 403, "Forbidden", quota);
    let (result, recorded, _) = against(&cd, refusing.clone(), async |ctx| {
        reconcile(Arc::new(cd.clone()), ctx).await
    })
    .await;
    match result {
        Err(Error::Degraded { reason, .. }) => {
            assert_eq!(reason, chatplane_crds::Reason::ApplyFailed)
        }
        other => panic!("expected Degraded, got {other:?}"),
    }
    let patches = status_patches(&recorded);
    assert_eq!(patches.len(), 1, "{recorded:#?}");
    let status = &patches[0];
    assert_eq!(status.phase, Some(chatplane_crds::Phase::Degraded));
    assert_eq!(status.observed_generation, Some(1));
    let degraded = condition(status, "Degraded");
    assert_eq!(
        (degraded.status.as_str(), degraded.reason.as_str()),
        ("True", "ApplyFailed")
    );
    assert_eq!(
        degraded.message,
        format!("Service \"chat-postgres-headless\" was refused: {quota} (403 Forbidden)")
    );
    let ready = condition(status, "Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "SpecDegraded")
    );
    assert!(ready.message.contains(quota), "{}", ready.message);
    let events: Vec<&Recorded> = recorded
        .iter()
        .filter(|r| r.path().ends_with("/events"))
        .collect();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0].body["type"], "Warning");
    assert_eq!(events[0].body["reason"], "ApplyFailed");
    assert!(
        events[0].body["note"].as_str().unwrap().contains(quota),
        "{:#?}",
        events[0].body
    );

    // The same refusal again: the stored condition already says so; no patch, no event.
    let stored = cd.clone().with_status(status.clone());
    let (result, recorded, _) = against(&stored, refusing, async |ctx| {
        reconcile(Arc::new(stored.clone()), ctx).await
    })
    .await;
    assert!(matches!(result, Err(Error::Degraded { .. })), "{result:?}");
    assert!(status_patches(&recorded).is_empty(), "{recorded:#?}");
    assert!(!recorded.iter().any(|r| r.path().ends_with("/events")));

    // A server error is shown the same way; the quota lifted, the next reconcile recovers.
    let failing = Scenario::default().refusing(&service, 500, "InternalError", "etcd timed out");
    let (_, recorded, _) = against(&stored, failing, async |ctx| {
        reconcile(Arc::new(stored.clone()), ctx).await
    })
    .await;
    assert!(
        condition(&status_patches(&recorded)[0], "Degraded")
            .message
            .ends_with("etcd timed out (500 InternalError)")
    );
    let (result, recorded, _) = against(&stored, Scenario::default(), async |ctx| {
        reconcile(Arc::new(stored.clone()), ctx).await
    })
    .await;
    result.unwrap();
    let recovered = &status_patches(&recorded)[0];
    assert_eq!(condition(recovered, "Degraded").status, "False");
    assert_ne!(recovered.phase, Some(chatplane_crds::Phase::Degraded));
}

/// Requests this process sent so far (`chatplane_operator_api_requests_total`, every verb).
fn sent(ctx: &crate::context::Context) -> u64 {
    crate::metrics::encode(&ctx.metrics)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("chatplane_operator_api_requests_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

/// What the watches would deliver: every owned object as the (fake) server stores it.
async fn fill_caches(
    ctx: &crate::context::Context,
    writers: &mut crate::controller::CacheWriters,
    cd: &ChatDeployment,
) {
    use k8s_openapi::api::{
        apps::v1::{Deployment, StatefulSet},
        core::v1::{ConfigMap, Service},
        networking::v1::NetworkPolicy,
    };
    use kube::{Api, core::PartialObjectMetaExt, runtime::watcher::Event};

    use crate::resources::Object;
    let desired = desired(cd, &test_inputs(), &GeneratedValues::random()).unwrap();
    for object in desired.objects() {
        let name = object.name();
        match object {
            Object::ConfigMap(_) => {
                let o: ConfigMap = Api::namespaced(ctx.client.clone(), NAMESPACE)
                    .get(name)
                    .await
                    .unwrap();
                writers
                    .config_maps
                    .apply_watcher_event(&Event::Apply(o.metadata.into_response_partial()));
            }
            Object::Service(_) => {
                let o: Service = Api::namespaced(ctx.client.clone(), NAMESPACE)
                    .get(name)
                    .await
                    .unwrap();
                writers
                    .services
                    .apply_watcher_event(&Event::Apply(o.metadata.into_response_partial()));
            }
            Object::NetworkPolicy(_) => {
                let o: NetworkPolicy = Api::namespaced(ctx.client.clone(), NAMESPACE)
                    .get(name)
                    .await
                    .unwrap();
                writers
                    .network_policies
                    .apply_watcher_event(&Event::Apply(o.metadata.into_response_partial()));
            }
            Object::StatefulSet(_) => {
                let o: StatefulSet = Api::namespaced(ctx.client.clone(), NAMESPACE)
                    .get(name)
                    .await
                    .unwrap();
                writers.stateful_sets.apply_watcher_event(&Event::Apply(o));
            }
            Object::Deployment(_) => {
                let o: Deployment = Api::namespaced(ctx.client.clone(), NAMESPACE)
                    .get(name)
                    .await
                    .unwrap();
                writers.deployments.apply_watcher_event(&Event::Apply(o));
            }
            Object::Secret(_) | Object::Ingress(_) => {}
        }
    }
}

#[tokio::test]
async fn with_the_cache_current_a_reconcile_sends_nothing_and_a_child_status_change_only_patches_status()
 {
    let cd = ChatDeployment::test();
    let (_, first, _) = against(&cd, Scenario::default().ready(), async |ctx| {
        reconcile(Arc::new(cd.clone()), ctx).await
    })
    .await;
    let settled = cd.clone().with_status(status_patches(&first).remove(0));
    let scenario = Scenario::default()
        .ready()
        .with_secret("chat-auth-secret", &["BETTER_AUTH_SECRET"])
        .with_secret("chat-database", &["api-url"]);
    let (counts, recorded, _) =
        crate::fixtures::against_with_caches(&settled, scenario, async |ctx, mut writers| {
            // A fresh process applies everything once (the server answers no-ops).
            reconcile(Arc::new(settled.clone()), ctx.clone())
                .await
                .unwrap();
            let after_first = sent(&ctx);
            fill_caches(&ctx, &mut writers, &settled).await;
            let filled = sent(&ctx);
            // Nothing changed: no apply, no Secret create, no status patch.
            reconcile(Arc::new(settled.clone()), ctx.clone())
                .await
                .unwrap();
            let after_second = sent(&ctx);
            // The Deployment controller reports the API unavailable (status subresource only).
            let mut api = crate::controller::cached(&ctx.caches.deployments, NAMESPACE, "chat-api")
                .unwrap()
                .as_ref()
                .clone();
            api.status.as_mut().unwrap().available_replicas = Some(0);
            api.metadata.managed_fields = Some(vec![
                k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry {
                    manager: Some("kube-controller-manager".into()),
                    operation: Some("Update".into()),
                    subresource: Some("status".into()),
                    ..Default::default()
                },
            ]);
            writers
                .deployments
                .apply_watcher_event(&kube::runtime::watcher::Event::Apply(api));
            reconcile(Arc::new(settled.clone()), ctx.clone())
                .await
                .unwrap();
            (after_first, filled, after_second, sent(&ctx))
        })
        .await;
    let (after_first, filled, after_second, after_status) = counts;
    assert!(after_first > 0 && filled > after_first);
    assert_eq!(
        after_second, filled,
        "a reconcile with the cache current sent requests"
    );
    let last: Vec<(&str, &str)> = recorded[filled as usize..]
        .iter()
        .map(|r| (r.method.as_str(), r.path()))
        .collect();
    assert_eq!(after_status - after_second, last.len() as u64);
    assert_eq!(
        last,
        [
            (
                "PATCH",
                format!("/apis/chatplane.dev/v1alpha1/namespaces/{NAMESPACE}/chatdeployments/chat/status").as_str()
            ),
            ("POST", format!("/apis/events.k8s.io/v1/namespaces/{NAMESPACE}/events").as_str()),
        ],
        "a child's status change patches the ChatDeployment's status only"
    );
    assert_eq!(
        status_patches(&recorded).last().unwrap().phase,
        Some(chatplane_crds::Phase::Progressing)
    );
}

#[tokio::test]
async fn a_refused_delete_of_a_removed_ingress_shows_on_the_resource_and_is_retried() {
    let with_ingress = ChatDeployment::test().with_spec(|spec| {
        spec.ingress = Some(chatplane_crds::IngressSpec {
            class_name: None,
            host: "chat.example.com".to_owned(),
            tls: None,
        });
    });
    let (_, first, _) = against(&with_ingress, Scenario::default(), async |ctx| {
        reconcile(Arc::new(with_ingress.clone()), ctx).await
    })
    .await;
    let removed = ChatDeployment::test().with_status(status_patches(&first).remove(0));
    let path = format!("/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/ingresses/chat");
    let scenario = Scenario::default().refusing(
        &path,
        403,
        "Forbidden",
        "admission webhook \"keep.example.com\" denied the request: ingresses are kept",
    );
    let (result, recorded, _) = against(&removed, scenario, async |ctx| {
        reconcile(Arc::new(removed.clone()), ctx).await
    })
    .await;
    assert!(
        matches!(
            result,
            Err(Error::Degraded {
                reason: chatplane_crds::Reason::ApplyFailed,
                ..
            })
        ),
        "{result:?}"
    );
    let status = status_patches(&recorded).remove(0);
    let degraded = condition(&status, "Degraded");
    assert_eq!(
        degraded.reason,
        chatplane_crds::Reason::ApplyFailed.as_str()
    );
    assert!(
        degraded
            .message
            .starts_with("the deletion of Ingress \"chat\" was refused: admission webhook")
            && degraded.message.ends_with("(403 Forbidden)"),
        "{}",
        degraded.message
    );
    assert_eq!(
        status.endpoints.unwrap().ingress.as_deref(),
        Some("chat.example.com"),
        "kept, so the next reconcile tries the deletion again"
    );
    assert!(
        recorded
            .iter()
            .any(|r| r.path().ends_with("/events") && r.body["type"] == "Warning"),
        "a Warning event"
    );
}
