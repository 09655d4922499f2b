//! For operators: `health` and `reshard`.

use anyhow::bail;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::connect::{Ctx, code_name};
use crate::output::{paint, print_table, style, table};

/// Options of `knotwork reshard`.
#[derive(Debug, clap::Args)]
pub struct ReshardArgs {
    /// The current shard list, comma separated, in shard order.
    #[arg(long, value_delimiter = ',', required = true)]
    pub from: Vec<String>,
    /// The new shard list, comma separated, in shard order.
    #[arg(long, value_delimiter = ',', required = true)]
    pub to: Vec<String>,
    /// The internal credential the shards accept.
    #[arg(
        long,
        env = "KNOTWORK_INTERNAL_TOKEN",
        default_value = "knotwork-dev-internal",
        hide_env_values = true
    )]
    pub internal_token: String,
    /// TLS to the shards (`https://` URLs): the CA that signed their
    /// certificates, and this tool's client certificate and key when they
    /// require mTLS (the same flags as `knotwork backup`).
    #[command(flatten)]
    pub tls: knotwork_runtime::tls::BackendTlsArgs,
}

/// `knotwork health`: the gateway's own health and the backends' as the
/// gateway sees them.
pub async fn health(ctx: &Ctx) -> anyhow::Result<()> {
    let mut client = HealthClient::new(ctx.channel().await?);
    let mut all_ok = true;
    let mut t = table(&["service", "status"]);
    let mut rows = serde_json::Map::new();
    for (label, service) in [
        ("gateway", ""),
        ("catalog", "knotwork.catalog.v1.CatalogService"),
        ("session", "knotwork.session.v1.SessionService"),
    ] {
        let status = match client
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
        {
            Ok(resp) => resp.into_inner().status().as_str_name().to_owned(),
            Err(status) => format!("{}: {}", code_name(status.code()), status.message()),
        };
        let ok = status == "SERVING";
        all_ok &= ok;
        rows.insert(label.to_owned(), status.clone().into());
        t.add_row(vec![
            label.to_owned(),
            if ok {
                paint(style::GOOD, status)
            } else {
                paint(style::DANGER, status)
            },
        ]);
    }
    if ctx.out.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print_table(&t);
    }
    if !all_ok {
        bail!("not every service is serving");
    }
    Ok(())
}

/// `knotwork reshard`.
pub async fn reshard(args: ReshardArgs) -> anyhow::Result<()> {
    let tls = knotwork_runtime::tls::BackendTls::load(&args.tls)?;
    let report =
        knotwork_gateway::reshard_with_tls(&args.from, &args.to, &args.internal_token, &tls)
            .await?;
    println!(
        "users seen: {}, moved: {}, failed: {}",
        report.users_seen,
        report.users_moved,
        report.failures.len()
    );
    for (user, why) in &report.failures {
        println!("  not moved {user}: {why}");
    }
    if !report.failures.is_empty() {
        bail!("some users were not moved; their data stays on the old shard, run again");
    }
    Ok(())
}
