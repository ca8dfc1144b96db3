//! The Better Auth server: its Deployment and Service.

use chatplane_crds::ResourceSpec;
use k8s_openapi::api::{apps::v1::Deployment, core::v1::Service};

use super::{
    Scope,
    labels::Component,
    names::{AUTH_PORT, HTTP_PORT_NAME},
    pod::{amounts, env, env_from_secret, resources},
    secrets::{AUTH_SECRET_KEY, AUTH_URL_KEY},
    workload::{Workload, deployment, service},
};

/// The `node` user of the official Node image.
const NODE_UID: i64 = 1000;
/// The pod's and the Service's one port.
const AUTH_PORTS: [(&str, i32); 1] = [(HTTP_PORT_NAME, AUTH_PORT)];

pub fn auth_deployment(scope: &Scope) -> Deployment {
    let spec = &scope.spec.auth;
    let (secret_name, secret_key) = match &spec.secret_ref {
        Some(r) => (r.name.clone(), r.key.clone()),
        None => (scope.names.auth_secret(), AUTH_SECRET_KEY.to_owned()),
    };
    let (db_secret, db_key) = scope.database_url_ref(AUTH_URL_KEY, |e| &e.auth_url_secret_ref);
    let public = scope.spec.public_url.clone();
    let env = vec![
        env_from_secret("DATABASE_URL", &db_secret, &db_key),
        env_from_secret("BETTER_AUTH_SECRET", &secret_name, &secret_key),
        // Always set: unset, Better Auth takes its URL (and so iss/aud) from each request's Host.
        env("BETTER_AUTH_URL", public.clone()),
        env("JWT_ISSUER", public.clone()),
        env("JWT_AUDIENCE", public),
        env("JWT_EXPIRATION", spec.jwt.expires_in.clone()),
        env("TRUSTED_ORIGINS", scope.origins().join(",")),
        env("PORT", AUTH_PORT.to_string()),
    ];
    let defaults = ResourceSpec {
        requests: amounts("100m", "128Mi"),
        limits: amounts("500m", "256Mi"),
    };
    deployment(
        scope,
        Workload {
            name: scope.names.auth(),
            component: Component::Auth,
            image: spec
                .image
                .clone()
                .unwrap_or_else(|| scope.inputs.images.auth.clone()),
            args: vec![],
            ports: &AUTH_PORTS,
            uid: NODE_UID,
            replicas: spec.replicas,
            env,
            resources: resources(spec.resources.as_ref(), &defaults),
            init_containers: vec![],
            extra_volumes: vec![],
            extra_mounts: vec![],
            external_config: vec![],
        },
    )
}

pub fn auth_service(scope: &Scope) -> Service {
    service(scope, scope.names.auth(), Component::Auth, &AUTH_PORTS)
}
