//! The managed PostgreSQL: the init step's ConfigMap (sql/postgres-init.sh and sql/provision.sql),
//! a StatefulSet (init container, then the server) with a volume claim template, and a headless
//! plus a normal Service.

use std::collections::BTreeMap;

use chatplane_crds::{DeletionPolicy, ManagedDatabase, ResourceSpec};
use k8s_openapi::{
    api::{
        apps::v1::{StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec},
        core::v1::{
            ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, PersistentVolumeClaim,
            PersistentVolumeClaimSpec, PodSpec, PodTemplateSpec, Service, ServicePort, ServiceSpec,
            Volume, VolumeResourceRequirements,
        },
    },
    apimachinery::pkg::{
        api::resource::Quantity, apis::meta::v1::ObjectMeta, util::intstr::IntOrString,
    },
};

use super::{
    Scope,
    config_hash::config_hash,
    labels::{CONFIG_HASH_ANNOTATION, Component, labels, selector, selector_labels},
    names::{API_DATABASE, AUTH_DATABASE, POSTGRES_PORT},
    pod::{
        amounts, container_security_context, env, env_from_secret, exec_probe, mount,
        pod_security_context, resources, scratch_volume,
    },
    secrets::{API_PASSWORD_KEY, AUTH_PASSWORD_KEY, POSTGRES_PASSWORD_KEY},
};

/// The uid of the `postgres` user in Debian-based images (the official one, Debian's packages
/// as scripts/images.sh builds them, CloudNativePG's).
const POSTGRES_UID: i64 = 999;
const DATA_DIR: &str = "/var/lib/postgresql/data";
/// A subdirectory of the volume: a fresh volume's lost+found would make initdb refuse the mount.
const PGDATA: &str = "/var/lib/postgresql/data/pgdata";
const SOCKET_DIR: &str = "/var/run/postgresql";
/// Where the init container sees the ConfigMap's two files.
const INIT_DIR: &str = "/chatplane-init";
pub(super) const INIT_SCRIPT_KEY: &str = "postgres-init.sh";
pub(super) const PROVISION_SQL_KEY: &str = "provision.sql";

/// The one provisioning SQL (two roles, two databases, each closed to the other role), shared
/// with `make dev` and the end-to-end tests.
pub const PROVISION_SQL: &str = include_str!("../../../sql/provision.sql");

/// The operator's own init step (initdb on an empty volume, then the provisioning SQL on a
/// socket-only server), so no image entrypoint script is relied on: any image carrying the
/// PostgreSQL server binaries (on PATH) and /bin/sh works. The script documents its contract.
pub const INIT_SCRIPT: &str = include_str!("../../../sql/postgres-init.sh");

pub fn init_config_map(scope: &Scope) -> ConfigMap {
    ConfigMap {
        metadata: scope.meta(scope.names.postgres_init(), Component::Postgres),
        data: Some(BTreeMap::from([
            (INIT_SCRIPT_KEY.to_owned(), INIT_SCRIPT.to_owned()),
            (PROVISION_SQL_KEY.to_owned(), PROVISION_SQL.to_owned()),
        ])),
        ..Default::default()
    }
}

