//! Small file-system helpers: private (0600/0700) files and directories, durable writes.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{Error, Result};

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `dir` (and parents) with mode 0700 if it does not exist.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(dir))
}

/// Writes `data` to `path` with mode 0600 and fsyncs it. With `create_new`, refuses to replace an
/// existing file.
pub fn write_private_file(path: &Path, data: &[u8], create_new: bool) -> Result<()> {
    let mut opts = OpenOptions::new();
    opts.write(true).mode(0o600);
    if create_new {
        opts.create_new(true);
    } else {
        opts.create(true).truncate(true);
    }
    let mut f = opts.open(path).map_err(io(path))?;
    f.write_all(data).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

/// Writes `data` to `path` atomically: a temporary file in the same directory, fsync, rename,
/// fsync of the directory. Readers see the old or the new content, never a mix.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(data).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Narrows `dir` to mode 0700 if group or others may use it (the CA's home holds the store and
/// keys: RFC 3647 §6.2 asks that key material be accessible only to its holder).
pub fn restrict_dir(dir: &Path) -> Result<()> {
    restrict(dir, 0o700)
}

/// Narrows `file` to mode 0600 if group or others may read it; a missing file is fine.
pub fn restrict_file(file: &Path) -> Result<()> {
    match restrict(file, 0o600) {
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

fn restrict(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::metadata(path).map_err(io(path))?;
    if meta.permissions().mode() & 0o077 != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io(path))?;
    }
    Ok(())
}

/// The entries of a home directory (and of its `keys/`) at one moment, so that a failed step
/// can remove exactly what it created since, and nothing else.
#[derive(Debug, Default)]
pub struct Snapshot {
    top: std::collections::HashSet<std::ffi::OsString>,
    keys: std::collections::HashSet<std::ffi::OsString>,
}

impl Snapshot {
    /// Lists `home` and `home/keys` now.
    pub fn take(home: &Path) -> Snapshot {
        let names = |d: &Path| {
            fs::read_dir(d)
                .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
                .unwrap_or_default()
        };
        Snapshot {
            top: names(home),
            keys: names(&home.join("keys")),
        }
    }

    /// Removes the files created in `home/keys` and `home` since the snapshot (a directory
    /// only if it is new and left empty). Pre-existing entries are never touched.
    pub fn remove_newer(&self, home: &Path) {
        let keys = home.join("keys");
        if let Ok(rd) = fs::read_dir(&keys) {
            for e in rd.flatten() {
                if !self.keys.contains(&e.file_name()) {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        if let Ok(rd) = fs::read_dir(home) {
            for e in rd.flatten() {
                if self.top.contains(&e.file_name()) {
                    continue;
                }
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    let _ = fs::remove_dir(e.path());
                } else {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
    }
}
