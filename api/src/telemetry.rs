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

use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, JsonFields, Writer};
use tracing_subscriber::fmt::writer::MakeWriterExt;
use tracing_subscriber::fmt::{FmtContext, FormattedFields, MakeWriter};
use tracing_subscriber::layer::{Layer, Layered, SubscriberExt};
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

/// An event's own fields under their callsite's names. The line has the members a JSON object of
/// them would have (sorted by name, a later value replacing an earlier one of the same name),
/// written without building that object: with its map and a `String` per name, the access line
/// cost 12,000 instructions of an append's 146,000; without, 6,500.
struct Fields(Vec<(&'static str, Value)>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name(), Value::from(value)));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.push((field.name(), Value::from(value)));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.push((field.name(), Value::from(value)));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.push((field.name(), Value::from(value)));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.push((field.name(), Value::from(value)));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .push((field.name(), Value::from(format!("{value:?}"))));
    }
}

impl Fields {
    /// Sorted by name, keeping the last value recorded under each.
    fn into_members(mut self) -> Vec<(&'static str, Value)> {
        self.0.reverse();
        self.0.sort_by_key(|(name, _)| *name);
        self.0.dedup_by(|later, kept| later.0 == kept.0);
        self.0
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
        let mut own = Fields(Vec::with_capacity(10));
        own.0.push((
            "timestamp",
            Value::from(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        ));
        own.0.push(("level", Value::from(meta.level().as_str())));
        own.0.push(("target", Value::from(meta.target())));
        if self.tagged {
            let stream = if is_security(meta) {
                "security"
            } else {
                "general"
            };
            own.0.push(("stream", Value::from(stream)));
        }
        event.record(&mut own);
        let mut out = Vec::with_capacity(320);
        out.push(b'{');
        // Span fields are already JSON objects (JsonFields); splice their members in, outermost
        // first, instead of parsing and re-serialising them on every line.
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
                        out.extend_from_slice(members.as_bytes());
                        out.push(b',');
                    }
                }
            }
        }
        for (i, (name, value)) in own.into_members().iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, name).map_err(|_| fmt::Error)?;
            out.push(b':');
            serde_json::to_writer(&mut out, value).map_err(|_| fmt::Error)?;
        }
        out.extend_from_slice(b"}\n");
        writer.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
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

/// The registry under `filter` and then `layers` (the JSON log, and OTLP when set), the whole
/// wrapped in [`SkipReentry`]: the service's subscriber, which its tests build here too.
pub fn subscriber<L>(
    filter: EnvFilter,
    layers: L,
) -> SkipReentry<Layered<L, Layered<EnvFilter, Registry>>>
where
    L: Layer<Layered<EnvFilter, Registry>> + Send + Sync + 'static,
{
    SkipReentry::new(Registry::default().with(filter).with(layers))
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
    tracing::subscriber::set_global_default(subscriber(env_filter, json.and_then(otel)))
        .map_err(|_| TelemetryError::AlreadySet)?;
    Ok(TelemetryGuard {
        _writers: writers,
        tracer,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The lines `log` writes through the service's layers (tagged, as on stdout).
    fn lines(log: impl FnOnce()) -> Vec<String> {
        let general = Lines::default();
        let security = Lines::default();
        let (g, s) = (general.clone(), security.clone());
        let layers = json_layers(move || g.clone(), move || s.clone(), true);
        tracing::subscriber::with_default(subscriber(EnvFilter::new("info"), layers), log);
        let general = general.0.lock().unwrap().clone();
        let security = security.0.lock().unwrap().clone();
        String::from_utf8([general, security].concat())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The position of each key in the line's text, to check their order.
    fn key_order(line: &str, keys: &[&str]) -> Vec<usize> {
        keys.iter()
            .map(|k| {
                line.find(&format!("\"{k}\":"))
                    .unwrap_or_else(|| panic!("{k} missing in {line}"))
            })
            .collect()
    }

    #[test]
    fn a_line_is_the_spans_fields_then_the_events_each_sorted_by_name() {
        let lines = lines(|| {
            let span = tracing::info_span!("request", request_id = "r-1", method = "GET");
            let _in = span.enter();
            tracing::info!(
                status = 200u64,
                duration_ms = 1.5,
                ok = true,
                delta = -3i64,
                why = ?Some("x \"quoted\""),
                "request"
            );
        });
        let [line] = lines.as_slice() else {
            panic!("one line expected: {lines:?}")
        };
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["request_id"], "r-1");
        assert_eq!(v["method"], "GET");
        assert_eq!(v["status"], 200);
        assert_eq!(v["duration_ms"], 1.5);
        assert_eq!(v["ok"], true);
        assert_eq!(v["delta"], -3);
        assert_eq!(v["why"], "Some(\"x \\\"quoted\\\"\")");
        assert_eq!(v["message"], "request");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["stream"], "general");
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
        let order = key_order(
            line,
            &[
                "method",
                "request_id",
                "delta",
                "duration_ms",
                "level",
                "message",
                "ok",
                "status",
                "stream",
                "target",
                "timestamp",
                "why",
            ],
        );
        assert!(order.is_sorted(), "{line}");
        assert!(line.ends_with('}'));
    }

    #[test]
    fn an_event_field_named_like_a_line_field_replaces_it_once() {
        let lines = lines(|| {
            tracing::warn!(target: SECURITY_TARGET, stream = "mine", "refused");
        });
        let [line] = lines.as_slice() else {
            panic!("one line expected: {lines:?}")
        };
        assert_eq!(line.matches("\"stream\":").count(), 1, "{line}");
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["stream"], "mine");
        assert_eq!(v["target"], SECURITY_TARGET);
    }
}