pub fn headless_service(scope: &Scope) -> Service {
    Service {
        metadata: scope.meta(scope.names.postgres_headless(), Component::Postgres),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".to_owned()),
            selector: Some(selector_labels(&scope.names.instance, Component::Postgres)),
            ports: Some(vec![postgres_port()]),
            publish_not_ready_addresses: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn service(scope: &Scope) -> Service {
    Service {
        metadata: scope.meta(scope.names.postgres(), Component::Postgres),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            selector: Some(selector_labels(&scope.names.instance, Component::Postgres)),
            ports: Some(vec![postgres_port()]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn postgres_port() -> ServicePort {
    ServicePort {
        name: Some("postgres".to_owned()),
        port: POSTGRES_PORT,
        target_port: Some(IntOrString::String("postgres".to_owned())),
        protocol: Some("TCP".to_owned()),
        ..Default::default()
    }
}

pub fn stateful_set(scope: &Scope, db: &ManagedDatabase) -> StatefulSet {
    let names = &scope.names;
    let secret = names.database_secret();
    let defaults = ResourceSpec {
        requests: amounts("250m", "256Mi"),
        limits: amounts("1", "1Gi"),
    };
    let ready = [
        "pg_isready",
        "--host",
        "127.0.0.1",
        "--port",
        "5432",
        "--username",
        "postgres",
    ];
    let image = db
        .image
        .clone()
        .unwrap_or_else(|| scope.inputs.images.postgres.clone());
    let resources = resources(db.resources.as_ref(), &defaults);
    let pgdata = env("PGDATA", PGDATA);
    // initdb when the volume is empty, then the provisioning SQL; the passwords reach this
    // container only (the server needs none of them).
    let init = Container {
        name: "init".to_owned(),
        image: Some(image.clone()),
        command: Some(vec![
            "sh".to_owned(),
            format!("{INIT_DIR}/{INIT_SCRIPT_KEY}"),
        ]),
        env: Some(vec![
            pgdata.clone(),
            env_from_secret("POSTGRES_PASSWORD", &secret, POSTGRES_PASSWORD_KEY),
            env("AUTH_DB_NAME", AUTH_DATABASE),
            env_from_secret("AUTH_DB_PASSWORD", &secret, AUTH_PASSWORD_KEY),
            env("API_DB_NAME", API_DATABASE),
            env_from_secret("API_DB_PASSWORD", &secret, API_PASSWORD_KEY),
            env("PROVISION_SQL", format!("{INIT_DIR}/{PROVISION_SQL_KEY}")),
            env("PG_SOCKET_DIR", SOCKET_DIR),
        ]),
        volume_mounts: Some(vec![
            mount("data", DATA_DIR, false),
            mount("init", INIT_DIR, true),
            mount("run", SOCKET_DIR, false),
            mount("tmp", "/tmp", false),
        ]),
        resources: Some(resources.clone()),
        security_context: Some(container_security_context()),
        ..Default::default()
    };
    // The server itself, not an image's entrypoint script; it listens on every address (initdb's
    // default is localhost only), the pod's port is the Service's.
    let container = Container {
        name: "postgres".to_owned(),
        image: Some(image),
        command: Some(
            [
                "postgres",
                "-D",
                PGDATA,
                "-c",
                "listen_addresses=*",
                "-c",
                &format!("unix_socket_directories={SOCKET_DIR}"),
            ]
            .map(str::to_owned)
            .to_vec(),
        ),
        ports: Some(vec![ContainerPort {
            name: Some("postgres".to_owned()),
            container_port: POSTGRES_PORT,
            protocol: Some("TCP".to_owned()),
            ..Default::default()
        }]),
        env: Some(vec![pgdata]),
        volume_mounts: Some(vec![
            mount("data", DATA_DIR, false),
            mount("run", SOCKET_DIR, false),
            mount("tmp", "/tmp", false),
        ]),
        startup_probe: Some(exec_probe(&ready, 5, 60)),
        readiness_probe: Some(exec_probe(&ready, 10, 3)),
        liveness_probe: Some(exec_probe(&ready, 10, 6)),
        resources: Some(resources),
        security_context: Some(container_security_context()),
        ..Default::default()
    };
    let hash = config_hash([
        INIT_SCRIPT,
        PROVISION_SQL,
        &serde_json::to_string(&init.env).unwrap_or_default(),
        &serde_json::to_string(&container.command).unwrap_or_default(),
    ]);
    let pod_labels = labels(&names.instance, Component::Postgres);
    let retention = match db.deletion_policy {
        DeletionPolicy::Retain => "Retain",
        DeletionPolicy::Delete => "Delete",
    };
    StatefulSet {
        metadata: scope.meta(names.postgres(), Component::Postgres),
        spec: Some(StatefulSetSpec {
            replicas: Some(1),
            service_name: Some(names.postgres_headless()),
            selector: selector(&names.instance, Component::Postgres),
            persistent_volume_claim_retention_policy: Some(
                StatefulSetPersistentVolumeClaimRetentionPolicy {
                    when_deleted: Some(retention.to_owned()),
                    when_scaled: Some("Retain".to_owned()),
                },
            ),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels.clone()),
                    annotations: Some(BTreeMap::from([(CONFIG_HASH_ANNOTATION.to_owned(), hash)])),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    security_context: Some(pod_security_context(POSTGRES_UID)),
                    termination_grace_period_seconds: Some(60),
                    init_containers: Some(vec![init]),
                    containers: vec![container],
                    volumes: Some(vec![
                        Volume {
                            name: "init".to_owned(),
                            config_map: Some(ConfigMapVolumeSource {
                                name: names.postgres_init(),
                                default_mode: Some(0o555),
                                ..Default::default()
                            }),
                            ..Default::default()
                        },
                        scratch_volume("run"),
                        scratch_volume("tmp"),
                    ]),
                    ..Default::default()
                }),
            },
            volume_claim_templates: Some(vec![PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some("data".to_owned()),
                    labels: Some(pod_labels),
                    ..Default::default()
                },
                spec: Some(PersistentVolumeClaimSpec {
                    access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
                    storage_class_name: db.storage.storage_class_name.clone(),
                    resources: Some(VolumeResourceRequirements {
                        requests: Some(BTreeMap::from([(
                            "storage".to_owned(),
                            Quantity(db.storage.size.clone()),
                        )])),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The claim the StatefulSet creates for its only replica (`<template>-<set>-<ordinal>`).
pub fn data_claim_name_for(names: &super::Names) -> String {
    format!("data-{}-0", names.postgres())
}
