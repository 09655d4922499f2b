//! Keeps the catalog's rules in memory: fetches the snapshot from the
//! catalog service over gRPC, and refreshes it when the catalog's version
//! changes. The session service holds no rules of its own, only the last
//! snapshot it fetched, persisted beside its database so a restart during
//! a catalog outage serves with it.
//!
//! Until a view is loaded the fetcher retries with exponential backoff;
//! afterwards it polls `GetCatalogVersion` and fetches a new snapshot (with
//! `if_none_match`) only when the version differs. A snapshot that fails to
//! convert is logged and ignored: the previous view keeps serving. Each new
//! snapshot is written to [`VIEW_FILE`] (replaced atomically) and read back
//! at the next start. A call naming a trigger point the view does not know
//! refreshes the view first ([`CatalogFeed::refresh_now`], at most once per
//! [`ON_DEMAND_EVERY`]), so a point added by a catalog reload is usable at
//! once, not after the next poll; that refresh is part of the call's trace.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use knotwork_proto::catalog::v1 as cpb;
use knotwork_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use knotwork_runtime::memory::Link;
use knotwork_runtime::tls::BackendTls;
use prost::Message as _;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::convert;
use crate::domain::CatalogView;
use crate::error::Error;

/// Largest snapshot accepted from the catalog.
const MAX_SNAPSHOT_BYTES: usize = 64 * 1024 * 1024;
/// First retry delay while no snapshot is loaded.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest retry delay while no snapshot is loaded.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// On-demand refreshes (a call naming an unknown point) are at most this
/// frequent, so a client naming made-up points cannot load the catalog.
pub const ON_DEMAND_EVERY: Duration = Duration::from_secs(1);
/// How long an on-demand refresh may hold up the call.
const ON_DEMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest one fetch (version check and snapshot) may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
/// The persisted view, in the session's data folder.
pub const VIEW_FILE: &str = "catalog-view.bin";
/// The first line of [`VIEW_FILE`]: the format and its version. Version 1
/// is this line followed by an encoded `GetCatalogSnapshotResponse` (the
/// wire contract, which only ever grows compatibly).
const VIEW_MAGIC: &[u8] = b"knotwork-catalog-view 1\n";

type View = Option<Arc<CatalogView>>;

/// The feed of catalog views: read access to the current `CatalogView`,
/// kept fresh from the catalog service.
#[derive(Debug, Clone)]
pub struct CatalogFeed {
    rx: watch::Receiver<View>,
    fetcher: Option<Arc<Fetcher>>,
}

impl CatalogFeed {
    /// A feed that always serves `view` (tests, benchmarks).
    pub fn fixed(view: CatalogView) -> Self {
        let (_tx, rx) = watch::channel(Some(Arc::new(view)));
        Self { rx, fetcher: None }
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

    /// Asks the catalog for a newer view now, inside the calling span (so
    /// the catalog's span joins the call's trace), and returns the view
    /// then current. Skipped (the current view returned) when another
    /// on-demand refresh ran less than [`ON_DEMAND_EVERY`] ago or for a
    /// fixed catalog; a failure is logged and the current view kept.
    pub async fn refresh_now(&self) -> Result<Arc<CatalogView>, Error> {
        if let Some(f) = &self.fetcher
            && f.may_refresh_on_demand()
        {
            match tokio::time::timeout(ON_DEMAND_TIMEOUT, f.refresh()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "on-demand catalog refresh failed"),
                Err(_) => tracing::warn!("on-demand catalog refresh timed out"),
            }
        }
        self.get()
    }
}

