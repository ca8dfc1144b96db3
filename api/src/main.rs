//! `chatplane-api [serve | migrate | ingest <dir>]`

use std::process::ExitCode;

/// Requests allocate many small buffers (rows, JSON); glibc malloc showed up at ~10% of the
/// CPU in the history benchmark's profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use chatplane_api::config::Settings;
use chatplane_api::startup::{Application, migrate, shutdown_signal};
use chatplane_api::telemetry;

const USAGE: &str = "usage: chatplane-api [serve | migrate | ingest <dir>]
  serve         run the HTTP API (default)
  migrate       apply the database migrations and exit
  ingest <dir>  load the Markdown/MDX files under <dir> into the RAG corpus and exit";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] | ["serve"] => serve(),
        ["migrate"] => run_migrate(),
        ["ingest", dir] => run_ingest(std::path::Path::new(dir)),
        ["help" | "-h" | "--help"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

fn serve() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("chatplane-api: {e}");
            return ExitCode::from(2);
        }
    };
    // Before the runtime: the OTLP exporter's HTTP client must not be built inside it.
    let _telemetry = match telemetry::init(
        settings.log_dir.as_deref(),
        settings.otlp_endpoint.as_deref(),
    ) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("chatplane-api: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime().map_err(anyhow::Error::from).and_then(|rt| {
        rt.block_on(async {
            let app = Application::build(settings).await?;
            app.run_until_stopped(shutdown_signal()).await;
            anyhow::Ok(())
        })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "chatplane-api failed");
            eprintln!("chatplane-api: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_migrate() -> ExitCode {
    let settings = match Settings::database_from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("chatplane-api: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(migrate(&settings)))
    {
        Ok(()) => {
            println!("migrations applied");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("chatplane-api: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Prints what changed; bad files are named and skipped. Exits non-zero only when the run
/// itself failed (no directory, no Markdown, no database), never for a skipped file.
fn run_ingest(dir: &std::path::Path) -> ExitCode {
    let settings = match Settings::database_from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("chatplane-api: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime().map_err(anyhow::Error::from).and_then(|rt| {
        rt.block_on(async {
            let db = chatplane_api::store::db(&settings)?;
            let report = chatplane_api::ingest::ingest(&db, dir).await;
            db.close().await;
            anyhow::Ok(report?)
        })
    });
    match result {
        Ok(report) => {
            use std::io::Write;
            // A closed stdout (`| head`) is no reason to fail a finished ingest.
            let _ = write!(std::io::stdout(), "{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("chatplane-api: ingest failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}
