//! The client subcommands: each talks to the gateway only, as an app does.

use std::time::Duration;

use anyhow::{Context as _, bail};
use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use knotwork_proto::session::v1 as ses;
use knotwork_proto::session::v1::session_service_client::SessionServiceClient;
use tonic::transport::{Channel, Endpoint};
use tonic_types::StatusExt as _;

/// Where the gateway is.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// The gateway's address.
    #[arg(
        long,
        env = "KNOTWORK_GATEWAY_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub gateway: String,
}

/// Who is calling.
#[derive(Debug, Clone, clap::Args)]
pub struct AuthArgs {
    #[command(flatten)]
    pub global: Global,
    /// A bearer token (see `knotwork token`).
    #[arg(long, env = "KNOTWORK_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Development shortcut: mint a token for this user with the development
    /// secret instead of passing `--token`.
    #[arg(long, env = "KNOTWORK_USER")]
    pub user: Option<String>,
    /// The development secret used with `--user`.
    #[arg(
        long,
        env = "KNOTWORK_JWT_SECRET",
        default_value = "knotwork-dev-secret",
        hide_env_values = true
    )]
    pub jwt_secret: String,
}

/// Options of `knotwork token`.
#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// The user id (the token's subject).
    #[arg(long)]
    pub user: String,
    /// How long the token is valid, in hours.
    #[arg(long, default_value_t = 24)]
    pub ttl_hours: u64,
    /// The development secret to sign with.
    #[arg(
        long,
        env = "KNOTWORK_JWT_SECRET",
        default_value = "knotwork-dev-secret",
        hide_env_values = true
    )]
    pub jwt_secret: String,
    /// The issuer claim.
    #[arg(long, env = "KNOTWORK_JWT_ISSUER", default_value = "knotwork-dev")]
    pub issuer: String,
    /// The audience claim.
    #[arg(long, env = "KNOTWORK_JWT_AUDIENCE", default_value = "knotwork")]
    pub audience: String,
}

/// Options of `knotwork search`.
#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub global: Global,
    /// What to look for, e.g. "trapezius", "lacrosse", "shin pain".
    pub query: String,
    /// Most results.
    #[arg(long, default_value_t = 10)]
    pub limit: i32,
}

/// Options of `knotwork pain`.
#[derive(Debug, clap::Args)]
pub struct PainArgs {
    #[command(flatten)]
    pub global: Global,
    /// Where it hurts, e.g. "low back", "left:chest", "right:temple".
    #[arg(required = true)]
    pub regions: Vec<String>,
    /// Symptoms, e.g. "headache", "tingling".
    #[arg(long = "symptom")]
    pub symptoms: Vec<String>,
    /// Most muscles to show.
    #[arg(long, default_value_t = 8)]
    pub limit: i32,
}

/// Options of `knotwork point`.
#[derive(Debug, clap::Args)]
pub struct PointArgs {
    #[command(flatten)]
    pub global: Global,
    /// The trigger point, e.g. `quadratus_lumborum_superficial`.
    pub point: String,
}

/// Options of `knotwork screening`.
#[derive(Debug, clap::Args)]
pub struct ScreeningArgs {
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Answer "no" to every question not given with `--yes`.
    #[arg(long)]
    pub none_apply: bool,
    /// A condition you have, e.g. `--yes cancer`.
    #[arg(long = "yes")]
    pub present: Vec<String>,
}

/// Options of `knotwork log`.
#[derive(Debug, clap::Args)]
pub struct LogArgs {
    #[command(flatten)]
    pub auth: AuthArgs,
    /// The trigger point worked, e.g. `quadratus_lumborum_superficial`.
    #[arg(long)]
    pub point: String,
    /// The tool used, e.g. `lacrosse_ball`.
    #[arg(long)]
    pub tool: String,
    /// Side: left, right or both.
    #[arg(long, default_value = "both")]
    pub side: String,
    /// Pressure used, 0-10.
    #[arg(long, default_value_t = 5)]
    pub pressure: i32,
    /// Time on the point, in seconds.
    #[arg(long, default_value_t = 240)]
    pub duration: i32,
    /// Tenderness before, 0-10.
    #[arg(long)]
    pub before: Option<i32>,
    /// Tenderness after, 0-10.
    #[arg(long)]
    pub after: Option<i32>,
    /// Free notes.
    #[arg(long, default_value = "")]
    pub notes: String,
    /// Idempotency key; a fresh one when not given.
    #[arg(long)]
    pub request_id: Option<String>,
}

