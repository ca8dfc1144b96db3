//! Logs and traces, set up once per process.
//!
//! Two JSON-lines streams: the general log, and the security log (events with target
//! `security`: auth failures, id mismatches, JWKS problems). With `LOG_DIR` they go to
//! `api.log` and `security.log` there; otherwise both go to stdout with a `stream` field. Every
//! line carries the fields of the spans it happened in, so a request's lines carry its
//! `request_id`. Spans go to OTLP only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set. The whole
//! subscriber is wrapped in [`SkipReentry`], which keeps sqlx's per-row re-entries of the
//! request's span away from the layers.

use std::fmt;
use std::path::Path;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, JsonFields, Writer};
use tracing_subscriber::fmt::writer::MakeWriterExt;
use tracing_subscriber::fmt::{FmtContext, FormattedFields, MakeWriter};
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Registry};

use crate::log_buffer::{self, Batching, FlushGuard};

mod reentry;
pub use reentry::SkipReentry;

pub const SECURITY_TARGET: &str = "security";

/// Formats one event as one JSON object per line; `tagged` adds the `stream` field.
pub struct JsonLines {
    tagged: bool,
}

struct FieldVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for FieldVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::from(format!("{value:?}")));
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            Value::from(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        );
        line.insert("level".into(), Value::from(meta.level().as_str()));
        line.insert("target".into(), Value::from(meta.target()));
        if self.tagged {
            let stream = if is_security(meta) {
                "security"
            } else {
                "general"
            };
            line.insert("stream".into(), Value::from(stream));
        }
        event.record(&mut FieldVisitor(&mut line));
        let own = Value::Object(line).to_string();
        // Span fields are already JSON objects (JsonFields); splice their members in, outermost
        // first, instead of parsing and re-serialising them on every line.
        let mut out = String::with_capacity(own.len() + 128);
        out.push('{');
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let ext = span.extensions();
                if let Some(fields) = ext.get::<FormattedFields<N>>() {
                    let members = fields
                        .trim()
                        .strip_prefix('{')
                        .and_then(|f| f.strip_suffix('}'))
                        .unwrap_or_default()
                        .trim();
                    if !members.is_empty() {
                        out.push_str(members);
                        out.push(',');
                    }
                }
            }
        }
        out.push_str(own.get(1..).unwrap_or("}"));
        writeln!(writer, "{out}")
    }
}

fn is_security(meta: &tracing::Metadata<'_>) -> bool {
    meta.target() == SECURITY_TARGET
}

/// The JSON log layer over any pair of writers (files, stdout, or a test's buffers): security
/// events go to `security`, the rest to `general`. One layer, whose writer is chosen per event,
/// costs less on every span enter and exit than a filtered layer per stream.
pub fn json_layers<S, G, W>(
    general: G,
    security: W,
    tagged: bool,
) -> impl Layer<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    G: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let writer = security.with_filter(is_security).or_else(general);
    tracing_subscriber::fmt::layer()
        .fmt_fields(JsonFields::new())
        .event_format(JsonLines { tagged })
        .with_writer(writer)
}

/// Keeps the log writers and the trace exporter alive; dropping it flushes them.
pub struct TelemetryGuard {
    _writers: Vec<FlushGuard>,
    tracer: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.tracer.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("trace export shutdown failed: {e}");
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot open log directory {0}: {1}")]
    LogDir(String, std::io::Error),
    #[error("cannot open log file {0}: {1}")]
    LogFile(String, std::io::Error),
    #[error("cannot set up the OTLP exporter: {0}")]
    Otlp(String),
    #[error("a global subscriber is already set")]
    AlreadySet,
}

/// Installs the process-wide subscriber. Call once, before the async runtime starts (the OTLP
/// exporter's blocking HTTP client must not be created inside it).
pub fn init(
    log_dir: Option<&Path>,
    otlp_endpoint: Option<&str>,
) -> Result<TelemetryGuard, TelemetryError> {
    let env_filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,hyper=warn,reqwest=warn"));
    let mut writers = Vec::new();
    let json = match log_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| TelemetryError::LogDir(dir.display().to_string(), e))?;
            let buffered = |name: &str| {
                let path = dir.join(name);
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .and_then(|file| log_buffer::spawn(name, file, Batching::default()))
                    .map_err(|e| TelemetryError::LogFile(path.display().to_string(), e))
            };
            let (general, g1) = buffered("api.log")?;
            let (security, g2) = buffered("security.log")?;
            writers.extend([g1, g2]);
            json_layers(general, security, false).boxed()
        }
        None => {
            let (stdout, guard) =
                log_buffer::spawn("stdout", std::io::stdout(), Batching::default())
                    .map_err(|e| TelemetryError::LogFile("stdout".into(), e))?;
            writers.push(guard);
            json_layers(stdout.clone(), stdout, true).boxed()
        }
    };
    let (otel, tracer) = match otlp_endpoint {
        Some(_) => {
            use opentelemetry::trace::TracerProvider as _;
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .build()
                .map_err(|e| TelemetryError::Otlp(e.to_string()))?;
            let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(
                    opentelemetry_sdk::Resource::builder()
                        .with_service_name("chatplane-api")
                        .build(),
                )
                .build();
            let layer =
                tracing_opentelemetry::layer().with_tracer(provider.tracer("chatplane-api"));
            (Some(layer), Some(provider))
        }
        None => (None, None),
    };
    let subscriber = SkipReentry::new(Registry::default().with(env_filter).with(json).with(otel));
    tracing::subscriber::set_global_default(subscriber).map_err(|_| TelemetryError::AlreadySet)?;
    Ok(TelemetryGuard {
        _writers: writers,
        tracer,
    })
}
