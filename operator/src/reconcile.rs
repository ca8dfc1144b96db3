//! `reconcile` (a thin wrapper: span, timer, finalizer), the two branches it dispatches to
//! (`apply_spec`, `cleanup`), and `error_policy`.

use std::{sync::Arc, time::Duration};

use chatplane_crds::{
    ChatDeployment, ChatDeploymentStatus, ConditionStatus, ConditionType, DeletionPolicy, Phase,
    Reason, SecretKeyRef,
};
use k8s_openapi::{
    NamespaceResourceScope,
    api::{
        apps::v1::{Deployment, StatefulSet},
        core::v1::{ConfigMap, PersistentVolumeClaim, Secret},
        networking::v1::Ingress,
    },
    apimachinery::pkg::apis::meta::v1::Time,
    jiff::Timestamp,
};
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{
        controller::Action,
        events::{Event, EventType},
        finalizer::{self, finalizer},
    },
};
use tracing::{info, instrument, warn};

use crate::{
    Error, Result,
    applied::Key,
    apply::{apply_unless_current, create_if_missing, delete_if_present},
    context::{Context, FIELD_MANAGER},
    controller::{cached, cached_meta},
    resources::{GeneratedValues, Inputs, Kind, Names, Object, data_claim_name_for, desired},
    status::{Observed, degraded_status, observed_status},
};

/// Held while the ChatDeployment exists, so deletion waits for `cleanup` (volume and Secrets).
pub const FINALIZER: &str = "chatplane.dev/cleanup";
/// Steady state: look again now and then even without a watch event.
const REQUEUE_READY: Duration = Duration::from_secs(300);
/// Rolling out: watch events of the owned workloads usually come first.
const REQUEUE_PROGRESSING: Duration = Duration::from_secs(30);

#[instrument(skip(cd, ctx), fields(name = %cd.name_any(), namespace = cd.namespace().unwrap_or_default()))]
pub async fn reconcile(cd: Arc<ChatDeployment>, ctx: Arc<Context>) -> Result<Action> {
    let mut measurer = ctx.metrics.reconcile.count_and_measure();
    let key = backoff_key(&cd);
    let result = dispatch(cd, ctx.clone()).await;
    match &result {
        Ok(_) => ctx.backoff.reset(&key),
        Err(error) => measurer.failed(error),
    }
    result
}

async fn dispatch(cd: Arc<ChatDeployment>, ctx: Arc<Context>) -> Result<Action> {
    let namespace = cd
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    let api: Api<ChatDeployment> = Api::namespaced(ctx.client.clone(), &namespace);
    finalizer(&api, FINALIZER, cd, |event| async {
        match event {
            finalizer::Event::Apply(cd) => apply_spec(cd, ctx.clone()).await,
            finalizer::Event::Cleanup(cd) => cleanup(cd, ctx.clone()).await,
        }
    })
    .await
    // Unwrap our own errors so the metric label names the cause, not the finalizer helper.
    .map_err(|error| match error {
        finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e,
        other => Error::FinalizerError(Box::new(other)),
    })
}

/// Logs, counts the failure by cause, and retries with a per-object exponential backoff, so a
/// missing Secret is neither a hot loop nor forgotten.
pub fn error_policy(cd: Arc<ChatDeployment>, error: &Error, ctx: Arc<Context>) -> Action {
    let delay = ctx.backoff.next_delay(&backoff_key(&cd));
    warn!(name = %cd.name_any(), %error, retry_in_secs = delay.as_secs(), "reconcile failed");
    ctx.metrics.reconcile.set_failure(error);
    Action::requeue(delay)
}

fn backoff_key(cd: &ChatDeployment) -> String {
    format!("{}/{}", cd.namespace().unwrap_or_default(), cd.name_any())
}

/// What the references in the spec resolved to.
enum References {
    /// Every one exists; the corpus ConfigMap's resourceVersion when the spec names one.
    Found { corpus_version: Option<String> },
    /// One does not: the reason and message of the Degraded condition.
    Missing { reason: Reason, message: String },
}

/// A namespaced API of the operator's client.
fn namespaced<K>(ctx: &Context, namespace: &str) -> Api<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
{
    Api::namespaced(ctx.client.clone(), namespace)
}

