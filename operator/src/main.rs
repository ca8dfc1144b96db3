//! chatplane-operator: `run` (default) reconciles ChatDeployments; `render -f <file>` prints the
//! manifests the operator would apply, without a cluster.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context as _;
use chatplane_operator::{
    context::{Settings, State},
    controller, http,
    leader::LeaseLock,
    render,
    resources::{DEFAULT_API_IMAGE, DEFAULT_AUTH_IMAGE, DEFAULT_POSTGRES_IMAGE, Images, Inputs},
    telemetry,
};
use clap::{Args, Parser, Subcommand};
use kube::{Api, client::ClientBuilder};

#[derive(Parser)]
#[command(
    name = "chatplane-operator",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// `run`'s flags, for when the subcommand is left out (it is the default).
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    images: ImageArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Reconcile ChatDeployments in the cluster (the default).
    Run(RunArgs),
    /// Print the manifests for a ChatDeployment file, like `helm template`.
    Render {
        /// The ChatDeployment YAML file.
        #[arg(short = 'f', long = "file")]
        file: String,
    },
}

#[derive(Args, Clone)]
struct ImageArgs {
    /// Default image of the chat API.
    #[arg(long, env = "CHATPLANE_API_IMAGE", global = true,
          default_value = DEFAULT_API_IMAGE)]
    api_image: String,
    /// Default image of the Better Auth server.
    #[arg(long, env = "CHATPLANE_AUTH_IMAGE", global = true,
          default_value = DEFAULT_AUTH_IMAGE)]
    auth_image: String,
    /// Default image of the managed PostgreSQL.
    #[arg(
        long,
        env = "CHATPLANE_POSTGRES_IMAGE",
        global = true,
        default_value = DEFAULT_POSTGRES_IMAGE
    )]
    postgres_image: String,
    /// OTLP/HTTP endpoint for the operator's traces, also handed to the API pods.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", global = true)]
    otlp_endpoint: Option<String>,
}

#[derive(Args, Clone)]
struct RunArgs {
    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:8081")]
    metrics_addr: SocketAddr,
    /// This replica's name: the Lease holder identity and the events' reporter.
    #[arg(long, env = "POD_NAME", default_value = "chatplane-operator")]
    identity: String,
    /// Namespace of the leader-election Lease (the operator's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "chatplane-system")]
    lease_namespace: String,
    /// How long a Lease lasts without renewal: a standby takes over this long after the leader
    /// stopped renewing; the leader writes only for two thirds of it after each renewal.
    #[arg(long, env = "LEASE_DURATION_SECONDS", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(3..=3600))]
    lease_duration_seconds: u64,
    /// Reconciles running at once (each ChatDeployment is only ever reconciled by one).
    #[arg(long, env = "MAX_CONCURRENT_RECONCILES", default_value_t = 8,
          value_parser = clap::value_parser!(u16).range(1..))]
    max_concurrent_reconciles: u16,
    /// Run without leader election (a single replica only).
    #[arg(long, env = "DISABLE_LEADER_ELECTION")]
    disable_leader_election: bool,
}

fn images(args: &ImageArgs) -> Images {
    Images {
        api: args.api_image.clone(),
        auth: args.auth_image.clone(),
        postgres: args.postgres_image.clone(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run(cli.run)) {
        Command::Render { file } => {
            let inputs = Inputs {
                images: images(&cli.images),
                corpus_version: None,
                otlp_endpoint: cli.images.otlp_endpoint,
            };
            print!("{}", render::render_file(&file, &inputs)?);
            Ok(())
        }
        Command::Run(args) => run(cli.images, args).await,
    }
}

async fn run(image_args: ImageArgs, args: RunArgs) -> anyhow::Result<()> {
    let _telemetry = telemetry::init(image_args.otlp_endpoint.as_deref())?;
    let identity = args.identity;
    let settings = Settings {
        images: images(&image_args),
        otlp_endpoint: image_args.otlp_endpoint.clone(),
        identity: identity.clone(),
    };
    let state = State::new(settings, !args.disable_leader_election);
    let config = kube::Config::infer()
        .await
        .context("no Kubernetes configuration (KUBECONFIG or in-cluster)")?;
    let client = ClientBuilder::try_from(config)
        .context("building the Kubernetes client")?
        .with_layer(&state.client_layer())
        .build();
    let server = tokio::spawn(http::serve(args.metrics_addr, state.clone()));
    let (ctx, writers) = state.to_context(client.clone());
    // A burst of watch events for one ChatDeployment (its children created, their status
    // settling) becomes one reconcile.
    let config = kube::runtime::controller::Config::default()
        .concurrency(args.max_concurrent_reconciles)
        .debounce(Duration::from_millis(500));

    let result = if args.disable_leader_election {
        state.readiness.set(true);
        controller::run(client, ctx, writers, config).await
    } else {
        let lock = LeaseLock {
            api: Api::namespaced(client.clone(), &args.lease_namespace),
            name: "chatplane-operator-leader".to_owned(),
            identity,
            duration: Duration::from_secs(args.lease_duration_seconds),
            leadership: state.leadership.clone(),
        };
        state.readiness.set(true);
        lock.acquire().await?;
        tokio::select! {
            result = controller::run(client, ctx, writers, config) => {
                // A graceful stop (SIGTERM): the standby need not wait out the lease.
                lock.release().await;
                result
            }
            lost = lock.hold() => Err(lost),
        }
    };
    server.abort();
    result.context("the controller stopped with an error")
}
