//! Temporary directories for one test, removed when the test is done with them.
//!
//! The suite used to leave every `/tmp/weir-test-*` directory behind (tens of
//! thousands on a machine that ran it often, some 51 MB each), so a directory is now a
//! guard: it lives as long as the test holds it and is removed on drop, also when the
//! test panics (drop runs while unwinding).

use std::ffi::OsStr;
use std::fmt;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh, empty directory under the system temp dir; removed with all it holds on
/// drop. Derefs to [`Path`], so `dir.join("weir.toml")` and `&dir` work as a path.
#[derive(Debug)]
pub struct TempDir(PathBuf);

/// A fresh, empty temporary directory for one test, named after `name`.
pub fn temp_dir(name: &str) -> TempDir {
    TempDir::new(name)
}

impl TempDir {
    /// Creates `weir-test-PID-N-NAME`: the process id keeps concurrent runs apart and
    /// the counter keeps two tests of one run apart even when they pass the same name
    /// (one's drop must not remove the other's files).
    pub fn new(name: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("weir-test-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a child process still writing here must not turn a passing test
        // into a panic during drop.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<OsStr> for TempDir {
    fn as_ref(&self) -> &OsStr {
        self.0.as_os_str()
    }
}

/// A config file written into a [`TempDir`] of its own: the directory lives as long as
/// this value. Derefs to the file's path as `&str`, the form `--config` takes.
#[derive(Debug)]
pub struct ConfigFile {
    path: String,
    _dir: TempDir,
}

impl ConfigFile {
    /// Writes `text` as `weir.toml` in a fresh temp dir named after `name`.
    pub fn write(name: &str, text: &str) -> ConfigFile {
        let dir = temp_dir(name);
        let path = dir.join("weir.toml");
        std::fs::write(&path, text).unwrap();
        ConfigFile {
            path: path.display().to_string(),
            _dir: dir,
        }
    }

    /// The file's path.
    pub fn as_str(&self) -> &str {
        &self.path
    }
}

/// The directory the file is in, which then keeps it.
impl From<ConfigFile> for TempDir {
    fn from(config: ConfigFile) -> TempDir {
        config._dir
    }
}

impl Deref for ConfigFile {
    type Target = str;
    fn deref(&self) -> &str {
        &self.path
    }
}

impl AsRef<OsStr> for ConfigFile {
    fn as_ref(&self) -> &OsStr {
        OsStr::new(&self.path)
    }
}

impl AsRef<Path> for ConfigFile {
    fn as_ref(&self) -> &Path {
        Path::new(&self.path)
    }
}

impl fmt::Display for ConfigFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)
    }
}
