//! The provisioning SQL (sql/provision.sql) on a real PostgreSQL: the server TEST_DATABASE_URL
//! names (the private cluster `make test` starts). Each role reaches its own database only, a
//! second run is harmless. psql connects as each role, as the API and Better Auth would. The
//! operator's init step that runs this SQL in the managed PostgreSQL's pod: tests/postgres_init.rs.

use std::{
    path::PathBuf,
    process::{Command, Output},
};

/// The administrator's connection, from TEST_DATABASE_URL (`postgres://user:password@host:port/db`).
struct Server {
    host: String,
    port: String,
    user: String,
    password: String,
}

fn server() -> Server {
    let url = std::env::var("TEST_DATABASE_URL").expect(
        "TEST_DATABASE_URL is not set: run the suite with `make test` (it starts a private \
         PostgreSQL), or source scripts/lib/postgres.sh and run pg_private_up DIR first",
    );
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .expect("TEST_DATABASE_URL is a postgres:// URL");
    let (credentials, address) = rest.rsplit_once('@').expect("user and password in the URL");
    let (user, password) = credentials.split_once(':').expect("a password in the URL");
    let address = address.split('/').next().unwrap();
    let (host, port) = address.split_once(':').unwrap_or((address, "5432"));
    Server {
        host: host.to_owned(),
        port: port.to_owned(),
        user: user.to_owned(),
        password: password.to_owned(),
    }
}

impl Server {
    /// psql against this server with the given login; `-X`: no ~/.psqlrc.
    fn psql(&self, user: &str, password: &str, database: &str) -> Command {
        let mut command = Command::new("psql");
        command
            .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"])
            .args([
                "-h", &self.host, "-p", &self.port, "-U", user, "-d", database,
            ])
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "10");
        command
    }

    /// Runs SQL as the administrator; panics with psql's error when it fails.
    fn admin(&self, sql: &str) -> String {
        let (user, password) = (self.user.clone(), self.password.clone());
        succeeded(
            self.psql(&user, &password, "postgres")
                .args(["-c", sql])
                .output(),
        )
    }

    /// Connects as `user` to `database` and runs `sql`: its output, or psql's error.
    fn login(
        &self,
        user: &str,
        password: &str,
        database: &str,
        sql: &str,
    ) -> Result<String, String> {
        let output = self
            .psql(user, password, database)
            .args(["-c", sql])
            .output()
            .expect("psql runs (apt-get install postgresql-client)");
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    /// sql/provision.sql through psql with its variables, as `make dev` and the e2e stacks run it.
    fn provision(&self, names: &Names, auth_password: &str, api_password: &str) {
        let (user, password) = (self.user.clone(), self.password.clone());
        let variables = [
            ("auth_role", names.auth_role.as_str()),
            ("auth_password", auth_password),
            ("auth_db", names.auth_db.as_str()),
            ("api_role", names.api_role.as_str()),
            ("api_password", api_password),
            ("api_db", names.api_db.as_str()),
        ];
        let mut command = self.psql(&user, &password, "postgres");
        for (name, value) in variables {
            command.arg("-v").arg(format!("{name}={value}"));
        }
        succeeded(command.arg("-f").arg(provision_file()).output());
    }
}

fn provision_file() -> PathBuf {
    manifest_dir().join("../sql/provision.sql")
}

/// The package's directory, read when the test runs (cargo sets it): `env!`'s value is the
/// directory of the checkout that built this binary, which cargo reuses unchanged for a checkout
/// elsewhere.
fn manifest_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"))
}

