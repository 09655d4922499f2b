//! Talking to the gateway: the global flags, the channel, who is calling
//! (flag, environment, development shortcut or the token stored by
//! `knotwork login`), and readable gRPC errors.

use std::time::Duration;

use anyhow::Context as _;
use knotwork_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use knotwork_proto::gateway::v1::view_service_client::ViewServiceClient;
use knotwork_proto::session::v1::session_service_client::SessionServiceClient;
use tonic::transport::{Channel, Endpoint};
use tonic_types::StatusExt as _;

use crate::credentials;
use crate::output::Output;

/// The development secret's default, shared with the gateway.
pub use knotwork_runtime::dev::JWT_SECRET as DEV_SECRET;

/// Flags every client subcommand takes (before or after the subcommand).
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// The gateway's address.
    #[arg(
        long,
        global = true,
        env = "KNOTWORK_GATEWAY_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub gateway: String,
    /// A bearer token (see `knotwork token` and `knotwork login`).
    #[arg(long, global = true, env = "KNOTWORK_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Development shortcut: mint a token for this user with the development
    /// secret instead of passing `--token`.
    #[arg(long, global = true, env = "KNOTWORK_USER")]
    pub user: Option<String>,
    /// The development secret used with `--user`.
    #[arg(
        long,
        global = true,
        env = "KNOTWORK_JWT_SECRET",
        default_value = DEV_SECRET,
        hide_env_values = true,
        hide_default_value = true
    )]
    pub jwt_secret: String,
    /// Print responses as JSON (the proto3 JSON mapping) for scripts.
    #[arg(long, global = true)]
    pub json: bool,
}

/// What a client subcommand needs: where, who, and how to print.
#[derive(Debug, Clone)]
pub struct Ctx {
    global: Global,
    /// How to print.
    pub out: Output,
}

impl Ctx {
    /// From the parsed global flags.
    pub fn new(global: Global) -> Self {
        let out = Output { json: global.json };
        Self { global, out }
    }

    /// The global flags.
    pub fn global(&self) -> &Global {
        &self.global
    }

    /// A connected channel to the gateway.
    pub async fn channel(&self) -> anyhow::Result<Channel> {
        let gateway = &self.global.gateway;
        Endpoint::from_shared(gateway.clone())
            .context("invalid --gateway address")?
            .connect_timeout(Duration::from_secs(3))
            .connect()
            .await
            .with_context(|| format!("cannot reach the gateway at {gateway}"))
    }

    /// A catalog client.
    pub async fn catalog(&self) -> anyhow::Result<CatalogServiceClient<Channel>> {
        Ok(CatalogServiceClient::new(self.channel().await?))
    }

    /// A session client.
    pub async fn session(&self) -> anyhow::Result<SessionServiceClient<Channel>> {
        Ok(SessionServiceClient::new(self.channel().await?))
    }

    /// A view (screens) client.
    pub async fn views(&self) -> anyhow::Result<ViewServiceClient<Channel>> {
        Ok(ViewServiceClient::new(self.channel().await?))
    }

    /// The caller's token: `--token`/`KNOTWORK_TOKEN`, else one minted for
    /// `--user`, else the one `knotwork login` stored. `None` means the call
    /// goes out without one and the gateway answers UNAUTHENTICATED.
    pub fn token(&self) -> anyhow::Result<Option<String>> {
        if let Some(token) = &self.global.token {
            return Ok(Some(token.trim().to_owned()));
        }
        if let Some(user) = &self.global.user {
            return Ok(Some(knotwork_gateway::auth::mint_dev_token(
                &self.global.jwt_secret,
                knotwork_runtime::dev::JWT_ISSUER,
                knotwork_runtime::dev::JWT_AUDIENCE,
                user,
                Duration::from_secs(3600),
            )?));
        }
        credentials::load()
    }

    /// A request carrying the caller's token, with a 30 s deadline.
    pub fn request<T>(&self, message: T) -> anyhow::Result<tonic::Request<T>> {
        let mut req = tonic::Request::new(message);
        req.set_timeout(Duration::from_secs(30));
        if let Some(token) = self.token()? {
            req.metadata_mut().insert(
                "authorization",
                format!("Bearer {token}")
                    .parse()
                    .context("the token is not valid header text")?,
            );
        }
        Ok(req)
    }

