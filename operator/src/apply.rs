//! Writes to the API server: server-side apply for every owned object under one field manager,
//! and create-only for generated Secrets.

use std::fmt::Debug;

use k8s_openapi::{api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use kube::{
    Api, Resource,
    api::{Patch, PatchParams, PostParams},
};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    Error, Result,
    applied::{Applied, Key, desired_hash},
    context::FIELD_MANAGER,
};

/// Server-side apply with `force`: the operator owns these fields, and another manager's edit of
/// them is reverted rather than left to conflict. Returns the object as stored (with status).
pub async fn apply<K>(api: &Api<K>, object: &K) -> Result<K>
where
    K: Resource + Serialize + DeserializeOwned + Clone + Debug,
{
    let name = object
        .meta()
        .name
        .as_deref()
        .ok_or(Error::MissingObjectKey("metadata.name"))?;
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(object),
    )
    .await
    .map_err(Error::KubeError)
}

/// `apply`, unless `applied` shows it would change nothing: the same body as this process last
/// applied, and `cached` (the watch's copy) unwritten since. `None` when skipped.
pub async fn apply_unless_current<K>(
    api: &Api<K>,
    applied: &Applied,
    key: Key,
    object: &K,
    cached: Option<&ObjectMeta>,
) -> Result<Option<K>>
where
    K: Resource + Serialize + DeserializeOwned + Clone + Debug,
{
    let desired = desired_hash(object)?;
    if applied.is_current(&key, desired, cached) {
        return Ok(None);
    }
    let stored = apply(api, object).await?;
    applied.record(key, desired, stored.meta());
    Ok(Some(stored))
}

/// Creates the Secret unless one of that name exists; an existing one is never read into,
/// replaced or patched. Returns whether it was created. The create is sent without looking
/// first: an existing Secret answers 409 in the one round trip a lookup would have cost, and a
/// missing one (every new ChatDeployment) is created in one instead of two.
pub async fn create_if_missing(api: &Api<Secret>, secret: &Secret) -> Result<bool> {
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..Default::default()
    };
    match api.create(&params, secret).await {
        Ok(_) => Ok(true),
        // It exists: made by an earlier reconcile, another replica, or the user. Keep it.
        Err(kube::Error::Api(status)) if status.is_already_exists() => Ok(false),
        Err(e) => Err(Error::KubeError(e)),
    }
}

/// Deletes by name; absent is fine.
pub async fn delete_if_present<K>(api: &Api<K>, name: &str) -> Result<bool>
where
    K: Resource + DeserializeOwned + Clone + Debug,
{
    match api.delete(name, &Default::default()).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(false),
        Err(e) => Err(Error::KubeError(e)),
    }
}
