//! What this process last applied, so a reconcile skips an apply that would change nothing.
//!
//! An apply is skipped when both hold: the desired object serializes to the same bytes as the
//! one last applied (`desired_hash`), and the watch cache shows nobody has written the object's
//! non-status fields since (`fingerprint`: its uid, generation and the managedFields entries
//! outside subresources, which the API server rewrites whenever a manager changes a field it
//! owns). A status-only change of a child (the Deployment controller's) leaves the fingerprint
//! alone, so it costs a reconcile no apply at all; anyone's edit of the spec, labels or
//! annotations, a deletion or a re-creation changes it, and the next reconcile applies (and, with
//! `force`, reverts) as before. Nothing here survives a restart: a new process applies
//! everything once (no-ops for the server).

use std::{
    collections::HashMap,
    hash::{DefaultHasher, Hash, Hasher},
    sync::Mutex,
};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use crate::{Error, Result, resources::Kind};

/// One owned object of one ChatDeployment.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct Key {
    pub namespace: String,
    /// The ChatDeployment's name: `forget` drops all of one instance.
    pub instance: String,
    pub kind: Kind,
    pub name: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Record {
    desired: u64,
    fingerprint: u64,
}

#[derive(Debug, Default)]
pub struct Applied {
    records: Mutex<HashMap<Key, Record>>,
}

/// The desired object as applied: a hash of its JSON body.
pub fn desired_hash<K: Serialize>(object: &K) -> Result<u64> {
    let bytes = serde_json::to_vec(object).map_err(Error::SerializationError)?;
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    Ok(hasher.finish())
}

/// Who wrote the object's non-status fields, and when: changes with every such write.
pub fn fingerprint(meta: &ObjectMeta) -> u64 {
    let mut hasher = DefaultHasher::new();
    meta.uid.hash(&mut hasher);
    meta.generation.hash(&mut hasher);
    meta.deletion_timestamp.is_some().hash(&mut hasher);
    for entry in meta.managed_fields.iter().flatten() {
        if entry.subresource.as_deref().is_some_and(|s| !s.is_empty()) {
            continue;
        }
        entry.manager.hash(&mut hasher);
        entry.operation.hash(&mut hasher);
        entry.api_version.hash(&mut hasher);
        entry
            .time
            .as_ref()
            .map(|t| t.0.as_second())
            .hash(&mut hasher);
    }
    hasher.finish()
}

/// The watch cache keeps only what `fingerprint` and the status read: the managedFields' field
/// sets (the bulk of an object's metadata) are dropped.
pub fn strip_field_sets(meta: &mut ObjectMeta) {
    for entry in meta.managed_fields.iter_mut().flatten() {
        entry.fields_v1 = None;
    }
}

impl Applied {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Record>> {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// True when applying `desired` would change nothing: the same body as last applied, and the
    /// cached object (`None`: not in the cache) unwritten since.
    pub fn is_current(&self, key: &Key, desired: u64, cached: Option<&ObjectMeta>) -> bool {
        let Some(cached) = cached else {
            return false;
        };
        self.lock().get(key)
            == Some(&Record {
                desired,
                fingerprint: fingerprint(cached),
            })
    }

    /// After a successful apply: the body sent and the object as the server returned it.
    pub fn record(&self, key: Key, desired: u64, stored: &ObjectMeta) {
        let fingerprint = fingerprint(stored);
        self.lock().insert(
            key,
            Record {
                desired,
                fingerprint,
            },
        );
    }

    /// A created-once object (a generated Secret) known to exist: no need to look again.
    pub fn knows(&self, key: &Key) -> bool {
        self.lock().contains_key(key)
    }

    pub fn remember(&self, key: Key) {
        self.lock().insert(
            key,
            Record {
                desired: 0,
                fingerprint: 0,
            },
        );
    }

    /// Everything of one ChatDeployment (deleted: a new one of that name starts afresh).
    pub fn forget(&self, namespace: &str, instance: &str) {
        self.lock()
            .retain(|key, _| key.namespace != namespace || key.instance != instance);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::{
        apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry, ObjectMeta, Time},
        jiff::Timestamp,
    };

    use super::{Applied, Key, desired_hash, fingerprint, strip_field_sets};
    use crate::resources::Kind;

    fn entry(manager: &str, second: i64, subresource: Option<&str>) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: Some(manager.into()),
            operation: Some(
                if manager == "chatplane-operator" {
                    "Apply"
                } else {
                    "Update"
                }
                .into(),
            ),
            api_version: Some("apps/v1".into()),
            time: Some(Time(Timestamp::from_second(second).unwrap())),
            subresource: subresource.map(Into::into),
            fields_v1: Some(FieldsV1(serde_json::json!({"f:spec": {}}))),
            ..Default::default()
        }
    }

    fn stored(entries: Vec<ManagedFieldsEntry>) -> ObjectMeta {
        ObjectMeta {
            name: Some("chat-api".into()),
            uid: Some("u1".into()),
            generation: Some(2),
            resource_version: Some("10".into()),
            managed_fields: Some(entries),
            ..Default::default()
        }
    }

    fn key(instance: &str) -> Key {
        Key {
            namespace: "ns".into(),
            instance: instance.into(),
            kind: Kind::Deployment,
            name: format!("{instance}-api"),
        }
    }

    #[test]
    fn a_no_op_apply_is_skipped_and_any_write_since_or_a_new_body_applies_again() {
        let applied = Applied::default();
        let ours = vec![entry("chatplane-operator", 100, None)];
        let desired = desired_hash(&serde_json::json!({"spec": {"replicas": 1}})).unwrap();
        let response = stored(ours.clone());
        assert!(
            !applied.is_current(&key("chat"), desired, Some(&response)),
            "never applied by this process"
        );
        applied.record(key("chat"), desired, &response);

        // The watch's copy: the field sets stripped, a newer resourceVersion and a status write
        // by the Deployment controller (subresource status).
        let mut cached = stored(vec![
            entry("chatplane-operator", 100, None),
            entry("kube-controller-manager", 130, Some("status")),
        ]);
        cached.resource_version = Some("12".into());
        strip_field_sets(&mut cached);
        assert!(applied.is_current(&key("chat"), desired, Some(&cached)));
        assert!(
            !applied.is_current(&key("chat"), desired, None),
            "not in the cache"
        );

        let other = desired_hash(&serde_json::json!({"spec": {"replicas": 2}})).unwrap();
        assert!(
            !applied.is_current(&key("chat"), other, Some(&cached)),
            "a new desired body"
        );
        let mut edited = cached.clone();
        edited
            .managed_fields
            .as_mut()
            .unwrap()
            .push(entry("kubectl-edit", 140, None));
        assert!(
            !applied.is_current(&key("chat"), desired, Some(&edited)),
            "another manager wrote"
        );
        let mut recreated = cached.clone();
        recreated.uid = Some("u2".into());
        assert!(!applied.is_current(&key("chat"), desired, Some(&recreated)));
        let mut rolled = cached.clone();
        rolled.generation = Some(3);
        assert!(!applied.is_current(&key("chat"), desired, Some(&rolled)));
        assert_eq!(fingerprint(&cached), fingerprint(&response));
    }

    #[test]
    fn forgetting_an_instance_drops_only_its_records() {
        let applied = Applied::default();
        applied.remember(key("chat"));
        applied.remember(key("chat2"));
        applied.forget("ns", "chat");
        assert!(!applied.knows(&key("chat")));
        assert!(applied.knows(&key("chat2")));
        assert_eq!(applied.len(), 1);
    }
}
