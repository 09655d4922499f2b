//! Files that are read again when they change, without a restart (the TLS
//! certificate, key and CAs, the JWKS file): polled every [`POLL`] by
//! modification time and size, which also sees Kubernetes swapping a
//! mounted Secret's files. What to do with the new contents (and keeping
//! the old configuration when they are invalid) is the caller's.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How often watched files are looked at.
pub const POLL: Duration = Duration::from_secs(2);

/// What a list of files looked like at one moment: modification time and
/// size of each (none for a file that cannot be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamps(Vec<Option<(SystemTime, u64)>>);

impl Stamps {
    /// The stamps of `paths` now.
    pub fn of(paths: &[PathBuf]) -> Self {
        Self(paths.iter().map(|p| stamp(p)).collect())
    }
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Polls `paths` every [`POLL`] on the current Tokio runtime and calls
/// `changed` after each change (once the files look different from the
/// last call, or from the start). `changed` returns `false` to stop
/// watching (its owner is gone); `alive` is asked on every poll for the
/// same reason. Without a runtime (plain unit tests) nothing is watched.
pub fn watch(
    paths: Vec<PathBuf>,
    alive: impl Fn() -> bool + Send + 'static,
    mut changed: impl FnMut() -> bool + Send + 'static,
) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let mut last = Stamps::of(&paths);
    runtime.spawn(async move {
        loop {
            tokio::time::sleep(POLL).await;
            if !alive() {
                return;
            }
            let now = Stamps::of(&paths);
            if now != last {
                last = now;
                if !changed() {
                    return;
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_change_with_the_contents() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let paths = vec![a.clone()];
        let missing = Stamps::of(&paths);
        std::fs::write(&a, "one").unwrap();
        let one = Stamps::of(&paths);
        assert_ne!(missing, one);
        assert_eq!(one, Stamps::of(&paths));
        std::fs::write(&a, "three").unwrap();
        assert_ne!(one, Stamps::of(&paths));
    }
}
