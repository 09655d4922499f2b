//! Signing in with an OpenID provider from a terminal: the OAuth 2.0 Device
//! Authorization Grant (RFC 8628) for `knotwork login --issuer URL
//! --client-id ID`, and the refresh of the stored token before a call.
//!
//! The token sent to the gateway is the provider's ID token (a JWT whose
//! `aud` is the client id, which is what every provider issues in the same
//! form); the refresh token, the client id and the token endpoint are kept
//! beside it by `credentials.rs` so that later commands renew it without a
//! browser.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

/// Renew the stored token when it expires within this margin.
const REFRESH_MARGIN_SECS: i64 = 60;

/// What is kept beside the stored token to renew it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Session {
    /// The provider's issuer URL.
    pub issuer: String,
    /// The public client the device login used.
    pub client_id: String,
    /// Where tokens are renewed.
    pub token_endpoint: String,
    /// The refresh token, when the provider issued one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// The endpoints of a provider's discovery document that the CLI uses.
#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    token_endpoint: String,
    #[serde(default)]
    device_authorization_endpoint: Option<String>,
}

/// RFC 8628 §3.2.
#[derive(Debug, Deserialize)]
struct DeviceAuthorization {
    device_code: String,
    user_code: String,
    verification_uri: String,
    #[serde(default)]
    verification_uri_complete: Option<String>,
    expires_in: u64,
    #[serde(default)]
    interval: Option<u64>,
}

/// A token endpoint's answer, success (RFC 6749 §5.1) or error (§5.2).
#[derive(Debug, Deserialize)]
struct TokenResponse {
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

fn client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(20))
        .user_agent(concat!("knotwork-cli/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot build an HTTP client")
}

async fn discover(http: &reqwest::Client, issuer: &str) -> anyhow::Result<Discovery> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let doc: Discovery = http
        .get(&url)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?
        .error_for_status()
        .with_context(|| format!("{url} refused"))?
        .json()
        .await
        .with_context(|| format!("{url} is not a discovery document"))?;
    if doc.issuer != issuer {
        bail!(
            "{url} names the issuer {:?}, not {issuer:?} (it must match exactly)",
            doc.issuer
        );
    }
    Ok(doc)
}

async fn token_call(
    http: &reqwest::Client,
    endpoint: &str,
    form: &[(&str, &str)],
) -> anyhow::Result<TokenResponse> {
    let resp = http
        .post(endpoint)
        .form(form)
        .send()
        .await
        .with_context(|| format!("cannot reach {endpoint}"))?;
    let status = resp.status();
    let body: TokenResponse = resp
        .json()
        .await
        .with_context(|| format!("{endpoint} answered HTTP {status} without JSON"))?;
    Ok(body)
}

fn describe(t: &TokenResponse) -> String {
    match (&t.error, &t.error_description) {
        (Some(e), Some(d)) => format!("{e}: {d}"),
        (Some(e), None) => e.clone(),
        _ => "no ID token in the answer".to_owned(),
    }
}

/// Runs the device login: prints where to approve it, waits, and returns
/// the ID token and what renews it.
pub async fn device_login(
    issuer: &str,
    client_id: &str,
    scope: &str,
) -> anyhow::Result<(String, Session)> {
    let http = client()?;
    let doc = discover(&http, issuer).await?;
    let Some(device_endpoint) = doc.device_authorization_endpoint.as_deref() else {
        bail!("{issuer} does not offer device login (no device_authorization_endpoint)");
    };
    let resp = http
        .post(device_endpoint)
        .form(&[("client_id", client_id), ("scope", scope)])
        .send()
        .await
        .with_context(|| format!("cannot reach {device_endpoint}"))?;
    if !resp.status().is_success() {
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        bail!("{device_endpoint} refused the device login (HTTP {status}): {text}");
    }
    let auth: DeviceAuthorization = resp
        .json()
        .await
        .context("the device authorization answer is not RFC 8628 JSON")?;
    let open = auth
        .verification_uri_complete
        .as_deref()
        .unwrap_or(&auth.verification_uri);
    eprintln!("To sign in, open this page in a browser:\n\n    {open}\n");
    eprintln!(
        "and check that it shows the code {} (the code expires in {} min).",
        auth.user_code,
        auth.expires_in.div_ceil(60)
    );
    eprintln!("Waiting for approval...");
    let mut interval = Duration::from_secs(auth.interval.unwrap_or(5).max(1));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(auth.expires_in);
    loop {
        if tokio::time::Instant::now() >= deadline {
            bail!("the code expired before the sign-in was approved; run the command again");
        }
        tokio::time::sleep(interval).await;
        let t = token_call(
            &http,
            &doc.token_endpoint,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", &auth.device_code),
                ("client_id", client_id),
            ],
        )
        .await?;
        match (t.error.as_deref(), &t.id_token) {
            (None, Some(id)) => {
                let session = Session {
                    issuer: issuer.to_owned(),
                    client_id: client_id.to_owned(),
                    token_endpoint: doc.token_endpoint.clone(),
                    refresh_token: t.refresh_token.clone(),
                };
                return Ok((id.clone(), session));
            }
            (Some("authorization_pending"), _) => {}
            // RFC 8628 §3.5: wait 5 s longer from now on.
            (Some("slow_down"), _) => interval += Duration::from_secs(5),
            (Some("access_denied"), _) => bail!("the sign-in was declined"),
            (Some("expired_token"), _) => {
                bail!("the code expired before the sign-in was approved; run the command again")
            }
            _ => bail!("the provider refused the sign-in: {}", describe(&t)),
        }
    }
}

/// Renews the ID token with the refresh token. Returns the new token and
/// the session (with a rotated refresh token when the provider sent one).
pub async fn refresh(session: &Session) -> anyhow::Result<(String, Session)> {
    let Some(refresh_token) = &session.refresh_token else {
        bail!("the provider gave no refresh token; sign in again with `knotwork login`");
    };
    let http = client()?;
    let t = token_call(
        &http,
        &session.token_endpoint,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", &session.client_id),
        ],
    )
    .await?;
    match (&t.error, &t.id_token) {
        (None, Some(id)) => {
            let mut next = session.clone();
            if let Some(r) = &t.refresh_token {
                next.refresh_token = Some(r.clone());
            }
            Ok((id.clone(), next))
        }
        _ => bail!(
            "cannot renew the sign-in ({}); sign in again with `knotwork login`",
            describe(&t)
        ),
    }
}

/// Whether a token that expires at `exp` (Unix seconds) should be renewed
/// now.
pub fn needs_refresh(exp: Option<i64>) -> bool {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    exp.is_some_and(|exp| exp - REFRESH_MARGIN_SECS <= now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_only_near_expiry() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!(needs_refresh(Some(now - 10)));
        assert!(needs_refresh(Some(now + 30)));
        assert!(!needs_refresh(Some(now + 3600)));
        assert!(!needs_refresh(None));
    }

    #[test]
    fn session_round_trips_as_json() {
        let s = Session {
            issuer: "https://id.example/".into(),
            client_id: "knotwork".into(),
            token_endpoint: "https://id.example/token".into(),
            refresh_token: Some("r1".into()),
        };
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Session>(&text).unwrap(), s);
    }
}
