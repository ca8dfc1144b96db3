//! Pieces every pod shares: the restricted security context, probes, resources, scratch volumes.

use std::collections::BTreeMap;

use chatplane_crds::{ResourceAmounts, ResourceSpec};
use k8s_openapi::{
    api::core::v1::{
        Capabilities, EmptyDirVolumeSource, EnvVar, EnvVarSource, ExecAction, HTTPGetAction,
        PodSecurityContext, Probe, ResourceRequirements, SeccompProfile, SecretKeySelector,
        SecurityContext, Volume, VolumeMount,
    },
    apimachinery::pkg::{api::resource::Quantity, util::intstr::IntOrString},
};

/// Pod level: non-root with a fixed uid, files group-owned by `fs_group`, seccomp RuntimeDefault
/// (the Pod Security Standard "restricted" profile).
pub fn pod_security_context(uid: i64) -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(uid),
        run_as_group: Some(uid),
        fs_group: Some(uid),
        seccomp_profile: Some(runtime_default_seccomp()),
        ..Default::default()
    }
}

/// Container level: read-only root, no privilege escalation, every capability dropped.
pub fn container_security_context() -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        privileged: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_owned()]),
            add: None,
        }),
        seccomp_profile: Some(runtime_default_seccomp()),
        ..Default::default()
    }
}

fn runtime_default_seccomp() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".to_owned(),
        localhost_profile: None,
    }
}

pub fn http_probe(path: &str, port: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String(port.to_owned()),
            ..Default::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(3),
        failure_threshold: Some(failures),
        ..Default::default()
    }
}

pub fn exec_probe(command: &[&str], period: i32, failures: i32) -> Probe {
    Probe {
        exec: Some(ExecAction {
            command: Some(command.iter().map(|s| (*s).to_owned()).collect()),
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(5),
        failure_threshold: Some(failures),
        ..Default::default()
    }
}

/// Requests and limits: the spec's values over a component's defaults, key by key.
pub fn resources(spec: Option<&ResourceSpec>, defaults: &ResourceSpec) -> ResourceRequirements {
    let pick = |user: Option<&ResourceAmounts>, fallback: Option<&ResourceAmounts>| {
        let mut map = BTreeMap::new();
        let cpu = user
            .and_then(|a| a.cpu.clone())
            .or_else(|| fallback.and_then(|a| a.cpu.clone()));
        let memory = user
            .and_then(|a| a.memory.clone())
            .or_else(|| fallback.and_then(|a| a.memory.clone()));
        if let Some(cpu) = cpu {
            map.insert("cpu".to_owned(), Quantity(cpu));
        }
        if let Some(memory) = memory {
            map.insert("memory".to_owned(), Quantity(memory));
        }
        (!map.is_empty()).then_some(map)
    };
    ResourceRequirements {
        requests: pick(
            spec.and_then(|s| s.requests.as_ref()),
            defaults.requests.as_ref(),
        ),
        limits: pick(
            spec.and_then(|s| s.limits.as_ref()),
            defaults.limits.as_ref(),
        ),
        ..Default::default()
    }
}

pub fn amounts(cpu: &str, memory: &str) -> Option<ResourceAmounts> {
    Some(ResourceAmounts {
        cpu: Some(cpu.to_owned()),
        memory: Some(memory.to_owned()),
    })
}

pub fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.into()),
        value_from: None,
    }
}

pub fn env_from_secret(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_owned(),
                key: key.to_owned(),
                optional: Some(false),
            }),
            ..Default::default()
        }),
    }
}

/// A writable scratch directory for a read-only root filesystem.
pub fn scratch_volume(name: &str) -> Volume {
    Volume {
        name: name.to_owned(),
        empty_dir: Some(EmptyDirVolumeSource {
            size_limit: Some(Quantity("64Mi".to_owned())),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        read_only: Some(read_only),
        ..Default::default()
    }
}
