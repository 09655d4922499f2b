//! Rotating the internal credential without refusing a call: the backends
//! accept the current and the next credential (`KNOTWORK_INTERNAL_TOKEN` and
//! `KNOTWORK_INTERNAL_TOKEN_NEXT`) while the gateways move from one to the
//! other, as a rolling update does (deploy/README.md, "Rotating the internal
//! credential").

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use knotwork_proto::session::v1 as ses;
use knotwork_proto::session::v1::session_service_client::SessionServiceClient;
use knotwork_tests::{INTERNAL_TOKEN_NEXT, JWT_SECRET, TestStack};
use tonic::transport::Channel;

/// A second gateway over the stack's backends, sending `internal_token`.
async fn gateway(
    stack: &TestStack,
    internal_token: &str,
) -> (Channel, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let mut config = knotwork_gateway::Config::local(
        vec![stack.catalog_url.clone()],
        stack.session_urls.clone(),
    );
    config.jwt_secret = JWT_SECRET.to_owned();
    config.internal_token = internal_token.to_owned();
    config.user_rate = 100_000;
    config.user_burst = 100_000;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        knotwork_gateway::run(config, listener, None, async move {
            let _ = stopped.await;
        })
        .await
        .expect("gateway runs");
    });
    let channel = tonic::transport::Endpoint::from_shared(url)
        .unwrap()
        .timeout(Duration::from_secs(10))
        .connect_lazy();
    (channel, stop)
}

fn bearer<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_under_load_refuses_nothing() {
    let stack = TestStack::start_with(1, |g| {
        g.user_rate = 100_000;
        g.user_burst = 100_000;
    })
    .await;
    let old = stack.channel().await;
    let (new, _stop_new) = gateway(&stack, INTERNAL_TOKEN_NEXT).await;

    // Writers and readers run through the old gateway, then move to the
    // new one half-way, as pods do in a rolling update; both gateways are
    // in use at the same time.
    let refused = Arc::new(AtomicU64::new(0));
    let served = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for t in 0..6 {
        let (old, new) = (old.clone(), new.clone());
        let (refused, served) = (refused.clone(), served.clone());
        let token = stack.token(&format!("rotating-{t}"));
        tasks.push(tokio::spawn(async move {
            for i in 0..60 {
                let channel = if i < 30 + t * 2 {
                    old.clone()
                } else {
                    new.clone()
                };
                let mut client = SessionServiceClient::new(channel);
                let result = if i % 2 == 0 {
                    client
                        .update_profile(bearer(
                            &token,
                            ses::UpdateProfileRequest {
                                profile: Some(ses::Profile {
                                    time_zone: "Europe/Berlin".into(),
                                    ..Default::default()
                                }),
                                ..Default::default()
                            },
                        ))
                        .await
                        .map(|_| ())
                } else {
                    client
                        .get_profile(bearer(&token, ses::GetProfileRequest::default()))
                        .await
                        .map(|_| ())
                };
                match result {
                    Ok(()) => served.fetch_add(1, Ordering::Relaxed),
                    Err(status) => {
                        eprintln!("refused: {status:?}");
                        refused.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        refused.load(Ordering::Relaxed),
        0,
        "calls refused during the rotation"
    );
    assert_eq!(served.load(Ordering::Relaxed), 360);

    // A gateway with a credential the backends do not hold is refused:
    // the overlap is the two configured credentials, nothing else.
    let (stale, _stop_stale) = gateway(&stack, "a-retired-credential").await;
    let status = SessionServiceClient::new(stale)
        .get_profile(stack.as_user("rotating-0", ses::GetProfileRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
}