/// Options of `knotwork sessions`.
#[derive(Debug, clap::Args)]
pub struct SessionsArgs {
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Most sessions to show.
    #[arg(long, default_value_t = 20)]
    pub limit: i32,
}

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
}

async fn channel(global: &Global) -> anyhow::Result<Channel> {
    Endpoint::from_shared(global.gateway.clone())
        .context("invalid --gateway address")?
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(30))
        .connect()
        .await
        .with_context(|| format!("cannot reach the gateway at {}", global.gateway))
}

fn bearer(auth: &AuthArgs) -> anyhow::Result<String> {
    if let Some(token) = &auth.token {
        return Ok(token.clone());
    }
    let Some(user) = &auth.user else {
        bail!(
            "this call needs a token: pass --token (see `knotwork token`) or --user for development"
        );
    };
    Ok(knotwork_gateway::auth::mint_dev_token(
        &auth.jwt_secret,
        "knotwork-dev",
        "knotwork",
        user,
        Duration::from_secs(3600),
    )?)
}

fn authed<T>(message: T, token: &str) -> anyhow::Result<tonic::Request<T>> {
    let mut req = tonic::Request::new(message);
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .context("token is not valid header text")?,
    );
    Ok(req)
}

/// Turns a gRPC status into a readable error: code, message, and any field
/// violations or reasons the server attached.
fn explain(status: tonic::Status) -> anyhow::Error {
    let mut text = format!("{:?}: {}", status.code(), status.message());
    if let Some(bad) = status.get_details_bad_request() {
        for v in bad.field_violations {
            text.push_str(&format!("\n  {}: {}", v.field, v.description));
        }
    }
    if let Some(info) = status.get_details_error_info() {
        text.push_str(&format!("\n  reason: {}", info.reason));
        let mut meta: Vec<_> = info.metadata.into_iter().collect();
        meta.sort();
        for (k, v) in meta {
            text.push_str(&format!("\n  {k}: {v}"));
        }
    }
    anyhow::anyhow!(text)
}

fn short(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

fn parse_side(text: &str) -> anyhow::Result<cat::Side> {
    Ok(match text.to_ascii_lowercase().as_str() {
        "left" | "l" => cat::Side::Left,
        "right" | "r" => cat::Side::Right,
        "both" | "b" => cat::Side::Both,
        "midline" | "middle" => cat::Side::Midline,
        other => bail!("unknown side {other:?}: use left, right or both"),
    })
}

/// `knotwork health`.
pub async fn health(global: Global) -> anyhow::Result<()> {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let mut client = HealthClient::new(channel(&global).await?);
    let mut all_ok = true;
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
            Ok(resp) => format!("{:?}", resp.into_inner().status()),
            Err(status) => format!("{:?}: {}", status.code(), status.message()),
        };
        all_ok &= status == "Serving";
        println!("{label:<8} {status}");
    }
    if !all_ok {
        bail!("not every service is serving");
    }
    Ok(())
}

/// `knotwork token`.
pub fn token(args: TokenArgs) -> anyhow::Result<()> {
    let token = knotwork_gateway::auth::mint_dev_token(
        &args.jwt_secret,
        &args.issuer,
        &args.audience,
        &args.user,
        Duration::from_secs(args.ttl_hours.saturating_mul(3600)),
    )?;
    println!("{token}");
    Ok(())
}

