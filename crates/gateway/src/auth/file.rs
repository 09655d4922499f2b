//! The JWKS file of `--jwt-jwks-file`: read at start (a bad file stops the
//! gateway), then read again whenever it changes on disk
//! (`knotwork_runtime::reload`), so rotating the keys in a mounted Secret
//! needs no restart. A changed file that does not parse, or holds no usable
//! key, is logged and the previous keys stay in use.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use tokio::sync::watch;

use super::keys::KeySet;
use crate::Error;

/// The keys of a JWKS file, current as of its last good read.
#[derive(Debug)]
pub(crate) struct JwksFile {
    path: PathBuf,
    keys: RwLock<Arc<KeySet>>,
}

fn read(path: &Path) -> Result<KeySet, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
    KeySet::from_jwks(&text).map_err(|e| e.to_string())
}

impl JwksFile {
    /// Reads `path`; an unreadable or invalid file is a configuration error.
    pub(crate) fn load(path: &Path) -> Result<Self, Error> {
        let keys =
            read(path).map_err(|e| Error::Config(format!("JWKS file {}: {e}", path.display())))?;
        Ok(Self {
            path: path.to_owned(),
            keys: RwLock::new(Arc::new(keys)),
        })
    }

    /// The current keys.
    pub(crate) fn keys(&self) -> Arc<KeySet> {
        self.keys
            .read()
            .map(|k| k.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// Reads the file again, keeping the current keys when it is invalid.
    fn reload(&self) {
        match read(&self.path) {
            Ok(keys) => {
                tracing::info!(file = %self.path.display(), keys = ?keys, "JWKS file reloaded");
                if let Ok(mut k) = self.keys.write() {
                    *k = Arc::new(keys);
                }
            }
            Err(e) => tracing::error!(
                file = %self.path.display(),
                error = %e,
                "JWKS file changed but does not load; keeping the previous keys"
            ),
        }
    }

    /// Watches the file until `stop` changes.
    pub(crate) fn watch(self: &Arc<Self>, stop: watch::Receiver<bool>) {
        let me = Arc::downgrade(self);
        knotwork_runtime::reload::watch(
            vec![self.path.clone()],
            move || !*stop.borrow(),
            move || match me.upgrade() {
                Some(file) => {
                    file.reload();
                    true
                }
                None => false,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ec(kid: &str) -> String {
        serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": kid,
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uE_3mK4k",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]})
        .to_string()
    }

    #[test]
    fn a_change_is_read_and_an_invalid_one_keeps_the_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        std::fs::write(&path, "not json").unwrap();
        assert!(JwksFile::load(&path).is_err());
        std::fs::write(&path, ec("old")).unwrap();
        let file = JwksFile::load(&path).unwrap();
        assert_eq!(file.keys().kids(), ["old"]);
        std::fs::write(&path, ec("new")).unwrap();
        file.reload();
        assert_eq!(file.keys().kids(), ["new"]);
        for bad in ["{broken", r#"{"keys":[]}"#] {
            std::fs::write(&path, bad).unwrap();
            file.reload();
            assert_eq!(file.keys().kids(), ["new"], "{bad}");
        }
    }
}
