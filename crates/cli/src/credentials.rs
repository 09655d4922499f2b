//! The token `knotwork login` stores: one file in the user's config folder
//! (`$XDG_CONFIG_HOME/knotwork/token`, else `~/.config/knotwork/token`),
//! readable by the user only (mode 0600 in a 0700 folder). After a device
//! login, `oidc.json` beside it (same mode) holds what renews the token
//! (issuer, client id, token endpoint, refresh token).

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

/// Where the OpenID session (what renews the token) lives.
fn session_path() -> anyhow::Result<PathBuf> {
    Ok(path()?.with_file_name("oidc.json"))
}

/// Stores `token` alone (a development or pasted token): any OpenID
/// session of an earlier device login is forgotten.
pub fn store(token: &str) -> anyhow::Result<PathBuf> {
    let path = path()?;
    write_private(&path, &format!("{token}\n"))?;
    remove_file(&session_path()?)?;
    Ok(path)
}

/// Stores the token of a device login with what renews it.
pub fn store_session(token: &str, session: &crate::oidc::Session) -> anyhow::Result<PathBuf> {
    let json = serde_json::to_string_pretty(session).context("cannot encode the session")?;
    write_private(&session_path()?, &json)?;
    let path = path()?;
    write_private(&path, &format!("{token}\n"))?;
    Ok(path)
}

/// The OpenID session of the stored token, if it came from a device login.
pub fn load_session() -> anyhow::Result<Option<crate::oidc::Session>> {
    let path = session_path()?;
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("{} is not a Knotwork sign-in file", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Replaces `path` atomically (a temporary file in the same folder,
/// created 0600, then renamed over).
fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    let dir = path.parent().context("the token path has a folder")?;
    create_private_dir(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    let mut file = private_file(&tmp)?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

fn remove_file(path: &std::path::Path) -> anyhow::Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
}

/// Removes the stored token and its OpenID session; `Ok(false)` when there
/// was no token.
pub fn remove() -> anyhow::Result<bool> {
    remove_file(&session_path()?)?;
    remove_file(&path()?)
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