/// `knotwork search`.
pub async fn search(args: SearchArgs) -> anyhow::Result<()> {
    let mut client = CatalogServiceClient::new(channel(&args.global).await?);
    let resp = client
        .search(cat::SearchRequest {
            query: args.query,
            page_size: args.limit,
            ..Default::default()
        })
        .await
        .map_err(explain)?
        .into_inner();
    if resp.results.is_empty() {
        println!("nothing found");
    }
    for r in resp.results {
        println!(
            "{:<14} {:<40} {}",
            format!("{:?}", r.kind()).to_lowercase().replace("_", " "),
            r.resource,
            r.display_name
        );
    }
    Ok(())
}

/// `knotwork pain`.
pub async fn pain(args: PainArgs) -> anyhow::Result<()> {
    let mut locations = Vec::new();
    for text in &args.regions {
        let (side, region) = match text.split_once(':') {
            Some((side, region)) => (parse_side(side)?, region.to_owned()),
            None => (cat::Side::Unspecified, text.clone()),
        };
        locations.push(cat::PainLocation {
            region,
            side: side as i32,
        });
    }
    let mut client = CatalogServiceClient::new(channel(&args.global).await?);
    let resp = client
        .find_by_pain(cat::FindByPainRequest {
            locations,
            symptoms: args.symptoms,
            page_size: args.limit,
            page_token: String::new(),
        })
        .await
        .map_err(explain)?
        .into_inner();
    for flag in &resp.red_flags {
        println!("!! {}: {}", flag.display_name, flag.advice);
    }
    println!("Possible sources (not a diagnosis), best first:");
    for (i, m) in resp.matches.iter().enumerate() {
        let muscle = m.muscle.as_ref();
        println!(
            "{:>2}. {}",
            i + 1,
            muscle.map(|m| m.display_name.as_str()).unwrap_or("?")
        );
        for tp in &m.trigger_points {
            if let Some(p) = &tp.trigger_point {
                let why: Vec<_> = tp.reasons.iter().map(|r| r.text.as_str()).collect();
                println!("      {:<40} {}", short(&p.name), why.join("; "));
            }
        }
    }
    Ok(())
}

/// `knotwork point`.
pub async fn point(args: PointArgs) -> anyhow::Result<()> {
    let name = if args.point.contains('/') {
        args.point
    } else {
        format!("triggerPoints/{}", args.point)
    };
    let mut client = CatalogServiceClient::new(channel(&args.global).await?);
    let tp = client
        .get_trigger_point(cat::GetTriggerPointRequest { name })
        .await
        .map_err(explain)?
        .into_inner()
        .trigger_point
        .context("empty response")?;
    println!("{} ({})", tp.display_name, short(&tp.muscle));
    println!("Where: {}", tp.location_description);
    for c in &tp.cautions {
        println!("Caution ({}): {}", c.structure, c.text);
    }
    for t in &tp.techniques {
        println!("With {}: {}", short(&t.tool), t.instructions);
    }
    for x in &tp.excluded_tools {
        println!("Never with {}: {}", short(&x.tool), x.reason);
    }
    Ok(())
}

/// `knotwork screening`.
pub async fn screening(args: ScreeningArgs) -> anyhow::Result<()> {
    let token = bearer(&args.auth)?;
    let ch = channel(&args.auth.global).await?;
    let mut catalog = CatalogServiceClient::new(ch.clone());
    let conditions = catalog
        .list_contraindications(cat::ListContraindicationsRequest {
            kind: cat::ContraindicationKind::Condition as i32,
        })
        .await
        .map_err(explain)?
        .into_inner()
        .contraindications;
    if !args.none_apply && args.present.is_empty() {
        println!("The screening asks about:");
        for c in &conditions {
            println!("  {:<28} {}", short(&c.name), c.screening_question);
        }
        println!("Answer with --none-apply, adding --yes NAME for each that applies.");
        return Ok(());
    }
    let answers = conditions
        .iter()
        .map(|c| ses::ScreeningAnswer {
            contraindication: c.name.clone(),
            present: args
                .present
                .iter()
                .any(|p| p == short(&c.name) || *p == c.name),
            ..Default::default()
        })
        .collect();
    let mut session = SessionServiceClient::new(ch);
    let s = session
        .submit_screening(authed(ses::SubmitScreeningRequest { answers }, &token)?)
        .await
        .map_err(explain)?
        .into_inner()
        .screening
        .context("empty response")?;
    println!("screening status: {:?}", s.status());
    for b in &s.blocking {
        println!(
            "  rules massage out until a provider clears it: {}",
            short(b)
        );
    }
    Ok(())
}