/// Fetches views and publishes them; shared by the poll loop and the
/// on-demand refreshes.
struct Fetcher {
    client: CatalogServiceClient<Link>,
    tx: watch::Sender<View>,
    /// Where each new view is persisted (none: not persisted).
    file: Option<PathBuf>,
    /// One refresh at a time, so an older answer never replaces a newer.
    busy: tokio::sync::Mutex<()>,
    last_on_demand: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    fn may_refresh_on_demand(&self) -> bool {
        let Ok(mut last) = self.last_on_demand.lock() else {
            return false;
        };
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < ON_DEMAND_EVERY) {
            return false;
        }
        *last = Some(now);
        true
    }

    /// Fetches a newer view if there is one, publishes and persists it;
    /// whether it changed.
    async fn refresh(&self) -> Result<bool, String> {
        let _one = self.busy.lock().await;
        let current = self.tx.borrow().as_ref().map(|v| v.version.clone());
        let mut client = self.client.clone();
        let fetched = tokio::time::timeout(FETCH_TIMEOUT, fetch(&mut client, current.as_deref()))
            .await
            .map_err(|_| format!("no answer from the catalog in {FETCH_TIMEOUT:?}"))?;
        let Some((view, resp)) = fetched? else {
            return Ok(false);
        };
        tracing::info!(version = %view.version, points = view.points.len(), "catalog loaded");
        self.tx.send_replace(Some(Arc::new(view)));
        if let Some(file) = self.file.clone() {
            let written = tokio::task::spawn_blocking(move || save(&file, &resp))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
            if let Err(e) = written {
                tracing::warn!(error = %e, "cannot persist the catalog view");
            }
        }
        Ok(true)
    }
}

/// Starts fetching from the catalog service at `url` (TLS per `tls` when it
/// is `https://`), starting from the view persisted in `dir` (if any) and
/// persisting each new one there. The task ends when every [`CatalogFeed`]
/// handle is dropped or when it is aborted. With `memory` (`knotwork up`)
/// the catalog is dialled in process instead.
pub fn spawn(
    url: &str,
    tls: &BackendTls,
    poll: Duration,
    dir: Option<&Path>,
    memory: Option<knotwork_runtime::memory::LocalSlot>,
) -> Result<(CatalogFeed, JoinHandle<()>), Error> {
    let endpoint = tls
        .endpoint(url)
        .map_err(|e| Error::Startup(format!("catalog url {url:?}: {e}")))?
        .connect_timeout(Duration::from_secs(5));
    let channel = match memory {
        Some(slot) => slot.link(),
        None => endpoint.connect_lazy().into(),
    };
    let client = CatalogServiceClient::new(channel).max_decoding_message_size(MAX_SNAPSHOT_BYTES);
    let file = dir.map(|d| d.join(VIEW_FILE));
    let persisted = file.as_deref().and_then(|f| match load(f) {
        Ok(view) => view,
        Err(e) => {
            tracing::warn!(file = %f.display(), error = %e, "ignoring the persisted catalog view");
            None
        }
    });
    if let Some(v) = &persisted {
        tracing::info!(version = %v.version, "catalog view from the last run loaded");
    }
    let (tx, rx) = watch::channel(persisted.map(Arc::new));
    let fetcher = Arc::new(Fetcher {
        client,
        tx,
        file,
        busy: tokio::sync::Mutex::new(()),
        last_on_demand: Mutex::new(None),
    });
    let task = tokio::spawn(poll_loop(fetcher.clone(), poll));
    Ok((
        CatalogFeed {
            rx,
            fetcher: Some(fetcher),
        },
        task,
    ))
}

async fn poll_loop(fetcher: Arc<Fetcher>, poll: Duration) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        if let Err(e) = fetcher.refresh().await {
            tracing::warn!(error = %e, "catalog refresh failed");
        }
        let delay = if fetcher.tx.borrow().is_some() {
            backoff = FIRST_BACKOFF;
            poll
        } else {
            let d = backoff;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            d
        };
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = fetcher.tx.closed() => return,
        }
    }
}