async fn apply_spec(cd: Arc<ChatDeployment>, ctx: Arc<Context>) -> Result<Action> {
    let namespace = cd
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    let names = Names::new(&cd.name_any(), &namespace);
    let now = Time(Timestamp::now());

    let corpus_version = match check_references(&cd, &ctx, &namespace).await? {
        References::Found { corpus_version } => corpus_version,
        References::Missing { reason, message } => {
            return degrade(&cd, &ctx, reason, message, &now).await;
        }
    };
    let inputs = Inputs {
        images: ctx.settings.images.clone(),
        corpus_version,
        otlp_endpoint: ctx.settings.otlp_endpoint.clone(),
    };
    let desired = match desired(&cd, &inputs, &GeneratedValues::random()) {
        Ok(desired) => desired,
        Err(Error::InvalidSpec(message)) => {
            return degrade(&cd, &ctx, Reason::InvalidSpec, message, &now).await;
        }
        Err(error) => return Err(error),
    };

    // The generated Secrets first, then every other object at once: nothing in Kubernetes needs
    // them in order (a pod waits for its Secret), and two round trips per reconcile instead of
    // one per object is what bounds how fast a thousand resources are taken up. Results are read
    // in apply order, so the first refusal in that order is the one shown. The workloads come
    // back as stored (or as cached, when nothing changed).
    let (secrets, others): (Vec<_>, Vec<_>) = desired
        .objects()
        .into_iter()
        .partition(|o| o.kind().created_once());
    let mut results =
        futures::future::join_all(secrets.iter().map(|o| apply_object(&ctx, &names, *o))).await;
    if results.iter().all(Result::is_ok) {
        results.extend(
            futures::future::join_all(others.iter().map(|o| apply_object(&ctx, &names, *o))).await,
        );
    }
    let (mut postgres, mut auth, mut api) = (None, None, None);
    for (object, applied) in secrets.into_iter().chain(others).zip(results) {
        let workload = match applied {
            Ok(workload) => workload,
            Err(error) => {
                return match refusal(&error, object.kind(), object.name(), "") {
                    Some(message) => degrade(&cd, &ctx, Reason::ApplyFailed, message, &now).await,
                    None => Err(error),
                };
            }
        };
        match (object, workload) {
            (_, Workload::None) => {}
            (_, Workload::StatefulSet(stored)) => postgres = stored,
            // Which of the two fields this object is.
            (Object::Deployment(o), Workload::Deployment(stored))
                if std::ptr::eq(o, &desired.auth) =>
            {
                auth = stored;
            }
            (_, Workload::Deployment(stored)) => api = stored,
        }
    }
    // `spec.ingress` was removed since the last status: the Ingress it made goes too.
    let had_ingress = cd
        .status
        .as_ref()
        .and_then(|s| s.endpoints.as_ref())
        .is_some_and(|e| e.ingress.is_some());
    if desired.ingress.is_none() && had_ingress {
        let ingresses = namespaced::<Ingress>(&ctx, &namespace);
        if let Err(error) = delete_if_present(&ingresses, &names.instance).await {
            // Refused like an apply (a webhook, a policy): shown on the resource the same way.
            return match refusal(&error, Kind::Ingress, &names.instance, "the deletion of ") {
                Some(message) => degrade(&cd, &ctx, Reason::ApplyFailed, message, &now).await,
                None => Err(error),
            };
        }
    }

    let observed = Observed {
        postgres: postgres.as_deref(),
        auth: auth.as_deref(),
        api: api.as_deref(),
    };
    let status = observed_status(&cd, &names, observed, &now);
    let phase = status.phase;
    patch_status_if_changed(&cd, &ctx, status).await?;
    Ok(Action::requeue(if phase == Some(Phase::Ready) {
        REQUEUE_READY
    } else {
        REQUEUE_PROGRESSING
    }))
}

/// A workload as the API server returned it (applied) or the watch cached it (skipped).
enum Workload {
    None,
    StatefulSet(Option<Arc<StatefulSet>>),
    Deployment(Option<Arc<Deployment>>),
}