/// `knotwork log`.
pub async fn log(args: LogArgs) -> anyhow::Result<()> {
    let token = bearer(&args.auth)?;
    let mut client = SessionServiceClient::new(channel(&args.auth.global).await?);
    let point = if args.point.contains('/') {
        args.point.clone()
    } else {
        format!("triggerPoints/{}", args.point)
    };
    let tool = if args.tool.contains('/') {
        args.tool.clone()
    } else {
        format!("tools/{}", args.tool)
    };
    let now = std::time::SystemTime::now();
    let record = ses::SessionRecord {
        trigger_point: point,
        tool,
        side: parse_side(&args.side)? as i32,
        pressure: args.pressure,
        duration_seconds: args.duration,
        tenderness_before: args.before,
        tenderness_after: args.after,
        notes: args.notes.clone(),
        perform_time: Some(prost_types::Timestamp::from(now)),
        ..Default::default()
    };
    let resp = client
        .log_session(authed(
            ses::LogSessionRequest {
                request_id: args
                    .request_id
                    .clone()
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
                session: Some(record),
            },
            &token,
        )?)
        .await
        .map_err(explain)?
        .into_inner();
    let s = resp.session.context("empty response")?;
    println!(
        "{} {} on {} ({}){}",
        if resp.replayed {
            "already logged:"
        } else {
            "logged"
        },
        s.name,
        short(&s.trigger_point),
        s.local_date,
        if resp.replayed { " (replayed)" } else { "" }
    );
    for w in &s.warnings {
        let mark = if w.medical_attention_advised {
            "!!"
        } else {
            " !"
        };
        println!("{mark} {}", w.message);
    }
    Ok(())
}

/// `knotwork sessions`.
pub async fn sessions(args: SessionsArgs) -> anyhow::Result<()> {
    let token = bearer(&args.auth)?;
    let mut client = SessionServiceClient::new(channel(&args.auth.global).await?);
    let resp = client
        .list_sessions(authed(
            ses::ListSessionsRequest {
                page_size: args.limit,
                ..Default::default()
            },
            &token,
        )?)
        .await
        .map_err(explain)?
        .into_inner();
    if resp.sessions.is_empty() {
        println!("no sessions yet");
    }
    for s in resp.sessions {
        println!(
            "{:<12} {:<40} {:<16} pressure {:>2}  {:>4}s  {}",
            s.local_date,
            short(&s.trigger_point),
            short(&s.tool),
            s.pressure,
            s.duration_seconds,
            s.name
        );
    }
    Ok(())
}

/// `knotwork progress`.
pub async fn progress(args: AuthArgs) -> anyhow::Result<()> {
    let token = bearer(&args)?;
    let mut client = SessionServiceClient::new(channel(&args.global).await?);
    let resp = client
        .list_progress(authed(ses::ListProgressRequest::default(), &token)?)
        .await
        .map_err(explain)?
        .into_inner();
    if resp.progress.is_empty() {
        println!("no progress yet: log a session first");
    }
    for p in resp.progress {
        println!(
            "{:<40} {:<18} trend {:+.2}/day  {}",
            short(&p.trigger_point),
            format!("{:?}", p.status()),
            p.tenderness_trend_per_day,
            p.advice
        );
    }
    Ok(())
}

/// `knotwork reshard`.
pub async fn reshard(args: ReshardArgs) -> anyhow::Result<()> {
    let report = knotwork_gateway::reshard(&args.from, &args.to, &args.internal_token).await?;
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
