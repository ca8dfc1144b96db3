//! Memory of the operator's caches with 1,000 ChatDeployments: `cargo bench -p chatplane-operator --bench cache_memory`.
//!
//! The controller keeps one reflector store: every ChatDeployment, as the API server returns it
//! (status, managedFields, kubectl's last-applied annotation). Owned objects are watched through
//! metadata-only watches that cache nothing (`Controller::owns`). To bound what a future cache of
//! children would cost, a second figure adds a full-object store of every owned object as built
//! (with status, without managedFields). A counting allocator measures live heap bytes.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::atomic::{AtomicIsize, Ordering},
};

use chatplane_crds::ChatDeployment;
use chatplane_operator::{
    render,
    resources::{GeneratedValues, Images, Inputs, Object, desired},
};
use k8s_openapi::api::{
    apps::v1::{Deployment, StatefulSet},
    core::v1::{ConfigMap, Secret, Service},
    networking::v1::{Ingress, NetworkPolicy},
};
use kube::runtime::{reflector::store::Writer, watcher::Event};
use serde_json::{Value, json};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const COUNT: usize = 1_000;

/// `f:`-keyed field sets shaped like the API server's managedFields for `value`.
fn fields_v1(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (format!("f:{k}"), fields_v1(v)))
                .collect(),
        ),
        _ => json!({}),
    }
}

/// One ChatDeployment as a watch event delivers it.
fn stored(template: &Value, i: usize) -> ChatDeployment {
    let mut cd = template.clone();
    let name = format!("chat-{i:04}");
    cd["metadata"]["name"] = json!(name);
    cd["metadata"]["namespace"] = json!(format!("team-{:02}", i % 50));
    cd["metadata"]["uid"] = json!(format!("6f1c2d3e-0000-4000-8000-{i:012}"));
    cd["metadata"]["resourceVersion"] = json!(format!("{}", 100_000 + i));
    cd["metadata"]["generation"] = json!(1);
    cd["metadata"]["creationTimestamp"] = json!("2026-11-27T07:00:00Z");
    cd["metadata"]["finalizers"] = json!(["chatplane.dev/cleanup"]);
    let applied = json!({"apiVersion": cd["apiVersion"], "kind": cd["kind"], "metadata": {"name": name, "namespace": cd["metadata"]["namespace"]}, "spec": cd["spec"]});
    cd["metadata"]["annotations"] =
        json!({"kubectl.kubernetes.io/last-applied-configuration": applied.to_string()});
    let conditions: Vec<Value> = ["Ready", "DatabaseReady", "AuthReady", "ApiReady", "Degraded"]
        .iter()
        .map(|t| json!({"type": t, "status": "True", "reason": "DeploymentAvailable", "message": "3/3 API replicas available, 3 updated.", "observedGeneration": 1, "lastTransitionTime": "2026-11-27T07:01:00Z"}))
        .collect();
    cd["status"] = json!({
        "observedGeneration": 1, "phase": "Ready", "conditions": conditions,
        "endpoints": {"public": cd["spec"]["publicUrl"], "api": format!("http://{name}-api.team.svc:8080"), "auth": format!("http://{name}-auth.team.svc:3000")}
    });
    cd["metadata"]["managedFields"] = json!([
        {"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "chatplane.dev/v1alpha1", "time": "2026-11-27T07:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:annotations": {}}, "f:spec": fields_v1(&cd["spec"])}},
        {"manager": "chatplane-operator", "operation": "Apply", "apiVersion": "chatplane.dev/v1alpha1", "time": "2026-11-27T07:01:00Z", "fieldsType": "FieldsV1", "subresource": "status", "fieldsV1": {"f:status": fields_v1(&cd["status"])}},
        {"manager": "chatplane-operator", "operation": "Update", "apiVersion": "chatplane.dev/v1alpha1", "time": "2026-11-27T07:00:01Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:finalizers": {}}}}
    ]);
    serde_json::from_value(cd).expect("a ChatDeployment")
}

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn mib(bytes: isize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() {
    // At run time, as the tests do: `env!`'s checkout may be another than the one benchmarked.
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo bench");
    let path = &format!("{dir}/../examples/ingress-tls.yaml");
    let template =
        serde_json::to_value(render::parse_file(path).expect("a valid example")).expect("json");
    let inputs = Inputs::new(Images::defaults());

    let before = live();
    let mut chat_deployments = Writer::<ChatDeployment>::default();
    for i in 0..COUNT {
        chat_deployments.apply_watcher_event(&Event::Apply(stored(&template, i)));
    }
    let controller_cache = live() - before;
    let reader = chat_deployments.as_reader();
    assert_eq!(reader.state().len(), COUNT);

    // The bound: every owned object cached in full as well.
    let before_children = live();
    let mut secrets = Writer::<Secret>::default();
    let mut config_maps = Writer::<ConfigMap>::default();
    let mut services = Writer::<Service>::default();
    let mut stateful_sets = Writer::<StatefulSet>::default();
    let mut deployments = Writer::<Deployment>::default();
    let mut policies = Writer::<NetworkPolicy>::default();
    let mut ingresses = Writer::<Ingress>::default();
    let mut children = 0;
    for cd in reader.state() {
        let d = desired(&cd, &inputs, &GeneratedValues::random()).expect("desired");
        children += d.manifests().expect("manifests").len();
        for object in d.objects() {
            match object {
                Object::Secret(o) => secrets.apply_watcher_event(&Event::Apply(o.clone())),
                Object::ConfigMap(o) => config_maps.apply_watcher_event(&Event::Apply(o.clone())),
                Object::Service(o) => services.apply_watcher_event(&Event::Apply(o.clone())),
                Object::StatefulSet(o) => {
                    stateful_sets.apply_watcher_event(&Event::Apply(o.clone()))
                }
                Object::Deployment(o) => deployments.apply_watcher_event(&Event::Apply(o.clone())),
                Object::NetworkPolicy(o) => policies.apply_watcher_event(&Event::Apply(o.clone())),
                Object::Ingress(o) => ingresses.apply_watcher_event(&Event::Apply(o.clone())),
            }
        }
    }
    let children_cache = live() - before_children;
    println!(
        "ChatDeployments cached: {COUNT} ({} bytes each as JSON)",
        serde_json::to_vec(&*reader.state()[0]).expect("json").len()
    );
    println!(
        "controller cache (ChatDeployment store): {:.1} MiB",
        mib(controller_cache)
    );
    println!(
        "owned objects: {children}; full-object stores of them: {:.1} MiB",
        mib(children_cache)
    );
    println!(
        "total, with every owned object cached too: {:.1} MiB",
        mib(controller_cache + children_cache)
    );
    assert!(
        controller_cache < 100 * 1024 * 1024,
        "the controller cache is over the 100 MiB target"
    );
}
