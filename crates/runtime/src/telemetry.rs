//! Structured logs through `tracing-subscriber`: human text by default, JSON
//! on request, level from `RUST_LOG` (default `info`); and, when an OTLP
//! endpoint is given, the spans of [`crate::trace`] exported over OTLP/gRPC
//! ([`start`]). A panic is logged as an ERROR event of the same format, in
//! the span it happened in, instead of the standard library's text on
//! stderr: a log collector reading JSON lines gets JSON only.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Logging options shared by every binary.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LogArgs {
    /// Log format: `text` for people, `json` for log collectors. The level
    /// comes from `RUST_LOG` (default `info`).
    #[arg(long, env = "KNOTWORK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Export traces over OTLP/gRPC to this collector URL (e.g.
    /// `http://otel-collector:4317`); unset: no traces are recorded or
    /// sent. The OpenTelemetry SDK reads the other standard `OTEL_*`
    /// variables itself (`OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_TRACES_SAMPLER`,
    /// `OTEL_BSP_SCHEDULE_DELAY`, ...).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
}

/// How long the last spans may take to leave at exit.
pub(crate) const FLUSH_ON_EXIT: std::time::Duration = std::time::Duration::from_secs(2);

/// What [`start`] installed; dropping it sends the spans still queued and
/// stops the exporter, waiting at most [`FLUSH_ON_EXIT`] (an unreachable
/// collector must not stretch a shutdown past the pod's grace period).
#[derive(Debug, Default)]
#[must_use = "dropping it stops the trace exporter"]
pub struct Telemetry {
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown_with_timeout(FLUSH_ON_EXIT)
        {
            tracing::warn!(error = %e, "trace exporter did not shut down cleanly");
        }
    }
}

/// Installs the global subscriber for `service` (the `service.name` of its
/// spans): text or JSON log lines (colour codes only on a terminal) and,
/// when `args.otlp_endpoint` is set, an OpenTelemetry layer exporting every
/// span at `info` or above in batches (whatever `RUST_LOG` says of the log
/// lines). Panics are logged through it too (`panic.payload`,
/// `panic.location`, and `panic.backtrace` when `RUST_BACKTRACE` asks for
/// one), replacing the standard library's hook. Must run inside a Tokio
/// runtime (the exporter is a tonic client). An exporter that cannot be
/// built is logged and traces stay off: a tracing setting never stops a
/// service. The first call wins.
pub fn start(args: &LogArgs, service: &'static str, env_filter: Option<&str>) -> Telemetry {
    let mut failed = None;
    let provider = args
        .otlp_endpoint
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .and_then(|endpoint| match exporter(endpoint, service) {
            Ok(p) => Some(p),
            Err(e) => {
                failed = Some(format!("{endpoint}: {e}"));
                None
            }
        });
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer(service))
            .with_filter(tracing_subscriber::filter::LevelFilter::INFO)
    });
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let (text, json) = match args.log_format {
        LogFormat::Text => (
            Some(
                tracing_subscriber::fmt::layer()
                    .with_ansi(ansi)
                    .with_filter(filter(env_filter)),
            ),
            None,
        ),
        LogFormat::Json => (
            None,
            Some(
                tracing_subscriber::fmt::layer()
                    .with_ansi(ansi)
                    .json()
                    .flatten_event(true)
                    .with_filter(filter(env_filter)),
            ),
        ),
    };
    let installed = tracing_subscriber::registry()
        .with(otel)
        .with(text)
        .with(json)
        .try_init()
        .is_ok();
    if installed {
        // Only with this subscriber in place: otherwise the event could go
        // nowhere, and the standard hook at least prints.
        std::panic::set_hook(Box::new(tracing_panic::panic_hook));
    }
    if let Some(e) = failed {
        tracing::error!(error = %e, "cannot export traces; running without them");
    } else if provider.is_some() && installed {
        tracing::info!(endpoint = ?args.otlp_endpoint, "exporting traces over OTLP");
    }
    Telemetry {
        provider: provider.filter(|_| installed),
    }
}

fn filter(env_filter: Option<&str>) -> EnvFilter {
    env_filter
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new("info"))
}

fn exporter(
    endpoint: &str,
    service: &'static str,
) -> Result<opentelemetry_sdk::trace::SdkTracerProvider, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| e.to_string())?;
    Ok(opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(service)
                .build(),
        )
        .build())
}
