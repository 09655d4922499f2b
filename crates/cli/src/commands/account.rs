//! Development tokens and the stored sign-in: `token`, `login` (a
//! development token, a pasted one, or a device login with an OpenID
//! provider), `logout`, and the renewal of a device login's token.

use std::time::Duration;

use anyhow::{Context as _, bail};
use base64::Engine as _;

use crate::connect::{Ctx, DEV_SECRET};
use crate::credentials;
use crate::output::{paint, style};

/// Options of `knotwork token`.
#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    #[command(flatten)]
    pub mint: MintArgs,
}

/// How a development token is minted.
#[derive(Debug, clap::Args)]
pub struct MintArgs {
    /// How long the token is valid, in hours.
    #[arg(long, default_value_t = 24)]
    pub ttl_hours: u64,
    /// The issuer claim.
    #[arg(long, env = "KNOTWORK_JWT_ISSUER", default_value = knotwork_runtime::dev::JWT_ISSUER)]
    pub issuer: String,
    /// The audience claim.
    #[arg(long, env = "KNOTWORK_JWT_AUDIENCE", default_value = knotwork_runtime::dev::JWT_AUDIENCE)]
    pub audience: String,
}

/// Options of `knotwork login`.
#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// With --client-id: the OpenID provider's issuer URL, for a device login
    /// (approve it in a browser, on any device). Otherwise the issuer claim
    /// of the development token minted for --user.
    #[arg(long)]
    pub issuer: Option<String>,
    /// The provider's client id for Knotwork (a public client allowed the
    /// device grant); selects the device login.
    #[arg(long, env = "KNOTWORK_OIDC_CLIENT_ID", requires = "issuer")]
    pub client_id: Option<String>,
    /// The scopes asked for in a device login (`offline_access` brings the
    /// refresh token).
    #[arg(long, default_value = "openid offline_access")]
    pub scope: String,
    /// How long a development token is valid, in hours.
    #[arg(long, default_value_t = 24)]
    pub ttl_hours: u64,
    /// The audience claim of a development token.
    #[arg(long, env = "KNOTWORK_JWT_AUDIENCE", default_value = knotwork_runtime::dev::JWT_AUDIENCE)]
    pub audience: String,
}

fn mint(ctx: &Ctx, args: &MintArgs, user: &str) -> anyhow::Result<String> {
    let g = ctx.global();
    Ok(knotwork_gateway::auth::mint_dev_token(
        &g.jwt_secret,
        &args.issuer,
        &args.audience,
        user,
        Duration::from_secs(args.ttl_hours.saturating_mul(3600)),
    )?)
}

/// The subject and expiry a JWT claims (read, not verified: the gateway
/// verifies).
fn claims(token: &str) -> anyhow::Result<(String, Option<i64>)> {
    let payload = token
        .split('.')
        .nth(1)
        .context("this is not a JWT (header.payload.signature)")?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .context("the token's payload is not base64url")?;
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).context("the token's payload is not JSON")?;
    let sub = v["sub"].as_str().context("the token has no subject")?;
    Ok((sub.to_owned(), v["exp"].as_i64()))
}

/// `knotwork token --user NAME`.
pub fn token(ctx: &Ctx, args: TokenArgs) -> anyhow::Result<()> {
    let Some(user) = &ctx.global().user else {
        bail!("who is the token for? pass --user NAME");
    };
    println!("{}", mint(ctx, &args.mint, user)?);
    Ok(())
}

/// `knotwork login`: `--issuer` and `--client-id` run a device login;
/// `--token` stores that token; `--user` mints a development token and
/// stores it.
pub async fn login(ctx: &Ctx, args: LoginArgs) -> anyhow::Result<()> {
    let g = ctx.global();
    if let (Some(issuer), Some(client_id)) = (&args.issuer, &args.client_id) {
        let (token, session) = crate::oidc::device_login(issuer, client_id, &args.scope).await?;
        let (sub, exp) = claims(&token)?;
        let path = credentials::store_session(&token, &session)?;
        return signed_in(&sub, exp, &path, session.refresh_token.is_some());
    }
    let token = match (&g.token, &g.user) {
        (Some(token), _) => token.trim().to_owned(),
        (None, Some(user)) => {
            if g.jwt_secret == DEV_SECRET {
                eprintln!("minting a development token signed with the development secret");
            }
            let mint_args = MintArgs {
                ttl_hours: args.ttl_hours,
                issuer: args
                    .issuer
                    .clone()
                    .unwrap_or_else(|| knotwork_runtime::dev::JWT_ISSUER.to_owned()),
                audience: args.audience.clone(),
            };
            mint(ctx, &mint_args, user)?
        }
        (None, None) => bail!(
            "pass --issuer URL --client-id ID (sign in with your provider), --user NAME \
             (development token) or --token TOKEN"
        ),
    };
    let (sub, exp) = claims(&token)?;
    let path = credentials::store(&token)?;
    signed_in(&sub, exp, &path, false)
}

fn signed_in(
    sub: &str,
    exp: Option<i64>,
    path: &std::path::Path,
    renews: bool,
) -> anyhow::Result<()> {
    let until = exp.map(|seconds| prost_types::Timestamp { seconds, nanos: 0 }.to_string());
    anstream::println!(
        "{} as {} (token stored in {}{}{})",
        paint(style::GOOD, "signed in"),
        paint(style::HEADING, sub),
        path.display(),
        until
            .map(|u| format!(", valid until {u}"))
            .unwrap_or_default(),
        if renews {
            ", renewed automatically"
        } else {
            ""
        }
    );
    Ok(())
}

/// Renews the stored token of a device login when it is about to expire
/// (before any command that calls the gateway with it). A failed renewal
/// is reported and the call goes on with the old token, which the gateway
/// then refuses with a clear reason.
pub async fn renew_stored(ctx: &Ctx) -> anyhow::Result<()> {
    let g = ctx.global();
    if g.token.is_some() || g.user.is_some() {
        return Ok(());
    }
    let (Some(token), Some(session)) = (credentials::load()?, credentials::load_session()?) else {
        return Ok(());
    };
    let exp = claims(&token).ok().and_then(|(_, exp)| exp);
    if !crate::oidc::needs_refresh(exp) {
        return Ok(());
    }
    match crate::oidc::refresh(&session).await {
        Ok((token, session)) => {
            credentials::store_session(&token, &session)?;
        }
        Err(e) => {
            let label = paint(style::CAUTION, "warning:");
            anstream::eprintln!("{label} {e:#}");
        }
    }
    Ok(())
}

/// `knotwork logout`.
pub fn logout() -> anyhow::Result<()> {
    let path = credentials::path()?;
    if credentials::remove()? {
        println!("signed out (removed {})", path.display());
    } else {
        println!("not signed in (no {})", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_of_a_dev_token() {
        let t = knotwork_gateway::auth::mint_dev_token(
            DEV_SECRET,
            "knotwork-dev",
            "knotwork",
            "alice",
            Duration::from_secs(60),
        )
        .unwrap();
        let (sub, exp) = claims(&t).unwrap();
        assert_eq!(sub, "alice");
        assert!(exp.is_some());
        assert!(claims("not-a-token").is_err());
        assert!(claims("a.!!!.c").is_err());
    }
}
