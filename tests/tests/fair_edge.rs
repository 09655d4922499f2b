//! A fair edge (issue 17, item 3): authenticated calls are limited per
//! verified user, the per-address limit applies to anonymous calls only.
//! An anonymous flood from one address (everyone behind one proxy shares
//! an address) must leave an authenticated user at that address unaffected,
//! while calls with a missing or forged token stay address-limited.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::session::v1 as ses;
use knotwork_tests::TestStack;
use tonic::Code;
use tonic_types::StatusExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_flood_leaves_authenticated_users_unaffected() {
    let stack = TestStack::start_with(1, |g| {
        g.addr_rate = 2;
        g.addr_burst = 5;
        g.user_rate = 1_000;
        g.user_burst = 1_000;
    })
    .await;
    let mut catalog = stack.catalog().await;
    let mut session = stack.session().await;
    let (mut anon_ok, mut anon_limited, mut authed_ok) = (0, 0, 0);
    for round in 0..20 {
        // Five anonymous calls from 127.0.0.1 ...
        for _ in 0..5 {
            match catalog
                .get_catalog_version(cat::GetCatalogVersionRequest {})
                .await
            {
                Ok(_) => anon_ok += 1,
                Err(s) => {
                    assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}");
                    let scope = s.get_details_error_info().unwrap().metadata["scope"].clone();
                    assert_eq!(scope, "address");
                    anon_limited += 1;
                }
            }
        }
        // ... then an authenticated one from the same address: a session
        // call and a public call with a token, both served.
        session
            .get_profile(stack.as_user("fair-user", ses::GetProfileRequest {}))
            .await
            .unwrap_or_else(|s| panic!("round {round}: authenticated call refused: {s:?}"));
        catalog
            .get_catalog_version(stack.as_user("fair-user", cat::GetCatalogVersionRequest {}))
            .await
            .unwrap_or_else(|s| panic!("round {round}: public call with a token refused: {s:?}"));
        authed_ok += 2;
    }
    assert!(anon_limited >= 80, "the flood was limited: {anon_limited}");
    // A forged token is an anonymous call: it pays from the (empty) address
    // bucket, so guessing tokens is limited like any anonymous call.
    let mut forged = tonic::Request::new(ses::GetProfileRequest {});
    forged
        .metadata_mut()
        .insert("authorization", "Bearer not.a.jwt".parse().unwrap());
    let s = session.get_profile(forged).await.unwrap_err();
    assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}");
    println!(
        "anonymous: {anon_ok} served, {anon_limited} limited; authenticated: {authed_ok} of 40 served"
    );
}
