//! Development tokens and the stored sign-in: `token`, `login`, `logout`.

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
    #[arg(long, env = "KNOTWORK_JWT_ISSUER", default_value = "knotwork-dev")]
    pub issuer: String,
    /// The audience claim.
    #[arg(long, env = "KNOTWORK_JWT_AUDIENCE", default_value = "knotwork")]
    pub audience: String,
}

/// Options of `knotwork login`.
#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub mint: MintArgs,
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

/// `knotwork login`: `--token` stores that token; `--user` mints a
/// development token and stores it.
pub fn login(ctx: &Ctx, args: LoginArgs) -> anyhow::Result<()> {
    let g = ctx.global();
    let token = match (&g.token, &g.user) {
        (Some(token), _) => token.trim().to_owned(),
        (None, Some(user)) => {
            if g.jwt_secret == DEV_SECRET {
                eprintln!("minting a development token signed with the development secret");
            }
            mint(ctx, &args.mint, user)?
        }
        (None, None) => bail!("pass --user NAME (development token) or --token TOKEN"),
    };
    let (sub, exp) = claims(&token)?;
    let path = credentials::store(&token)?;
    let until = exp.map(|seconds| prost_types::Timestamp { seconds, nanos: 0 }.to_string());
    anstream::println!(
        "{} as {} (token stored in {}{})",
        paint(style::GOOD, "signed in"),
        paint(style::HEADING, &sub),
        path.display(),
        until
            .map(|u| format!(", valid until {u}"))
            .unwrap_or_default()
    );
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
