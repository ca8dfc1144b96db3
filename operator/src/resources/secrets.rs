//! Generated Secrets: created once with a CSPRNG and never updated afterwards (DESIGN §7: a new
//! BETTER_AUTH_SECRET makes Better Auth's stored keys undecryptable; new passwords would not
//! match the roles already in the database volume).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use rand::{Rng, distr::Alphanumeric};

use super::{
    Scope,
    labels::{Component, object_meta},
    names::{API_DATABASE, AUTH_DATABASE, POSTGRES_PORT},
};

pub const AUTH_SECRET_KEY: &str = "BETTER_AUTH_SECRET";
pub const POSTGRES_PASSWORD_KEY: &str = "postgres-password";
pub const AUTH_PASSWORD_KEY: &str = "auth-password";
pub const API_PASSWORD_KEY: &str = "api-password";
pub const AUTH_URL_KEY: &str = "auth-url";
pub const API_URL_KEY: &str = "api-url";

/// The secret values of one ChatDeployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedValues {
    pub auth_secret: String,
    pub postgres_password: String,
    pub auth_password: String,
    pub api_password: String,
}

impl GeneratedValues {
    /// What `render` prints instead of secrets.
    pub fn placeholders() -> Self {
        let placeholder = |what: &str| format!("GENERATED-{what}");
        Self {
            auth_secret: placeholder("AUTH-SECRET"),
            postgres_password: placeholder("POSTGRES-PASSWORD"),
            auth_password: placeholder("AUTH-PASSWORD"),
            api_password: placeholder("API-PASSWORD"),
        }
    }

    /// Fresh values from the thread-local CSPRNG (ChaCha, seeded by the OS). Alphanumeric, so the
    /// passwords sit in connection URLs without escaping; 48 characters is ~285 bits.
    pub fn random() -> Self {
        let token = || {
            rand::rng()
                .sample_iter(&Alphanumeric)
                .take(48)
                .map(char::from)
                .collect::<String>()
        };
        Self {
            auth_secret: token(),
            postgres_password: token(),
            auth_password: token(),
            api_password: token(),
        }
    }
}

/// BETTER_AUTH_SECRET, unless the user brings their own through `auth.secretRef`.
pub fn auth_secret(scope: &Scope, values: &GeneratedValues) -> Option<Secret> {
    if scope.spec.auth.secret_ref.is_some() {
        return None;
    }
    Some(secret(
        scope,
        scope.names.auth_secret(),
        Component::Auth,
        [(AUTH_SECRET_KEY, values.auth_secret.clone())],
    ))
}

/// The managed database's superuser and role passwords and each role's connection URL.
pub fn database_secret(scope: &Scope, values: &GeneratedValues) -> Option<Secret> {
    scope.spec.database.managed.as_ref()?;
    let url = |role: &str, password: &str| {
        format!(
            "postgres://{role}:{password}@{}:{POSTGRES_PORT}/{role}",
            scope.names.postgres_host()
        )
    };
    Some(secret(
        scope,
        scope.names.database_secret(),
        Component::Postgres,
        [
            (POSTGRES_PASSWORD_KEY, values.postgres_password.clone()),
            (AUTH_PASSWORD_KEY, values.auth_password.clone()),
            (API_PASSWORD_KEY, values.api_password.clone()),
            (AUTH_URL_KEY, url(AUTH_DATABASE, &values.auth_password)),
            (API_URL_KEY, url(API_DATABASE, &values.api_password)),
        ],
    ))
}

/// No owner reference: the Secrets live as long as the data they unlock. The finalizer deletes
/// them together with the volume when `deletionPolicy: Delete`.
fn secret<const N: usize>(
    scope: &Scope,
    name: String,
    component: Component,
    data: [(&str, String); N],
) -> Secret {
    Secret {
        metadata: object_meta(
            name,
            &scope.names.namespace,
            &scope.names.instance,
            component,
            None,
        ),
        type_: Some("Opaque".to_owned()),
        string_data: Some(
            data.into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..Default::default()
    }
}
