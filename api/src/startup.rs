//! Builds the application from settings; `main` and the tests share this one builder.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::auth::{Authenticator, JwksCache};
use crate::config::Settings;
use crate::context::ApiContext;
use crate::metrics::Metrics;
use crate::rag::Rag;
use crate::{routes, server, store};

pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    routes: BoxedFilter<(Response,)>,
    metrics_listener: TcpListener,
    metrics_addr: SocketAddr,
    context: ApiContext,
    jwks_refresh: Duration,
    shutdown_grace: Duration,
    connections: crate::server::ConnectionLimits,
}

impl Application {
    /// Binds the listener (port 0 picks a free one) and wires everything; connects nothing yet:
    /// the pool is lazy and the JWKS loads in the background, so start-up never hangs on a
    /// dependency and `/readyz` tells when they are there.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let metrics = Arc::new(Metrics::default());
        let db = store::db(&settings.database).context("invalid DATABASE_URL")?;
        let jwks = Arc::new(
            JwksCache::new(
                settings.auth.jwks_url(),
                settings.auth.upstream_timeout,
                settings.auth.jwks_min_refetch,
                metrics.auth(),
            )
            .context("cannot build the JWKS client")?,
        );
        let auth = Arc::new(
            Authenticator::new(&settings.auth, jwks.clone(), db.clone(), metrics.auth())
                .context("cannot build the auth client")?,
        );
        if let Some(dir) = &settings.rag.corpus_dir
            && !dir.is_dir()
        {
            anyhow::bail!("RAG_CORPUS_DIR {} is not a directory", dir.display());
        }
        let rag =
            Arc::new(Rag::new(db.clone(), &settings.rag).context("cannot build the LLM client")?);
        let context = ApiContext {
            db,
            auth,
            jwks,
            metrics,
            limits: settings.limits,
            rag,
            search_gate: Arc::new(routes::SearchGate::new(
                settings.limits.search_concurrency_per_user,
            )),
        };
        let routes = routes::routes(
            context.clone(),
            &settings.http.cors_allowed_origins,
            settings.web.as_ref(),
        )?;
        let listener = TcpListener::bind(settings.http.listen_addr)
            .await
            .with_context(|| format!("cannot listen on {}", settings.http.listen_addr))?;
        let addr = listener.local_addr()?;
        let metrics_listener = TcpListener::bind(settings.http.metrics_addr)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {} (METRICS_ADDR)",
                    settings.http.metrics_addr
                )
            })?;
        let metrics_addr = metrics_listener.local_addr()?;
        Ok(Self {
            listener,
            addr,
            routes,
            metrics_listener,
            metrics_addr,
            context,
            jwks_refresh: settings.auth.jwks_refresh,
            shutdown_grace: settings.http.shutdown_grace,
            connections: settings.http.connections,
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The port `/metrics` is served on.
    pub fn metrics_port(&self) -> u16 {
        self.metrics_addr.port()
    }

    pub fn context(&self) -> &ApiContext {
        &self.context
    }

    /// Serves until `shutdown` resolves, then drains requests in flight and stops the JWKS
    /// refresher. Metrics are served until the API port has drained, so a scrape sees the end.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send) {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut metrics_stop = stop_rx.clone();
        let metrics_server = tokio::spawn(server::serve(
            self.metrics_listener,
            routes::metrics_routes(self.context.clone()),
            self.context.metrics.clone(),
            async move {
                let _ = metrics_stop.wait_for(|stop| *stop).await;
            },
            self.connections,
            Duration::from_secs(1),
        ));
        let sweeper = store::idempotency::spawn_sweeper(
            self.context.db.clone(),
            self.context.limits.idempotency_ttl,
            stop_rx.clone(),
        );
        let reaper = self.context.db.clone().spawn_reaper(stop_rx.clone());
        let refresher = self
            .context
            .jwks
            .clone()
            .spawn_refresher(self.jwks_refresh, stop_rx);
        let ingest = self
            .context
            .rag
            .clone()
            .spawn_startup_ingest(self.context.db.clone());
        tracing::info!(addr = %self.addr, metrics_addr = %self.metrics_addr, "chatplane-api listening");
        server::serve(
            self.listener,
            self.routes,
            self.context.metrics.clone(),
            shutdown,
            self.connections,
            self.shutdown_grace,
        )
        .await;
        let _ = stop_tx.send(true);
        let _ = metrics_server.await;
        let _ = refresher.await;
        let _ = sweeper.await;
        let _ = reaper.await;
        if let Some(ingest) = ingest {
            ingest.abort();
        }
        self.context.db.close().await;
        tracing::info!("chatplane-api stopped");
    }
}

/// Applies the migrations. sqlx holds a Postgres advisory lock while it migrates, so replicas
/// starting together run them once.
pub async fn migrate(settings: &crate::config::DatabaseSettings) -> anyhow::Result<()> {
    let pool = store::pool(settings).context("invalid DATABASE_URL")?;
    store::MIGRATOR
        .run(&pool)
        .await
        .context("migration failed")?;
    pool.close().await;
    Ok(())
}

/// Resolves on SIGTERM (Kubernetes) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("Ctrl-C received"),
        _ = term => tracing::info!("SIGTERM received"),
    }
}
