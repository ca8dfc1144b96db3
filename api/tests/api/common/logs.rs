//! The logs of the app under test: the security stream collected for assertions, the general
//! stream printed only with `TEST_LOG` set.

use std::sync::{Arc, LazyLock, Mutex};

use serde_json::Value;

/// Security-stream lines of the whole test binary, so a test can find the one its request made.
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl LogBuffer {
    pub fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// Tracing is global: set up once, as the service's subscriber; the general stream prints only
/// with `TEST_LOG` set.
static SECURITY_LOG: LazyLock<LogBuffer> = LazyLock::new(|| {
    use chatplane_api::telemetry::{json_layers, subscriber};
    use tracing_subscriber::fmt::writer::BoxMakeWriter;
    let security = LogBuffer::default();
    let general = if std::env::var("TEST_LOG").is_ok() {
        BoxMakeWriter::new(std::io::stdout)
    } else {
        BoxMakeWriter::new(std::io::sink)
    };
    let filter = tracing_subscriber::EnvFilter::new("info,sqlx=warn");
    tracing::subscriber::set_global_default(subscriber(
        filter,
        json_layers(general, security.clone(), true),
    ))
    .expect("tracing set up once");
    security
});

/// The security log of the whole test binary (tracing is set up on first use).
pub fn security_log() -> LogBuffer {
    SECURITY_LOG.clone()
}
