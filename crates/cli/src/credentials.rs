//! The token `knotwork login` stores: one file in the user's config folder
//! (`$XDG_CONFIG_HOME/knotwork/token`, else `~/.config/knotwork/token`),
//! readable by the user only (mode 0600 in a 0700 folder).

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use etcetera::BaseStrategy as _;

/// Where the token lives.
pub fn path() -> anyhow::Result<PathBuf> {
    let base = etcetera::choose_base_strategy().context("cannot find your home folder")?;
    Ok(base.config_dir().join("knotwork").join("token"))
}

/// The stored token, if any.
pub fn load() -> anyhow::Result<Option<String>> {
    let path = path()?;
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => Ok(Some(text.trim().to_owned())),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Stores `token`, replacing any earlier one atomically (a temporary file in
/// the same folder, created 0600, then renamed over).
pub fn store(token: &str) -> anyhow::Result<PathBuf> {
    let path = path()?;
    let dir = path.parent().context("the token path has a folder")?;
    create_private_dir(dir)?;
    let tmp = dir.join(format!(".token.{}", std::process::id()));
    let mut file = private_file(&tmp)?;
    file.write_all(format!("{token}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Removes the stored token; `Ok(false)` when there was none.
pub fn remove() -> anyhow::Result<bool> {
    let path = path()?;
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

#[cfg(not(unix))]
fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

#[cfg(unix)]
fn private_file(path: &std::path::Path) -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

#[cfg(not(unix))]
fn private_file(path: &std::path::Path) -> anyhow::Result<std::fs::File> {
    std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))
}
