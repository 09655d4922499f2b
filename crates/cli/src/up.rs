//! `knotwork up`: the whole system in one process, for one machine.
//!
//! It binds the three listeners, then calls each service's `run` with a
//! shared shutdown signal: the same seams the separate binaries and the tests
//! use, so there is no second way of wiring the services.
//!
//! Every setting the separate binaries read from `KNOTWORK_*` variables is
//! read here the same way (their own parsers, so nothing is forgotten), then
//! `up` sets what it owns: the listen addresses, the data folders, the
//! backend URLs and the flags below, which win over the variables.
//!
//! Inside the process the gateway calls the catalog and the session
//! service, and the session service calls the catalog, in process
//! (`knotwork_runtime::memory`): each call goes straight to the service's
//! stack (its layers, routes and handlers), with no HTTP/2 and no network
//! between. The catalog and session ports still serve the CLI and other
//! tools over TCP.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use knotwork_runtime::telemetry::LogArgs;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Options of `knotwork up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Folder that holds all data: `catalog/` and `session/` below it.
    #[arg(long, env = "KNOTWORK_DATA_DIR", default_value = "./knotwork-data")]
    data_dir: PathBuf,
    /// Where the gateway listens (gRPC and grpc-web).
    #[arg(
        long,
        env = "KNOTWORK_GATEWAY_LISTEN",
        default_value = "127.0.0.1:50051"
    )]
    gateway_listen: SocketAddr,
    /// Where the gateway serves Prometheus metrics.
    #[arg(
        long,
        env = "KNOTWORK_GATEWAY_ADMIN_LISTEN",
        default_value = "127.0.0.1:9090"
    )]
    admin_listen: SocketAddr,
    /// Where the catalog service listens.
    #[arg(
        long,
        env = "KNOTWORK_CATALOG_LISTEN",
        default_value = "127.0.0.1:50052"
    )]
    catalog_listen: SocketAddr,
    /// Where the session service listens.
    #[arg(
        long,
        env = "KNOTWORK_SESSION_LISTEN",
        default_value = "127.0.0.1:50053"
    )]
    session_listen: SocketAddr,
    /// A catalog data file to serve instead of the embedded one.
    #[arg(long, env = "KNOTWORK_CATALOG_FILE")]
    catalog_file: Option<PathBuf>,
    /// The development JWT secret (HS256) the gateway checks tokens with.
    #[arg(
        long,
        env = "KNOTWORK_JWT_SECRET",
        default_value = knotwork_runtime::dev::JWT_SECRET
    )]
    jwt_secret: String,
    /// The credential the gateway presents to the backends.
    #[arg(
        long,
        env = "KNOTWORK_INTERNAL_TOKEN",
        default_value = knotwork_runtime::dev::INTERNAL_TOKEN
    )]
    internal_token: String,
    /// OpenID providers to accept sign-ins from, by issuer URL (comma-separated),
    /// beside the development secret.
    #[arg(long, env = "KNOTWORK_OIDC_ISSUERS", value_delimiter = ',')]
    oidc_issuers: Vec<String>,
    /// The audience of each OpenID issuer's tokens (one for all, or one per
    /// issuer): the web app's and CLI's client id.
    #[arg(long, env = "KNOTWORK_OIDC_AUDIENCES", value_delimiter = ',')]
    oidc_audiences: Vec<String>,
    /// Divides the wall-clock time of guided sessions (demos and tests).
    #[arg(long, env = "KNOTWORK_GUIDE_SPEEDUP", default_value_t = 1)]
    guide_speedup: u32,
    #[command(flatten)]
    log: LogArgs,
}

/// A service's settings from its `KNOTWORK_*` variables and defaults, as
/// its own binary would read them with no flags.
fn settings<C: clap::Parser>(binary: &str) -> anyhow::Result<C> {
    C::try_parse_from([binary]).with_context(|| format!("the {binary} settings"))
}

