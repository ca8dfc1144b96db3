//! What the operator asks of the API server, as RBAC permissions: the owned kinds (`Kind::ALL`:
//! applied or created, and watched) plus the few other calls, each named where it is made. The
//! chart's ClusterRole and leader-election Role must grant exactly these (tested below, along
//! with every request the reconcile scenarios make).

use std::collections::BTreeSet;

use chatplane_crds::ChatDeployment;
use k8s_openapi::api::{
    coordination::v1::Lease,
    core::v1::{ConfigMap, PersistentVolumeClaim, Secret},
    events::v1::Event,
    networking::v1::Ingress,
};
use kube::Resource;

use crate::resources::Kind;

/// One permission: API group (`""` for the core group), resource (with `/subresource`), verb.
pub type Permission = (String, String, String);

fn grant(rules: &mut BTreeSet<Permission>, group: &str, resource: &str, verbs: &[&str]) {
    for verb in verbs {
        rules.insert((group.to_owned(), resource.to_owned(), (*verb).to_owned()));
    }
}

fn grant_on<K: k8s_openapi::Resource>(rules: &mut BTreeSet<Permission>, verbs: &[&str]) {
    grant(rules, K::GROUP, K::URL_PATH_SEGMENT, verbs);
}

/// Cluster-wide: ChatDeployments and their children live in any namespace.
pub fn cluster_permissions() -> BTreeSet<Permission> {
    let mut rules = BTreeSet::new();
    for kind in Kind::ALL {
        let verbs: &[&str] = if kind.created_once() {
            // `apply::create_if_missing`: a create, whose 409 says it exists.
            &["create"]
        } else {
            // Server-side apply: a patch that creates the object when it is missing.
            &["create", "patch"]
        };
        let (group, resource) = kind.resource();
        grant(&mut rules, group, resource, verbs);
        if kind.watched() {
            grant(&mut rules, group, resource, &["list", "watch"]);
        }
    }
    let (group, plural) = (ChatDeployment::group(&()), ChatDeployment::plural(&()));
    let subresource = |name: &str| format!("{plural}/{name}");
    // `controller::run`: a list at start-up, then the watch; the finalizer helper's JSON patches.
    grant(&mut rules, &group, &plural, &["list", "watch", "patch"]);
    // `reconcile::patch_status_if_changed`.
    grant(&mut rules, &group, &subresource("status"), &["patch"]);
    // Children's owner references set blockOwnerDeletion, which the API server allows only to
    // whoever may update the owner's finalizers.
    grant(&mut rules, &group, &subresource("finalizers"), &["update"]);
    // `reconcile::check_references`: the Secrets and the corpus ConfigMap a spec names.
    grant_on::<Secret>(&mut rules, &["get"]);
    grant_on::<ConfigMap>(&mut rules, &["get"]);
    // `reconcile::apply_spec`: the Ingress of a removed `spec.ingress`.
    grant_on::<Ingress>(&mut rules, &["delete"]);
    // `reconcile::cleanup` with deletionPolicy Delete: the generated Secrets and the data claim.
    grant_on::<Secret>(&mut rules, &["delete"]);
    grant_on::<PersistentVolumeClaim>(&mut rules, &["delete"]);
    // The event recorder creates an event, and patches it when it repeats.
    grant_on::<Event>(&mut rules, &["create", "patch"]);
    rules
}

/// In the operator's own namespace: `leader::LeaseLock` reads, creates and replaces its Lease.
pub fn leader_election_permissions() -> BTreeSet<Permission> {
    let mut rules = BTreeSet::new();
    grant_on::<Lease>(&mut rules, &["get", "create", "update"]);
    rules
}

#[cfg(test)]
#[path = "rbac_tests.rs"]
mod tests;