/// Fetches a new view when the catalog's version differs from `current`,
/// with the answer it came in (to persist).
async fn fetch(
    client: &mut CatalogServiceClient<Link>,
    current: Option<&str>,
) -> Result<Option<(CatalogView, cpb::GetCatalogSnapshotResponse)>, String> {
    if let Some(current) = current {
        let v = client
            .get_catalog_version(traced(cpb::GetCatalogVersionRequest {}))
            .await
            .map_err(|s| format!("GetCatalogVersion: {s}"))?
            .into_inner();
        if v.catalog_version == current {
            return Ok(None);
        }
    }
    let resp = client
        .get_catalog_snapshot(traced(cpb::GetCatalogSnapshotRequest {
            if_none_match: current.unwrap_or_default().to_owned(),
        }))
        .await
        .map_err(|s| format!("GetCatalogSnapshot: {s}"))?
        .into_inner();
    if resp.not_modified {
        return Ok(None);
    }
    let view = view_of(resp.clone())?;
    Ok(Some((view, resp)))
}

/// A request carrying the current trace context.
fn traced<M>(message: M) -> tonic::Request<M> {
    let mut req = tonic::Request::new(message);
    knotwork_runtime::trace::inject(req.metadata_mut());
    req
}

fn view_of(resp: cpb::GetCatalogSnapshotResponse) -> Result<CatalogView, String> {
    let snapshot = resp.snapshot.ok_or("snapshot missing from the response")?;
    let mut view = convert::catalog_view(snapshot)?;
    if view.version.is_empty() {
        view.version = resp.catalog_version;
    }
    Ok(view)
}

/// Writes `resp` to `file` durably: a temporary file, synced, renamed over
/// the old one, and the folder synced, so a crash leaves the old view or
/// the new one, never a mix.
fn save(file: &Path, resp: &cpb::GetCatalogSnapshotResponse) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(VIEW_MAGIC.len() + resp.encoded_len());
    bytes.extend_from_slice(VIEW_MAGIC);
    resp.encode(&mut bytes).map_err(std::io::Error::other)?;
    crate::durable::write_durably(file, &bytes)
}

/// The view persisted in `file`; none when there is no file yet.
fn load(file: &Path) -> Result<Option<CatalogView>, String> {
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let body = bytes
        .strip_prefix(VIEW_MAGIC)
        .ok_or("not a catalog view of a known format version")?;
    let resp = cpb::GetCatalogSnapshotResponse::decode(body).map_err(|e| e.to_string())?;
    view_of(resp).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> cpb::GetCatalogSnapshotResponse {
        cpb::GetCatalogSnapshotResponse {
            catalog_version: "v-test".into(),
            snapshot: Some(cpb::CatalogSnapshot {
                catalog_version: String::new(),
                ..crate::convert::tests::snapshot()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_saved_view_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(VIEW_FILE);
        assert!(load(&file).unwrap().is_none());
        save(&file, &snapshot()).unwrap();
        let view = load(&file).unwrap().expect("a view");
        assert_eq!(view.version, "v-test");
        // Saving again replaces it whole.
        let mut newer = snapshot();
        newer.catalog_version = "v-next".into();
        save(&file, &newer).unwrap();
        assert_eq!(load(&file).unwrap().unwrap().version, "v-next");
    }

    #[test]
    fn an_unknown_format_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(VIEW_FILE);
        std::fs::write(&file, b"knotwork-catalog-view 9\n").unwrap();
        assert!(load(&file).is_err());
        std::fs::write(&file, [VIEW_MAGIC, &b"\xff\xff"[..]].concat()).unwrap();
        assert!(load(&file).is_err());
    }

    #[tokio::test]
    async fn on_demand_refreshes_are_spaced() {
        let (catalog, task) = spawn(
            "http://127.0.0.1:9",
            &BackendTls::default(),
            Duration::from_secs(3600),
            None,
            None,
        )
        .unwrap();
        task.abort();
        let f = catalog.fetcher.as_ref().unwrap();
        assert!(f.may_refresh_on_demand());
        assert!(!f.may_refresh_on_demand());
    }
}
