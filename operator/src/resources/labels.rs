//! Labels and metadata every owned object carries.

use std::collections::BTreeMap;

use chatplane_crds::ChatDeployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use kube::Resource;

pub const NAME_LABEL: &str = "app.kubernetes.io/name";
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const PART_OF_LABEL: &str = "app.kubernetes.io/part-of";
pub const MANAGED_BY: &str = "chatplane-operator";
/// The pod-template annotation whose change rolls the pods.
pub const CONFIG_HASH_ANNOTATION: &str = "chatplane.dev/config-hash";

/// The workloads of a ChatDeployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    Api,
    Auth,
    Postgres,
}

impl Component {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Auth => "auth",
            Self::Postgres => "postgres",
        }
    }
}

/// The labels that select a component's pods; stable for the life of the object.
pub fn selector_labels(instance: &str, component: Component) -> BTreeMap<String, String> {
    BTreeMap::from([
        (NAME_LABEL.to_owned(), "chatplane".to_owned()),
        (INSTANCE_LABEL.to_owned(), instance.to_owned()),
        (COMPONENT_LABEL.to_owned(), component.as_str().to_owned()),
    ])
}

pub fn labels(instance: &str, component: Component) -> BTreeMap<String, String> {
    let mut labels = selector_labels(instance, component);
    labels.insert(MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned());
    labels.insert(PART_OF_LABEL.to_owned(), "chatplane".to_owned());
    labels
}

pub fn selector(instance: &str, component: Component) -> LabelSelector {
    LabelSelector {
        match_labels: Some(selector_labels(instance, component)),
        ..Default::default()
    }
}

/// The controller owner reference: garbage collection removes the child with its parent, and
/// `Controller::owns` maps a change of the child back to the parent.
pub fn owner_reference(cd: &ChatDeployment, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: ChatDeployment::api_version(&()).into_owned(),
        kind: ChatDeployment::kind(&()).into_owned(),
        name: cd.metadata.name.clone().unwrap_or_default(),
        uid: uid.to_owned(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Metadata of an owned object; `owner` is `None` for what must outlive the ChatDeployment.
pub fn object_meta(
    name: String,
    namespace: &str,
    instance: &str,
    component: Component,
    owner: Option<&OwnerReference>,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(namespace.to_owned()),
        labels: Some(labels(instance, component)),
        owner_references: owner.map(|o| vec![o.clone()]),
        ..Default::default()
    }
}