/// Runs catalog, session and gateway until Ctrl-C or SIGTERM.
pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let _telemetry = knotwork_runtime::telemetry::start(
        &args.log,
        "knotwork",
        std::env::var("RUST_LOG").ok().as_deref(),
    );
    let bind = |addr: SocketAddr, what: &'static str| async move {
        TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen for the {what} on {addr}"))
    };
    let catalog_listener = bind(args.catalog_listen, "catalog").await?;
    let session_listener = bind(args.session_listen, "session service").await?;
    let gateway_listener = bind(args.gateway_listen, "gateway").await?;
    let admin_listener = bind(args.admin_listen, "gateway metrics").await?;
    let catalog_addr = catalog_listener.local_addr()?;
    let session_addr = session_listener.local_addr()?;
    let gateway_addr = gateway_listener.local_addr()?;
    let admin_addr = admin_listener.local_addr()?;

    let catalog_url = format!("http://{catalog_addr}");
    let session_url = format!("http://{session_addr}");
    // The gateway and the session service call in process.
    let catalog_local = knotwork_runtime::memory::LocalSlot::default();
    let session_local = knotwork_runtime::memory::LocalSlot::default();

    let mut catalog = settings::<knotwork_catalog::Config>("knotwork-catalog")?;
    catalog.listen = catalog_addr;
    catalog.data_dir = args.data_dir.join("catalog");
    catalog.catalog_file = args.catalog_file.clone();
    catalog.internal_token = args.internal_token.clone();

    let mut session = settings::<knotwork_session::Config>("knotwork-session")?;
    session.listen = session_addr;
    session.data_dir = args.data_dir.join("session");
    session.catalog_url = catalog_url.clone();
    session.catalog_memory = Some(catalog_local.clone());
    session.internal_token = args.internal_token.clone();
    session.guide_speedup = args.guide_speedup.max(1);

    let mut gateway = settings::<knotwork_gateway::Config>("knotwork-gateway")?;
    gateway.listen = gateway_addr;
    gateway.admin_listen = admin_addr;
    gateway.catalog_urls = vec![catalog_url.clone()];
    gateway.session_shards = vec![session_url.clone()];
    gateway
        .memory_backends
        .insert(catalog_url, catalog_local.clone());
    gateway
        .memory_backends
        .insert(session_url, session_local.clone());
    gateway.jwt_secret = args.jwt_secret.clone();
    gateway.internal_token = args.internal_token.clone();
    gateway.oidc_issuers = args.oidc_issuers.clone();
    gateway.oidc_audiences = args.oidc_audiences.clone();
    // The backends' admin ports (metrics, health) open when their variables
    // ask for them, as with the separate binaries.
    let catalog_admin = match catalog.admin_listen {
        Some(addr) => Some(bind(addr, "catalog admin port").await?),
        None => None,
    };
    let session_admin = match session.admin_listen {
        Some(addr) => Some(bind(addr, "session admin port").await?),
        None => None,
    };
    let catalog_listener =
        knotwork_runtime::listen::Listener::from(catalog_listener).with_local(catalog_local);
    let session_listener =
        knotwork_runtime::listen::Listener::from(session_listener).with_local(session_local);

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };

    println!("Knotwork is starting (data in {})", args.data_dir.display());
    println!("  gateway  grpc://{gateway_addr}  (gRPC and grpc-web; apps and the CLI talk here)");
    println!("  catalog  grpc://{catalog_addr}");
    println!("  session  grpc://{session_addr}");
    println!("  metrics  http://{admin_addr}/metrics");
    println!("Try: knotwork health   |   knotwork pain 'low back'   |   Ctrl-C to stop");

    let signal = tokio::spawn(async move {
        knotwork_runtime::shutdown::signal().await;
        let _ = stop_tx.send(true);
    });

    let result = tokio::try_join!(
        async {
            knotwork_catalog::run_with_admin(
                catalog,
                catalog_listener,
                catalog_admin,
                stopped(stop_rx.clone()),
            )
            .await
            .context("catalog service failed")
        },
        async {
            knotwork_session::run_with_admin(
                session,
                session_listener,
                session_admin,
                stopped(stop_rx.clone()),
            )
            .await
            .context("session service failed")
        },
        async {
            knotwork_gateway::run(
                gateway,
                gateway_listener,
                Some(admin_listener),
                stopped(stop_rx.clone()),
            )
            .await
            .context("gateway failed")
        },
    );
    signal.abort();
    result?;
    println!("Knotwork stopped cleanly.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// The `KNOTWORK_*` variables a command reads.
    fn variables(cmd: &clap::Command) -> Vec<String> {
        cmd.get_arguments()
            .filter_map(|a| a.get_env())
            .filter_map(|e| e.to_str())
            .filter(|e| e.starts_with("KNOTWORK_"))
            .map(str::to_owned)
            .collect()
    }

    /// Every setting of the separate binaries and of `knotwork up` is in
    /// README.md's table, so an operator finds every knob there.
    #[test]
    fn every_setting_is_in_the_readme_table() {
        let readme = include_str!("../../../README.md");
        let mut all = Vec::new();
        all.extend(variables(&knotwork_gateway::Config::command()));
        all.extend(variables(&knotwork_catalog::Config::command()));
        all.extend(variables(&knotwork_session::Config::command()));
        #[derive(clap::Parser)]
        struct Up {
            #[command(flatten)]
            args: super::UpArgs,
        }
        all.extend(variables(&Up::command()));
        assert!(all.len() > 40, "{}", all.len());
        let missing: Vec<&String> = all
            .iter()
            .filter(|v| !readme.contains(&format!("`{v}`")))
            .collect();
        assert!(missing.is_empty(), "not in README.md's table: {missing:?}");
    }
}
