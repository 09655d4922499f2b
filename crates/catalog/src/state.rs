//! The catalog being served, and how a new version replaces it.
//!
//! Readers load one `Arc<Loaded>` from an atomic pointer and answer the whole
//! request from it, so a reload is atomic for them: a request sees the old
//! version or the new one, never a mix. Reloads are serialised; each one
//! reads the file, validates it, imports it into the store and only then
//! swaps the pointer. A file that fails any step leaves the old version
//! serving.

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::Mutex;

use crate::Error;
use crate::convert::PbCatalog;
use crate::domain::Catalog;
use crate::encoded::Encoded;
use crate::store::Store;

/// The catalog data file built into the binary.
pub const EMBEDDED_CATALOG: &str = include_str!("../data/catalog.toml");

/// The guides data file built into the binary, merged into the catalog.
pub const EMBEDDED_GUIDES: &str = include_str!("../data/guides.toml");

/// The file a catalog file's guides come from: `guides.toml` beside it.
const GUIDES_FILE_NAME: &str = "guides.toml";

/// One catalog version ready to serve.
#[derive(Debug)]
pub struct Loaded {
    /// The validated catalog.
    pub catalog: Catalog,
    /// Its messages, prebuilt.
    pub pb: PbCatalog,
    /// Its immutable answers, encoded.
    pub encoded: Encoded,
}

impl Loaded {
    /// Builds the messages and encoded answers of a catalog.
    pub fn new(catalog: Catalog) -> Self {
        let pb = PbCatalog::build(&catalog);
        let encoded = Encoded::build(&catalog, &pb);
        Self {
            catalog,
            pb,
            encoded,
        }
    }
}

/// Where the catalog data file comes from.
#[derive(Debug, Clone)]
pub enum CatalogSource {
    /// The copies built into the binary (chart and guides).
    Embedded,
    /// A file, re-read on every reload, with the `guides.toml` beside it
    /// when there is one (a catalog file alone has no guides).
    File(PathBuf),
}

impl CatalogSource {
    /// The chart text and the guides text.
    async fn read(&self) -> Result<(String, String), Error> {
        match self {
            CatalogSource::Embedded => {
                Ok((EMBEDDED_CATALOG.to_owned(), EMBEDDED_GUIDES.to_owned()))
            }
            CatalogSource::File(path) => {
                let read = |path: PathBuf| async move {
                    tokio::fs::read_to_string(&path)
                        .await
                        .map_err(|source| Error::ReadCatalog {
                            path: path.display().to_string(),
                            source,
                        })
                };
                let chart = read(path.clone()).await?;
                let guides_path = path.with_file_name(GUIDES_FILE_NAME);
                let guides = match tokio::fs::try_exists(&guides_path).await {
                    Ok(true) => read(guides_path).await?,
                    _ => String::new(),
                };
                Ok((chart, guides))
            }
        }
    }

    /// Reads, parses and validates the data files (off the async executor).
    pub async fn load(&self) -> Result<Catalog, Error> {
        let (chart, guides) = self.read().await?;
        tokio::task::spawn_blocking(move || Catalog::from_files(&chart, &guides))
            .await
            .map_err(|e| Error::Storage(format!("validation task failed: {e}")))?
            .map_err(Error::from)
    }
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadOutcome {
    /// The version served before.
    pub previous: String,
    /// The version served now.
    pub current: String,
    /// Whether the content changed.
    pub changed: bool,
}

/// The served catalog plus what it takes to replace it.
#[derive(Debug)]
pub struct ServedCatalog {
    current: ArcSwap<Loaded>,
    store: Store,
    source: CatalogSource,
    reload: Mutex<()>,
    /// Reload results by outcome, once [`ServedCatalog::instrument`] was called.
    reloads: std::sync::OnceLock<knotwork_runtime::metrics::IntCounterVec>,
}

impl ServedCatalog {
    /// Validates the data file (refusing to start on any problem), imports it
    /// when its hash differs from the stored one, then serves the stored
    /// version.
    pub async fn start(source: CatalogSource, store: Store) -> Result<Self, Error> {
        let catalog = Arc::new(source.load().await?);
        let wrote = store.import(catalog.clone()).await?;
        let stored = store
            .load()
            .await?
            .ok_or_else(|| Error::Storage("store empty after import".into()))?;
        tracing::info!(
            version = stored.version(),
            edition = %stored.data().meta.edition,
            imported = wrote,
            "catalog loaded"
        );
        let loaded = tokio::task::spawn_blocking(move || Loaded::new(stored))
            .await
            .map_err(|e| Error::Storage(format!("build task failed: {e}")))?;
        Ok(Self {
            current: ArcSwap::from_pointee(loaded),
            store,
            source,
            reload: Mutex::new(()),
            reloads: std::sync::OnceLock::new(),
        })
    }

