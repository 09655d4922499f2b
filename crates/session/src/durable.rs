//! Small files written so that a crash leaves the old content or the new,
//! never a mix (the persisted catalog view).

use std::io::Write as _;
use std::path::Path;

/// Writes `bytes` to `file` durably: a temporary file, synced, renamed
/// over the old one, and the folder synced.
pub(crate) fn write_durably(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = file.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, file)?;
    if let Some(dir) = file.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
