//! The binary's own behaviour: configuration errors, and `migrate` run by two replicas at once.

use std::process::Command;

use crate::common::empty_database;

const BIN: &str = env!("CARGO_BIN_EXE_chatplane-api");

#[test]
fn bad_configuration_names_every_variable_and_exits_non_zero() {
    let out = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .env("AUTH_URL", "ftp://nowhere")
        .env("CORS_ALLOWED_ORIGINS", "*")
        .env("AUTH_LEEWAY_SECS", "300")
        .output()
        .expect("run binary");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for var in [
        "DATABASE_URL",
        "AUTH_URL",
        "AUTH_ISSUER",
        "AUTH_AUDIENCE",
        "CORS_ALLOWED_ORIGINS",
        "AUTH_LEEWAY_SECS",
    ] {
        assert!(stderr.contains(var), "{var} not named in: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn an_unknown_command_prints_usage() {
    let out = Command::new(BIN)
        .arg("frobnicate")
        .output()
        .expect("run binary");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
}

#[tokio::test]
async fn two_replicas_migrating_at_once_both_succeed() {
    let (_, url) = empty_database().await;
    let run = || {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(BIN)
                .arg("migrate")
                .env("DATABASE_URL", url)
                .output()
                .expect("run migrate")
        })
    };
    let (a, b) = (run(), run());
    for out in [a.await.expect("join"), b.await.expect("join")] {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Idempotent afterwards too.
    let again = run().await.expect("join");
    assert!(again.status.success());
}