/// Applies one owned object unless nothing changed (`apply_unless_current`); a generated
/// Secret is created when missing (a create whose 409 means it exists), sent only until this
/// process has seen it.
async fn apply_object(ctx: &Context, names: &Names, object: Object<'_>) -> Result<Workload> {
    let namespace = names.namespace.as_str();
    let name = object.name();
    let key = Key {
        namespace: namespace.to_owned(),
        instance: names.instance.clone(),
        kind: object.kind(),
        name: name.to_owned(),
    };
    let caches = &ctx.caches;
    let applied = &ctx.applied;
    match object {
        Object::Secret(secret) => {
            if !applied.knows(&key) {
                if create_if_missing(&namespaced(ctx, namespace), secret).await? {
                    info!(secret = name, "generated secret created");
                }
                applied.remember(key);
            }
            Ok(Workload::None)
        }
        Object::ConfigMap(o) => {
            let cached = cached_meta(&caches.config_maps, namespace, name);
            apply_unless_current(
                &namespaced(ctx, namespace),
                applied,
                key,
                o,
                cached.as_ref(),
            )
            .await
            .map(|_| Workload::None)
        }
        Object::Service(o) => {
            let cached = cached_meta(&caches.services, namespace, name);
            apply_unless_current(
                &namespaced(ctx, namespace),
                applied,
                key,
                o,
                cached.as_ref(),
            )
            .await
            .map(|_| Workload::None)
        }
        Object::NetworkPolicy(o) => {
            let cached = cached_meta(&caches.network_policies, namespace, name);
            apply_unless_current(
                &namespaced(ctx, namespace),
                applied,
                key,
                o,
                cached.as_ref(),
            )
            .await
            .map(|_| Workload::None)
        }
        Object::Ingress(o) => {
            let cached = cached_meta(&caches.ingresses, namespace, name);
            apply_unless_current(
                &namespaced(ctx, namespace),
                applied,
                key,
                o,
                cached.as_ref(),
            )
            .await
            .map(|_| Workload::None)
        }
        Object::StatefulSet(o) => {
            let cached = cached(&caches.stateful_sets, namespace, name);
            let stored = apply_unless_current(
                &namespaced(ctx, namespace),
                applied,
                key,
                o,
                cached.as_deref().map(|c| &c.metadata),
            )
            .await?;
            Ok(Workload::StatefulSet(stored.map(Arc::new).or(cached)))
        }
        Object::Deployment(o) => {
            let cached = cached(&caches.deployments, namespace, name);
            let stored = apply_unless_current(
                &namespaced(ctx, namespace),
                applied,
                key,
                o,
                cached.as_deref().map(|c| &c.metadata),
            )
            .await?;
            Ok(Workload::Deployment(stored.map(Arc::new).or(cached)))
        }
    }
}

/// The API server's answer when it refused an owned object (a quota, an admission webhook, a
/// policy): the Degraded message names the object and carries the server's words, so the user
/// sees it on the resource. `None` for errors without an answer (transport): those are only retried.
/// `what` prefixes the object for a request other than the apply ("the deletion of ").
fn refusal(error: &Error, kind: Kind, name: &str, what: &str) -> Option<String> {
    let Error::KubeError(kube::Error::Api(status)) = error else {
        return None;
    };
    Some(format!(
        "{what}{kind:?} \"{name}\" was refused: {} ({} {})",
        status.message, status.code, status.reason
    ))
}

/// Records why the spec cannot be applied, then fails so `error_policy` backs off.
async fn degrade(
    cd: &ChatDeployment,
    ctx: &Context,
    reason: Reason,
    message: String,
    now: &Time,
) -> Result<Action> {
    let status = degraded_status(cd, reason, &message, now);
    patch_status_if_changed(cd, ctx, status).await?;
    Err(Error::Degraded { reason, message })
}

/// Server-side applies the status subresource, only when it differs from the stored one, and
/// publishes an Event when the phase or the Degraded reason changes.
async fn patch_status_if_changed(
    cd: &ChatDeployment,
    ctx: &Context,
    status: ChatDeploymentStatus,
) -> Result<()> {
    let previous = cd.status.clone().unwrap_or_default();
    if previous == status {
        return Ok(());
    }
    let namespace = cd
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    let api: Api<ChatDeployment> = Api::namespaced(ctx.client.clone(), &namespace);
    let body = serde_json::json!({
        "apiVersion": ChatDeployment::api_version(&()),
        "kind": ChatDeployment::kind(&()),
        "status": status,
    });
    api.patch_status(
        &cd.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(body),
    )
    .await
    .map_err(Error::KubeError)?;
    let degraded_reason = |s: &ChatDeploymentStatus| {
        s.condition_if(ConditionType::Degraded, ConditionStatus::True)
            .map(|c| c.reason.clone())
    };
    if previous.phase != status.phase || degraded_reason(&previous) != degraded_reason(&status) {
        publish_transition(cd, ctx, &status).await;
    }
    Ok(())
}

async fn publish_transition(cd: &ChatDeployment, ctx: &Context, status: &ChatDeploymentStatus) {
    let ready = status.condition(ConditionType::Ready);
    let degraded = status.condition_if(ConditionType::Degraded, ConditionStatus::True);
    let (type_, reason, note) = match (status.phase, degraded) {
        (Some(Phase::Degraded), Some(c)) => {
            (EventType::Warning, c.reason.clone(), c.message.clone())
        }
        (phase, _) => (
            EventType::Normal,
            phase.map_or("Unknown", Phase::as_str).to_owned(),
            ready.map(|c| c.message.clone()).unwrap_or_default(),
        ),
    };
    let event = Event {
        type_,
        reason,
        note: Some(note),
        action: "Reconcile".to_owned(),
        secondary: None,
    };
    // Events are best effort: a failure to publish one must not fail the reconcile.
    if let Err(error) = ctx.recorder.publish(&event, &cd.object_ref(&())).await {
        warn!(%error, "publishing an event failed");
    }
}

