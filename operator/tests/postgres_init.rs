//! The managed PostgreSQL's pod as the operator renders it, run without a node: the init
//! container's command (sql/postgres-init.sh from the ConfigMap) and then the server container's
//! command, with this machine's Debian PostgreSQL binaries on PATH (what any server image
//! carries), the pod's volumes as private directories, the environment resolved from the
//! rendered Secret, as a non-root user (as root: the `postgres` OS user via setpriv; initdb
//! refuses root). The first run initializes and provisions, a second run keeps the cluster and
//! its data, and the roles log in over TCP with scram-sha-256.

use std::{
    collections::BTreeMap,
    net::TcpListener,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

use chatplane_operator::{
    render,
    resources::{Desired, GeneratedValues, Images, Inputs, desired},
};
use k8s_openapi::api::core::v1::{Container, PodSpec};

/// The newest /usr/lib/postgresql/<major>/bin (Debian's layout; `make test` installs it).
fn bin_dir() -> PathBuf {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("Debian's postgresql is installed (scripts/lib/postgres.sh installs it)")
        .filter_map(|e| {
            let e = e.ok()?;
            let major = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop()
        .expect("a PostgreSQL server in /usr/lib/postgresql")
        .1
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}

/// The pod's volumes as directories of one test, removed when it ends; the server it started
/// is stopped by PID first.
struct Pod {
    dir: PathBuf,
    volumes: BTreeMap<String, PathBuf>,
    server: Option<Child>,
}

impl Drop for Pod {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Pod {
    fn new(spec: &PodSpec, desired: &Desired) -> Self {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "chatplane-postgres-init-{}-{stamp}",
            std::process::id()
        ));
        let mut volumes = BTreeMap::new();
        for volume in spec.volumes.iter().flatten() {
            let path = dir.join(&volume.name);
            std::fs::create_dir_all(&path).unwrap();
            if let Some(cm) = &volume.config_map {
                // The ConfigMap's files, as the kubelet projects them (read-only, defaultMode).
                let managed = desired.postgres.as_ref().unwrap();
                assert_eq!(
                    managed.init.metadata.name.as_deref(),
                    Some(cm.name.as_str())
                );
                for (key, content) in managed.init.data.iter().flatten() {
                    let file = path.join(key);
                    std::fs::write(&file, content).unwrap();
                    let mode = cm.default_mode.unwrap_or(0o644) as u32;
                    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
                }
            }
            volumes.insert(volume.name.clone(), path);
        }
        // The claim template's volume.
        for claim in spec_claims(desired) {
            let path = dir.join(&claim);
            std::fs::create_dir_all(&path).unwrap();
            volumes.insert(claim, path);
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        if is_root() {
            // fsGroup: the volumes belong to the pod's user.
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .unwrap();
            assert!(status.success());
        }
        Pod {
            dir,
            volumes,
            server: None,
        }
    }

    /// A container path on this machine, through the container's volume mounts.
    fn host_path(&self, container: &Container, value: &str) -> String {
        for m in container.volume_mounts.iter().flatten() {
            if let Some(rest) = value.strip_prefix(&m.mount_path)
                && (rest.is_empty() || rest.starts_with('/'))
            {
                return format!("{}{rest}", self.volumes[&m.name].display());
            }
        }
        value.to_owned()
    }

    /// The container's command, environment (literal values and Secret keys) and mounts, run
    /// as the pod's non-root user with the server binaries on PATH.
    fn command(&self, container: &Container, secret: &BTreeMap<String, String>) -> Command {
        let argv: Vec<String> = container
            .command
            .iter()
            .flatten()
            .chain(container.args.iter().flatten())
            .map(|a| self.host_path(container, a))
            .collect();
        let mut command = if is_root() {
            // setpriv execs (runuser would fork): the PID stopped later is the server's own.
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid=postgres",
                "--regid=postgres",
                "--clear-groups",
                "--",
            ]);
            c.arg(&argv[0]);
            c
        } else {
            Command::new(&argv[0])
        };
        command.args(&argv[1..]).env_clear().env(
            "PATH",
            format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", bin_dir().display()),
        );
        for e in container.env.iter().flatten() {
            let value = match (&e.value, &e.value_from) {
                (Some(v), _) => self.host_path(container, v),
                (None, Some(from)) => {
                    let key = &from.secret_key_ref.as_ref().unwrap().key;
                    secret[key].clone()
                }
                _ => panic!("{} has no value", e.name),
            };
            command.env(&e.name, value);
        }
        command
    }

    fn stop(&mut self) {
        if let Some(mut server) = self.server.take() {
            // SIGINT: PostgreSQL's fast shutdown (the image's stop signal).
            let _ = Command::new("kill")
                .args(["-INT", &server.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = server.try_wait() {
                    return;
                }
                sleep(Duration::from_millis(100));
            }
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

fn spec_claims(desired: &Desired) -> Vec<String> {
    let sts = desired
        .postgres
        .as_ref()
        .unwrap()
        .stateful_set
        .spec
        .as_ref();
    sts.unwrap()
        .volume_claim_templates
        .iter()
        .flatten()
        .map(|c| c.metadata.name.clone().unwrap())
        .collect()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn ran(output: std::io::Result<Output>, what: &str) -> String {
    let output = output.unwrap_or_else(|e| panic!("{what} does not run: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{text}",
        output.status
    );
    text
}

/// psql over TCP with a password (the pg_hba rule for TCP is scram-sha-256).
fn psql(port: u16, user: &str, password: &str, db: &str, sql: &str) -> Result<String, String> {
    let output = Command::new(bin_dir().join("psql"))
        .args([
            "-X",
            "-q",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
        ])
        .args(["-p", &port.to_string(), "-U", user, "-d", db, "-c", sql])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("psql runs");
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// The cluster's identity: changes only when initdb runs again.
fn system_identifier(data: &Path) -> String {
    let text = ran(
        Command::new(bin_dir().join("pg_controldata"))
            .arg(data)
            .output(),
        "pg_controldata",
    );
    text.lines()
        .find(|l| l.starts_with("Database system identifier:"))
        .unwrap()
        .to_owned()
}

/// The package's directory, read when the test runs (cargo sets it): `env!`'s value is the
/// directory of the checkout that built this binary, which cargo reuses unchanged for a checkout
/// elsewhere.
fn manifest_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"))
}

#[test]
fn the_init_container_initializes_and_provisions_once_and_the_server_container_serves_with_scram() {
    let cd = render::parse_file(
        manifest_dir()
            .join("../examples/minimal.yaml")
            .to_str()
            .unwrap(),
    )
    .unwrap();
    let generated = GeneratedValues::random();
    let desired = desired(&cd, &Inputs::new(Images::defaults()), &generated).unwrap();
    let secret = desired
        .database_secret
        .as_ref()
        .unwrap()
        .string_data
        .clone()
        .unwrap();
    let sts = desired.postgres.as_ref().unwrap().stateful_set.clone();
    let spec = sts.spec.unwrap().template.spec.unwrap();
    let init = &spec.init_containers.as_ref().unwrap()[0];
    let server = &spec.containers[0];
    let mut pod = Pod::new(&spec, &desired);
    let pgdata = server.env.iter().flatten().find(|e| e.name == "PGDATA");
    let pgdata = pod.host_path(server, pgdata.unwrap().value.as_deref().unwrap());

    let port = free_port();
    let start_server = |pod: &mut Pod| {
        let mut command = pod.command(server, &secret);
        // Later settings win: a free loopback port instead of every address on 5432.
        command
            .args(["-c", &format!("port={port}")])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        pod.server = Some(command.spawn().expect("postgres starts"));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = Command::new(bin_dir().join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q"])
                .status()
                .unwrap();
            if ready.success() {
                break;
            }
            assert!(Instant::now() < deadline, "the server is not ready in 30 s");
            sleep(Duration::from_millis(200));
        }
    };

    // First start of the pod: an empty volume.
    let first = ran(pod.command(init, &secret).output(), "the init container");
    assert!(first.contains("initializing"), "{first}");
    assert!(
        first.contains("provisioned chatplane_auth and chatplane_api"),
        "{first}"
    );
    let identity = system_identifier(Path::new(&pgdata));

    start_server(&mut pod);
    let (auth_pw, api_pw) = (&generated.auth_password, &generated.api_password);
    let me = "SELECT current_user || '@' || current_database()";
    assert_eq!(
        psql(port, "chatplane_api", api_pw, "chatplane_api", me),
        Ok("chatplane_api@chatplane_api".to_owned())
    );
    assert_eq!(
        psql(port, "chatplane_auth", auth_pw, "chatplane_auth", me),
        Ok("chatplane_auth@chatplane_auth".to_owned())
    );
    let su = &generated.postgres_password;
    let scram = "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_authid \
                 WHERE rolpassword LIKE 'SCRAM-SHA-256$%'";
    assert_eq!(
        psql(port, "postgres", su, "postgres", scram),
        Ok("chatplane_api,chatplane_auth,postgres".to_owned()),
        "every password is stored as a scram verifier"
    );
    assert_eq!(
        psql(
            port,
            "postgres",
            su,
            "postgres",
            "SELECT type || ' ' || auth_method FROM pg_hba_file_rules ORDER BY line_number"
        ),
        Ok("local trust\nhost scram-sha-256".to_owned()),
        "TCP clients authenticate with scram"
    );
    let wrong = psql(
        port,
        "chatplane_api",
        "not-the-password",
        "chatplane_api",
        me,
    )
    .unwrap_err();
    assert!(wrong.contains("password authentication failed"), "{wrong}");
    let cross = psql(port, "chatplane_api", api_pw, "chatplane_auth", me).unwrap_err();
    assert!(cross.contains("permission denied"), "{cross}");
    psql(
        port,
        "chatplane_api",
        api_pw,
        "chatplane_api",
        "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)",
    )
    .unwrap();
    let oids = "SELECT string_agg(datname || '=' || oid, ',' ORDER BY datname) FROM pg_database";
    let databases = psql(port, "postgres", su, "postgres", oids).unwrap();

    // The pod restarts on the same volume: the init step keeps the cluster.
    pod.stop();
    let second = ran(
        pod.command(init, &secret).output(),
        "the init container, again",
    );
    assert!(second.contains("not initializing"), "{second}");
    assert_eq!(
        system_identifier(Path::new(&pgdata)),
        identity,
        "initdb ran again"
    );
    start_server(&mut pod);
    assert_eq!(
        psql(
            port,
            "chatplane_api",
            api_pw,
            "chatplane_api",
            "SELECT v FROM kept"
        ),
        Ok("42".to_owned()),
        "the data survives"
    );
    assert_eq!(psql(port, "postgres", su, "postgres", oids), Ok(databases));
    assert_eq!(
        psql(port, "chatplane_auth", auth_pw, "chatplane_auth", me),
        Ok("chatplane_auth@chatplane_auth".to_owned())
    );
}
