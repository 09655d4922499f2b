//! Keeps the catalog's rules in memory: fetches the snapshot from the
//! catalog service over gRPC, and refreshes it when the catalog's version
//! changes. The session service never holds its own copy of the rules.
//!
//! Until the first snapshot arrives the fetcher retries with exponential
//! backoff; afterwards it polls `GetCatalogVersion` and fetches a new
//! snapshot (with `if_none_match`) only when the version differs. A snapshot
//! that fails to convert is logged and ignored: the previous view keeps
//! serving.

use std::sync::Arc;
use std::time::Duration;

use knotwork_proto::catalog::v1 as cpb;
use knotwork_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use knotwork_runtime::tls::BackendTls;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

use crate::convert;
use crate::domain::CatalogView;
use crate::error::Error;

/// Largest snapshot accepted from the catalog.
const MAX_SNAPSHOT_BYTES: usize = 64 * 1024 * 1024;
/// First retry delay while no snapshot is loaded.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest retry delay while no snapshot is loaded.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Read access to the current catalog view.
#[derive(Debug, Clone)]
pub struct Catalog {
    rx: watch::Receiver<Option<Arc<CatalogView>>>,
}

impl Catalog {
    /// A catalog that always serves `view` (tests, benchmarks).
    pub fn fixed(view: CatalogView) -> Self {
        let (_tx, rx) = watch::channel(Some(Arc::new(view)));
        Self { rx }
    }

    /// The current view, or UNAVAILABLE before the first snapshot.
    pub fn get(&self) -> Result<Arc<CatalogView>, Error> {
        self.rx
            .borrow()
            .clone()
            .ok_or_else(|| Error::Unavailable("the catalog has not been loaded yet".into()))
    }

    /// Resolves once a view is loaded (immediately when one is).
    pub async fn loaded(&mut self) {
        let _ = self.rx.wait_for(Option::is_some).await;
    }
}

/// Starts fetching from the catalog service at `url` (TLS per `tls` when it
/// is `https://`). The task ends when every [`Catalog`] handle is dropped or
/// when it is aborted.
pub fn spawn(
    url: &str,
    tls: &BackendTls,
    poll: Duration,
) -> Result<(Catalog, JoinHandle<()>), Error> {
    let endpoint = tls
        .endpoint(url)
        .map_err(|e| Error::Startup(format!("catalog url {url:?}: {e}")))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30));
    let client = CatalogServiceClient::new(endpoint.connect_lazy())
        .max_decoding_message_size(MAX_SNAPSHOT_BYTES);
    let (tx, rx) = watch::channel(None);
    let task = tokio::spawn(poll_loop(client, tx, poll));
    Ok((Catalog { rx }, task))
}

async fn poll_loop(
    mut client: CatalogServiceClient<Channel>,
    tx: watch::Sender<Option<Arc<CatalogView>>>,
    poll: Duration,
) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let current = tx.borrow().as_ref().map(|v| v.version.clone());
        match refresh(&mut client, current.as_deref()).await {
            Ok(Some(view)) => {
                tracing::info!(version = %view.version, points = view.points.len(), "catalog loaded");
                tx.send_replace(Some(Arc::new(view)));
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "catalog refresh failed"),
        }
        let delay = if tx.borrow().is_some() {
            backoff = FIRST_BACKOFF;
            poll
        } else {
            let d = backoff;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            d
        };
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = tx.closed() => return,
        }
    }
}

/// Fetches a new view when the catalog's version differs from `current`.
async fn refresh(
    client: &mut CatalogServiceClient<Channel>,
    current: Option<&str>,
) -> Result<Option<CatalogView>, String> {
    if let Some(current) = current {
        let v = client
            .get_catalog_version(cpb::GetCatalogVersionRequest {})
            .await
            .map_err(|s| format!("GetCatalogVersion: {s}"))?
            .into_inner();
        if v.catalog_version == current {
            return Ok(None);
        }
    }
    let resp = client
        .get_catalog_snapshot(cpb::GetCatalogSnapshotRequest {
            if_none_match: current.unwrap_or_default().to_owned(),
        })
        .await
        .map_err(|s| format!("GetCatalogSnapshot: {s}"))?
        .into_inner();
    if resp.not_modified {
        return Ok(None);
    }
    let snapshot = resp.snapshot.ok_or("snapshot missing from the response")?;
    let mut view = convert::catalog_view(snapshot)?;
    if view.version.is_empty() {
        view.version = resp.catalog_version;
    }
    Ok(Some(view))
}
