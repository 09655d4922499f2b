//! For operators: `health`, `reshard`, `backup` and `restore`.

use anyhow::bail;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::connect::{Ctx, code_name};
use crate::output::{paint, print_table, style, table};

/// Options of `knotwork reshard`.
#[derive(Debug, clap::Args)]
pub struct ReshardArgs {
    /// The current shard list, comma separated, in shard order. With
    /// `--online`, `id=url` entries, needed only when no shard holds a
    /// shard map yet.
    #[arg(long, value_delimiter = ',')]
    pub from: Vec<String>,
    /// The new shard list, comma separated, in shard order. With
    /// `--online`, `id=url` entries (each id is the shard's
    /// KNOTWORK_SESSION_SHARD_ID; a replicated shard group's url is its
    /// replicas' URLs joined by `|`, and the tool calls its leader).
    #[arg(long, value_delimiter = ',', required = true)]
    pub to: Vec<String>,
    /// Move while everyone keeps working: copy, fence a group of users for
    /// a moment, cut over by the shard map's epoch, delete from the old
    /// shard. Resumable: after a crash, run the same command again.
    #[arg(long)]
    pub online: bool,
    /// With `--online`: the most moving users fenced at once.
    #[arg(long, default_value_t = 100)]
    pub fence_users: usize,
    /// With `--online`: users copied at the same time.
    #[arg(long, default_value_t = 16)]
    pub parallel: usize,
    /// The credential and TLS to reach the shards.
    #[command(flatten)]
    pub shards: ShardAccess,
}

/// How the operator commands reach session shards directly (not through
/// the gateway), shared by `reshard` and `backup`.
#[derive(Debug, clap::Args)]
pub struct ShardAccess {
    /// The internal credential of the session shards.
    #[arg(
        long,
        env = "KNOTWORK_INTERNAL_TOKEN",
        default_value = knotwork_runtime::dev::INTERNAL_TOKEN,
        hide_env_values = true
    )]
    pub internal_token: String,
    /// TLS to the shards (`https://` URLs): the CA that signed their
    /// certificates, and this tool's client certificate and key when they
    /// require mTLS.
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
    let tls = knotwork_runtime::tls::BackendTls::load(&args.shards.tls)?;
    if args.online {
        return reshard_online(&args, &tls).await;
    }
    if args.from.is_empty() {
        bail!("--from is required (the shard list the gateways use now)");
    }
    let report =
        knotwork_gateway::reshard_with_tls(&args.from, &args.to, &args.shards.internal_token, &tls)
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

/// `knotwork reshard --online`.
async fn reshard_online(
    args: &ReshardArgs,
    tls: &knotwork_runtime::tls::BackendTls,
) -> anyhow::Result<()> {
    let from = knotwork_gateway::parse_shard_list(&args.from)?;
    let to = knotwork_gateway::parse_shard_list(&args.to)?;
    let options = knotwork_gateway::OnlineOptions {
        fence_users: args.fence_users,
        parallel: args.parallel,
    };
    let started = std::time::Instant::now();
    let r = knotwork_gateway::reshard_online(&from, &to, &args.shards.internal_token, tls, options)
        .await?;
    println!(
        "shard map epoch {} -> {}: {} users moved in {} groups (longest fence {} ms), \
         {} deleted from their old shard, in {:.1} s",
        r.epoch_before,
        r.epoch_after,
        r.users_moved,
        r.groups,
        r.longest_fence.as_millis(),
        r.users_deleted,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Options of `knotwork backup`.
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// The session shard to copy (its own address, not the gateway's), e.g.
    /// `https://session-0.session:50053`.
    #[arg(long, env = "KNOTWORK_SESSION_URL")]
    pub shard: String,
    /// The file to write: a session database as the shard held it at the
    /// backup point (written as FILE.partial until complete). An existing
    /// folder gets a file named after the shard's host and the time,
    /// `session-0.session-20260101T020000Z.redb`.
    #[arg(long)]
    pub out: std::path::PathBuf,
    /// With a folder as `--out`: keep only the newest N backups of this
    /// shard there, deleting older ones after a backup succeeded.
    #[arg(long)]
    pub keep: Option<usize>,
    /// The credential and TLS to reach the shard.
    #[command(flatten)]
    pub shards: ShardAccess,
}

/// Options of `knotwork restore`.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// A file written by `knotwork backup`.
    #[arg(long)]
    pub from: std::path::PathBuf,
    /// The stopped shard's data folder (its `--data-dir`); the database
    /// there is kept beside the restored one as
    /// `session.redb.before-restore-{seconds}`.
    #[arg(long, env = "KNOTWORK_SESSION_DATA_DIR")]
    pub data_dir: std::path::PathBuf,
}