/// Resolves every Secret and ConfigMap the spec names; a missing one is reported with a reason
/// the user can act on. `Err` only when the API server cannot be asked.
async fn check_references(
    cd: &ChatDeployment,
    ctx: &Context,
    namespace: &str,
) -> Result<References> {
    let secrets: Api<Secret> = namespaced(ctx, namespace);
    let spec = &cd.spec;
    let mut refs: Vec<(&str, &SecretKeyRef)> = Vec::new();
    if let Some(r) = &spec.auth.secret_ref {
        refs.push(("spec.auth.secretRef", r));
    }
    if let Some(external) = &spec.database.external {
        refs.push((
            "spec.database.external.apiUrlSecretRef",
            &external.api_url_secret_ref,
        ));
        refs.push((
            "spec.database.external.authUrlSecretRef",
            &external.auth_url_secret_ref,
        ));
    }
    if let Some(r) = spec
        .rag
        .llm
        .as_ref()
        .and_then(|l| l.api_key_secret_ref.as_ref())
    {
        refs.push(("spec.rag.llm.apiKeySecretRef", r));
    }
    for (field, reference) in refs {
        let Some(secret) = secrets
            .get_opt(&reference.name)
            .await
            .map_err(Error::KubeError)?
        else {
            return Ok(References::Missing {
                reason: Reason::SecretNotFound,
                message: format!(
                    "Secret {:?} named by {field} does not exist in namespace {namespace:?}; create it or fix the reference.",
                    reference.name
                ),
            });
        };
        let has_key = secret
            .data
            .as_ref()
            .is_some_and(|d| d.contains_key(&reference.key))
            || secret
                .string_data
                .as_ref()
                .is_some_and(|d| d.contains_key(&reference.key));
        if !has_key {
            return Ok(References::Missing {
                reason: Reason::SecretKeyMissing,
                message: format!(
                    "Secret {:?} named by {field} has no key {:?}; add it or fix the reference.",
                    reference.name, reference.key
                ),
            });
        }
    }
    let corpus_version = match &spec.rag.corpus {
        Some(corpus) => {
            let config_maps: Api<ConfigMap> = namespaced(ctx, namespace);
            let name = &corpus.config_map_ref.name;
            let Some(found) = config_maps
                .get_metadata_opt(name)
                .await
                .map_err(Error::KubeError)?
            else {
                return Ok(References::Missing {
                    reason: Reason::ConfigMapNotFound,
                    message: format!(
                        "ConfigMap {name:?} named by spec.rag.corpus.configMapRef does not exist in namespace {namespace:?}; create it or fix the reference."
                    ),
                });
            };
            found.metadata.resource_version
        }
        None => None,
    };
    Ok(References::Found { corpus_version })
}

/// Runs while the ChatDeployment is being deleted. Owner references take the workloads away;
/// this decides the fate of the data: kept unless `deletionPolicy: Delete`.
async fn cleanup(cd: Arc<ChatDeployment>, ctx: Arc<Context>) -> Result<Action> {
    let namespace = cd
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    let names = Names::new(&cd.name_any(), &namespace);
    let claim = data_claim_name_for(&names);
    let delete = cd
        .spec
        .database
        .managed
        .as_ref()
        .is_some_and(|m| m.deletion_policy == DeletionPolicy::Delete);
    let (reason, note) = if delete {
        let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
        delete_if_present(&secrets, &names.database_secret()).await?;
        if cd.spec.auth.secret_ref.is_none() {
            delete_if_present(&secrets, &names.auth_secret()).await?;
        }
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &namespace);
        delete_if_present(&claims, &claim).await?;
        (
            "DataDeleted",
            format!(
                "deletionPolicy Delete: deleted PersistentVolumeClaim {claim} and the generated Secrets."
            ),
        )
    } else {
        (
            "DataRetained",
            format!(
                "Kept the generated Secrets{}; re-create a ChatDeployment named {:?} to reuse them.",
                if cd.spec.database.managed.is_some() {
                    format!(" and PersistentVolumeClaim {claim}")
                } else {
                    String::new()
                },
                names.instance
            ),
        )
    };
    let event = Event {
        type_: EventType::Normal,
        reason: reason.to_owned(),
        note: Some(note),
        action: "Delete".to_owned(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, &cd.object_ref(&())).await {
        warn!(%error, "publishing an event failed");
    }
    // A new ChatDeployment of this name starts afresh (its Secrets may have been deleted).
    ctx.applied.forget(&namespace, &names.instance);
    Ok(Action::await_change())
}

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod tests;