    /// The version being served now. Keep it for one request only.
    pub fn current(&self) -> Arc<Loaded> {
        self.current.load_full()
    }

    /// Exports the served version and edition
    /// (`knotwork_catalog_info{version,edition}`, read at each scrape) and
    /// the reload results (`knotwork_catalog_reloads_total{result}`:
    /// `changed`, `unchanged`, `refused`).
    pub fn instrument(self: &Arc<Self>, metrics: &knotwork_runtime::metrics::Metrics) {
        let reloads = metrics.counter_vec(
            "reloads_total",
            "Catalog reloads (admin call or SIGHUP), by result: changed, unchanged, refused.",
            &["result"],
        );
        let _ = self.reloads.set(reloads);
        let info = metrics.gauge_vec(
            "info",
            "Always 1; the labels name the catalog version (content hash) and edition served.",
            &["version", "edition"],
        );
        let this = Arc::downgrade(self);
        metrics.on_scrape(move || {
            if let Some(this) = this.upgrade() {
                let current = this.current();
                info.reset();
                info.with_label_values(&[
                    current.catalog.version(),
                    current.catalog.data().meta.edition.as_str(),
                ])
                .set(1);
            }
        });
    }

    /// Re-reads the data file; on success imports and swaps it in.
    pub async fn reload(&self) -> Result<ReloadOutcome, Error> {
        let result = self.reload_once().await;
        if let Some(reloads) = self.reloads.get() {
            let label = match &result {
                Ok(o) if o.changed => "changed",
                Ok(_) => "unchanged",
                Err(_) => "refused",
            };
            reloads.with_label_values(&[label]).inc();
        }
        result
    }

    async fn reload_once(&self) -> Result<ReloadOutcome, Error> {
        let _one_at_a_time = self.reload.lock().await;
        let previous = self.current.load().catalog.version().to_owned();
        let catalog = self.source.load().await?;
        if catalog.version() == previous {
            return Ok(ReloadOutcome {
                current: previous.clone(),
                previous,
                changed: false,
            });
        }
        let catalog = Arc::new(catalog);
        self.store.import(catalog.clone()).await?;
        let catalog = Arc::try_unwrap(catalog).unwrap_or_else(|c| (*c).clone());
        let current = catalog.version().to_owned();
        let loaded = tokio::task::spawn_blocking(move || Loaded::new(catalog))
            .await
            .map_err(|e| Error::Storage(format!("build task failed: {e}")))?;
        self.current.store(Arc::new(loaded));
        tracing::info!(previous = %previous, current = %current, "catalog reloaded");
        Ok(ReloadOutcome {
            previous,
            current,
            changed: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped guides validate against the shipped chart, and every tool
    /// someone uses on themselves or with a partner has a how-to guide.
    #[test]
    fn embedded_guides_cover_every_self_care_tool() {
        let c = match Catalog::from_files(EMBEDDED_CATALOG, EMBEDDED_GUIDES) {
            Ok(c) => c,
            Err(e) => panic!("embedded guides invalid: {e}"),
        };
        let d = c.data();
        assert!(d.guides.len() >= 11, "{}", d.guides.len());
        for (i, t) in d.tools.iter().enumerate() {
            if t.id != "massage_therapist" {
                assert!(!c.guides_of_tool(i).is_empty(), "{} has no guide", t.id);
            }
        }
        for basic in [
            "find_a_knot",
            "pressure_five_of_ten",
            "hold_or_stroke",
            "referred_pain",
            "when_to_stop",
        ] {
            let g = c.guide_index(basic).map(|g| &d.guides[g]);
            assert!(g.is_some_and(|g| g.every_point), "{basic}");
        }
        // The guides are part of the version.
        let chart_only = Catalog::from_toml(EMBEDDED_CATALOG).map(|c| c.version().to_owned());
        assert_ne!(chart_only.ok().as_deref(), Some(c.version()));
    }
}