/// `knotwork backup`: a consistent copy of a live session shard, taken in
/// one read transaction on the shard while writes go on.
pub async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use knotwork_proto::session::v1::BackupRequest;
    use knotwork_proto::session::v1::session_admin_service_client::SessionAdminServiceClient;
    let tls = knotwork_runtime::tls::BackendTls::load(&args.shards.tls)?;
    let channel = tls
        .endpoint(&args.shard)?
        .connect_timeout(std::time::Duration::from_secs(5))
        .connect()
        .await
        .with_context(|| format!("cannot reach the shard at {}", args.shard))?;
    let mut req = tonic::Request::new(BackupRequest {});
    req.metadata_mut().insert(
        knotwork_proto::metadata::INTERNAL_TOKEN,
        args.shards
            .internal_token
            .parse()
            .context("the internal credential is not a valid header value")?,
    );
    let started = std::time::Instant::now();
    let stream = SessionAdminServiceClient::new(channel)
        .backup(req)
        .await
        .map_err(crate::connect::explain)?
        .into_inner();
    let (out, prefix) = backup_path(&args.shard, &args.out);
    let saved = knotwork_session::transfer::save_backup(stream, &out)
        .await
        .map_err(crate::connect::explain)?;
    let size = std::fs::metadata(&out).map_or(0, |m| m.len());
    println!(
        "backup of {} at {} written to {}: {} rows in {} tables, {:.1} MiB, {:.1} s",
        args.shard,
        saved.snapshot_time,
        out.display(),
        saved.rows,
        saved.tables,
        size as f64 / (1024.0 * 1024.0),
        started.elapsed().as_secs_f64()
    );
    if let (Some(keep), Some(prefix)) = (args.keep, prefix) {
        for old in older_backups(&args.out, &prefix, keep)? {
            std::fs::remove_file(&old)?;
            println!("removed the older backup {}", old.display());
        }
    }
    Ok(())
}

/// Where a backup goes: `out` itself, or in the folder `out` a file named
/// after the shard's host and the time (then also the name's prefix, for
/// `--keep`).
fn backup_path(shard: &str, out: &std::path::Path) -> (std::path::PathBuf, Option<String>) {
    if !out.is_dir() {
        return (out.to_owned(), None);
    }
    let host = shard
        .split("://")
        .nth(1)
        .unwrap_or(shard)
        .split(['/', ':'])
        .next()
        .unwrap_or("shard");
    let host: String = host
        .split('.')
        .take(2)
        .collect::<Vec<_>>()
        .join(".")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let time = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ");
    let prefix = format!("{host}-");
    (out.join(format!("{prefix}{time}.redb")), Some(prefix))
}

/// The backups of one shard in `dir` beyond the newest `keep` (names sort
/// by time).
fn older_backups(
    dir: &std::path::Path,
    prefix: &str,
    keep: usize,
) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".redb"))
        })
        .collect();
    files.sort();
    let n = files.len().saturating_sub(keep);
    files.truncate(n);
    Ok(files)
}

/// `knotwork restore`: puts a backup in place in a stopped shard's data
/// folder (refused while the shard runs).
pub fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let r = knotwork_session::store::restore_file(&args.from, &args.data_dir)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "restored {} users and {} sessions into {}",
        r.users,
        r.sessions,
        args.data_dir.display()
    );
    if let Some(previous) = r.previous {
        println!("the database it replaced is kept as {}", previous.display());
    }
    println!("start the shard again; it serves the data as of the backup point");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backups_in_a_folder_are_named_by_shard_and_pruned_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let (path, prefix) = backup_path(
            "https://session-1.session.knotwork.svc.cluster.local:50053",
            dir.path(),
        );
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(name.starts_with("session-1.session-2"), "{name}");
        assert_eq!(prefix.as_deref(), Some("session-1.session-"));
        let (file, none) = backup_path("http://x:1", &dir.path().join("a.redb"));
        assert_eq!(file, dir.path().join("a.redb"));
        assert!(none.is_none());
        for n in [
            "session-1.session-20260101T000000Z.redb",
            "session-1.session-20260102T000000Z.redb",
            "session-1.session-20260103T000000Z.redb",
            "session-2.session-20260101T000000Z.redb",
        ] {
            std::fs::write(dir.path().join(n), b"").unwrap();
        }
        let old = older_backups(dir.path(), "session-1.session-", 2).unwrap();
        assert_eq!(
            old,
            [dir.path().join("session-1.session-20260101T000000Z.redb")]
        );
        assert!(
            older_backups(dir.path(), "session-2.session-", 2)
                .unwrap()
                .is_empty()
        );
    }
}