    /// A request for a server stream: no overall deadline (a guided session
    /// lasts minutes), the caller's token.
    pub fn stream_request<T>(&self, message: T) -> anyhow::Result<tonic::Request<T>> {
        let mut req = self.request(message)?;
        req.metadata_mut().remove("grpc-timeout");
        Ok(req)
    }
}

pub use knotwork_runtime::grpc::code_name;

/// What to do about a refusal, by its ErrorInfo reason.
fn hint(code: tonic::Code, reason: Option<&str>) -> Option<&'static str> {
    Some(match (code, reason) {
        (_, Some("SCREENING_REQUIRED")) => {
            "answer the health screening first: `knotwork screening` lists the questions"
        }
        (_, Some("CONTRAINDICATED")) => {
            "self-massage is ruled out until a medical provider clears you; \
             record the clearance with `knotwork screening --cleared NAME=YYYY-MM-DD`"
        }
        (_, Some("TOOL_EXCLUDED")) => {
            "choose another tool: `knotwork recommended-tools POINT` lists the safe ones"
        }
        (_, Some("CONDITION_EXCLUDED")) => "one of your conditions rules this point out",
        (_, Some("DAILY_LIMIT_REACHED")) => "see when the next one is allowed: `knotwork day`",
        (_, Some("THERAPIST_ONLY")) => {
            "this point is for a trained therapist only; `knotwork pain` lists points you can work yourself"
        }
        (_, Some("QUOTA_EXCEEDED")) => {
            "keep a copy with `knotwork export`, then remove old sessions with \
             `knotwork delete-session`"
        }
        (tonic::Code::Unauthenticated, _) => {
            "sign in: `knotwork login --user NAME` (development), or pass --token / KNOTWORK_TOKEN"
        }
        _ => return None,
    })
}

/// Turns a gRPC status into a readable error: the code, the message, the
/// field violations and the ErrorInfo reason the server attached, and a hint.
pub fn explain(status: tonic::Status) -> anyhow::Error {
    let mut text = format!("{}: {}", code_name(status.code()), status.message());
    if let Some(bad) = status.get_details_bad_request() {
        for v in bad.field_violations {
            text.push_str(&format!("\n  field {}: {}", v.field, v.description));
        }
    }
    if let Some(quota) = status.get_details_quota_failure() {
        for v in quota.violations {
            text.push_str(&format!("\n  quota {}: {}", v.subject, v.description));
        }
    }
    let info = status.get_details_error_info();
    if let Some(info) = &info {
        text.push_str(&format!("\n  reason: {}", info.reason));
        let mut meta: Vec<_> = info.metadata.iter().collect();
        meta.sort();
        for (k, v) in meta {
            text.push_str(&format!("\n  {k}: {v}"));
        }
    }
    if let Some(hint) = hint(status.code(), info.as_ref().map(|i| i.reason.as_str())) {
        text.push_str(&format!("\n  hint: {hint}"));
    }
    anyhow::anyhow!(text)
}

/// A full resource name from a short id: `ql_claw` -> `tools/ql_claw`;
/// names that already have a collection pass through.
pub fn full(collection: &str, id: &str) -> String {
    if id.contains('/') {
        id.to_owned()
    } else {
        format!("{collection}/{id}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(full("tools", "ql_claw"), "tools/ql_claw");
        assert_eq!(full("tools", "tools/ql_claw"), "tools/ql_claw");
    }

    #[test]
    fn explain_shows_code_fields_and_reason() {
        use tonic_types::{ErrorDetails, StatusExt as _};
        let mut d = ErrorDetails::with_bad_request_violation("session.pressure", "must be 0-10");
        d.set_error_info(
            "SCREENING_REQUIRED",
            "knotwork.dev",
            [("missing".to_owned(), "x".to_owned())],
        );
        let s = tonic::Status::with_error_details(tonic::Code::InvalidArgument, "bad", d);
        let text = explain(s).to_string();
        assert!(text.starts_with("INVALID_ARGUMENT: bad"), "{text}");
        assert!(
            text.contains("field session.pressure: must be 0-10"),
            "{text}"
        );
        assert!(text.contains("reason: SCREENING_REQUIRED"), "{text}");
        assert!(text.contains("missing: x"), "{text}");
        assert!(text.contains("hint: answer the health screening"), "{text}");
        let hint = hint(tonic::Code::FailedPrecondition, Some("THERAPIST_ONLY")).unwrap();
        assert!(hint.contains("therapist only"), "{hint}");
    }
}
