//! Settings of the catalog service. Every field is a flag and a `KNOTWORK_*`
//! environment variable (clap reads them in `main.rs`; the library never
//! reads the environment).

use std::net::SocketAddr;
use std::path::PathBuf;

use knotwork_runtime::listen::LimitArgs;
use knotwork_runtime::prod::Mode;
use knotwork_runtime::telemetry::LogArgs;
use knotwork_runtime::tls::TlsArgs;

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50052";
/// The default data folder.
pub const DEFAULT_DATA_DIR: &str = "./knotwork-data/catalog";
/// The development internal credential.
pub const DEFAULT_INTERNAL_TOKEN: &str = knotwork_runtime::dev::INTERNAL_TOKEN;

/// Catalog service settings.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "knotwork-catalog",
    about = "Knotwork's catalog service: the trigger point chart over gRPC."
)]
pub struct Config {
    /// Address to listen on for gRPC.
    #[arg(long, env = "KNOTWORK_CATALOG_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// Admin address: Prometheus metrics (`GET /metrics`) and gRPC health
    /// for the kubelet's probes, always plain text (like etcd's metrics
    /// listener). Off when unset.
    #[arg(long, env = "KNOTWORK_CATALOG_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,

    /// Folder for the catalog store (`catalog.redb`); created if missing.
    #[arg(long, env = "KNOTWORK_CATALOG_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,

    /// Catalog data file (TOML) to serve instead of the copy built into the
    /// binary. Re-read on SIGHUP and on CatalogAdminService.ReloadCatalog.
    #[arg(long, env = "KNOTWORK_CATALOG_FILE")]
    pub catalog_file: Option<PathBuf>,

    /// Shared credential that CatalogAdminService callers must present in
    /// `x-knotwork-internal-token`.
    #[arg(
        long,
        env = "KNOTWORK_INTERNAL_TOKEN",
        default_value = DEFAULT_INTERNAL_TOKEN,
        hide_env_values = true
    )]
    pub internal_token: String,

    /// The internal credential being rotated in, accepted beside
    /// `internal_token` during a rotation (deploy/README.md, "Rotating the
    /// internal credential").
    #[arg(long, env = "KNOTWORK_INTERNAL_TOKEN_NEXT", hide_env_values = true)]
    pub internal_token_next: Option<String>,

    /// `prod` refuses the development internal credential and one shorter
    /// than 32 bytes at start.
    #[arg(long, env = "KNOTWORK_MODE", value_enum, default_value_t = Mode::Dev)]
    pub mode: Mode,

    /// TLS of the listener (plain text when unset) and mTLS.
    #[command(flatten)]
    pub tls: TlsArgs,

    /// Limits of the listener (streams per connection, timeouts).
    #[command(flatten)]
    pub limits: LimitArgs,

    /// After SIGTERM, how long in-flight calls may run before the
    /// connections still open are closed and the process exits (below the
    /// pod's terminationGracePeriodSeconds, 30 s).
    #[arg(long, env = "KNOTWORK_SHUTDOWN_GRACE_SECONDS", default_value_t = 25)]
    pub shutdown_grace_secs: u64,

    /// Logging options.
    #[command(flatten)]
    pub log: LogArgs,
}

impl Config {
    /// A configuration with the same defaults as the flags, storing under
    /// `data_dir` (for `knotwork up` and tests).
    pub fn local(data_dir: PathBuf) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50052)),
            admin_listen: None,
            data_dir,
            catalog_file: None,
            internal_token: DEFAULT_INTERNAL_TOKEN.to_owned(),
            internal_token_next: None,
            mode: Mode::Dev,
            tls: TlsArgs::default(),
            limits: LimitArgs::default(),
            shutdown_grace_secs: 25,
            log: LogArgs::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn local_matches_flag_defaults() {
        let parsed = Config::try_parse_from(["knotwork-catalog", "--data-dir", "/x"]).unwrap();
        let local = Config::local("/x".into());
        assert_eq!(parsed.listen, local.listen);
        assert_eq!(parsed.data_dir, local.data_dir);
        assert_eq!(parsed.catalog_file, local.catalog_file);
        assert_eq!(parsed.internal_token, local.internal_token);
        assert_eq!(parsed.mode, local.mode);
        assert_eq!(parsed.shutdown_grace_secs, local.shutdown_grace_secs);
        assert_eq!(parsed.log.log_format, local.log.log_format);
        assert_eq!(format!("{:?}", parsed.tls), format!("{:?}", local.tls));
        assert_eq!(
            format!("{:?}", parsed.limits),
            format!("{:?}", local.limits)
        );
    }
}