fn succeeded(output: std::io::Result<Output>) -> String {
    let output = output.expect("psql runs (apt-get install postgresql-client)");
    assert!(
        output.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// The roles and databases of one test; dropped again when it ends, pass or fail.
struct Names {
    auth_role: String,
    auth_db: String,
    api_role: String,
    api_db: String,
    /// A login role the SQL knows nothing of: PUBLIC, as far as the databases are concerned.
    others: Vec<String>,
}

impl Drop for Names {
    fn drop(&mut self) {
        let server = server();
        for db in [&self.auth_db, &self.api_db] {
            server.admin(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"));
        }
        for role in [&self.auth_role, &self.api_role]
            .into_iter()
            .chain(&self.others)
        {
            server.admin(&format!("DROP ROLE IF EXISTS \"{role}\""));
        }
    }
}

/// The connection must fail, and for this reason.
fn refused(result: Result<String, String>, what: &str, because: &str) {
    match result {
        Ok(out) => panic!("{what}: connected ({out}) but must be refused"),
        Err(error) => assert!(error.contains(because), "{what}: {error}"),
    }
}

const NO_CONNECT: &str = "permission denied for database";

#[test]
fn each_role_reaches_only_its_own_database_and_a_second_run_keeps_the_data() {
    let server = server();
    let prefix = format!("provision_{:016x}", rand::random::<u64>());
    let names = Names {
        auth_role: format!("{prefix}_auth"),
        // Database names apart from role names: the SQL must not mix the variables up.
        auth_db: format!("{prefix}_auth_db"),
        api_role: format!("{prefix}_api"),
        api_db: format!("{prefix}_api_db"),
        others: vec![format!("{prefix}_other")],
    };
    // Quotes and a backslash in a password are data, not SQL.
    let (auth_pw, api_pw) = ("it's a \\secret", "api-password-1");
    server.provision(&names, auth_pw, api_pw);

    let me = "SELECT current_user || '@' || current_database()";
    let (auth, api) = (&names.auth_role, &names.api_role);
    let (auth_db, api_db) = (&names.auth_db, &names.api_db);
    assert_eq!(
        server.login(auth, auth_pw, auth_db, me),
        Ok(format!("{auth}@{auth_db}"))
    );
    assert_eq!(
        server.login(api, api_pw, api_db, me),
        Ok(format!("{api}@{api_db}"))
    );
    refused(
        server.login(auth, auth_pw, api_db, me),
        "auth role → API db",
        NO_CONNECT,
    );
    refused(
        server.login(api, api_pw, auth_db, me),
        "API role → auth db",
        NO_CONNECT,
    );
    let other = &names.others[0];
    server.admin(&format!("CREATE ROLE \"{other}\" LOGIN PASSWORD 'other'"));
    for db in [auth_db, api_db] {
        refused(
            server.login(other, "other", db, me),
            "another role",
            NO_CONNECT,
        );
    }
    // The roles are plain: no superuser, no CREATEDB, no CREATEROLE.
    assert_eq!(
        server.admin(&format!(
            "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolcanlogin FROM pg_roles \
             WHERE rolname IN ('{auth}', '{api}') ORDER BY rolname"
        )),
        format!("{api}|f|f|f|t\n{auth}|f|f|f|t")
    );
    assert_eq!(
        server.admin(&format!(
            "SELECT datname || ':' || pg_get_userbyid(datdba) FROM pg_database \
             WHERE datname IN ('{auth_db}', '{api_db}') ORDER BY datname"
        )),
        format!("{api_db}:{api}\n{auth_db}:{auth}"),
        "each database is owned by its role"
    );

    // Data written by the role, and a stray grant made by hand, before the second run.
    server
        .login(
            auth,
            auth_pw,
            auth_db,
            "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)",
        )
        .unwrap();
    server.admin(&format!(
        "GRANT CONNECT ON DATABASE \"{api_db}\" TO \"{auth}\""
    ));
    assert!(
        server.login(auth, auth_pw, api_db, me).is_ok(),
        "the stray grant works"
    );

    let new_auth_pw = "auth-password-2";
    server.provision(&names, new_auth_pw, api_pw);
    refused(
        server.login(auth, auth_pw, auth_db, me),
        "the old password",
        "password authentication failed",
    );
    assert_eq!(
        server.login(auth, new_auth_pw, auth_db, "SELECT v FROM kept"),
        Ok("42".to_owned()),
        "the existing database and its data are kept"
    );
    refused(
        server.login(auth, new_auth_pw, api_db, me),
        "auth role → API db after the second run",
        NO_CONNECT,
    );
    assert_eq!(
        server.login(api, api_pw, api_db, me),
        Ok(format!("{api}@{api_db}"))
    );
}
