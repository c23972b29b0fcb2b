//! Opening a plugin library: find it, check its ABI version, call its init, check the
//! descriptor it hands back.
//!
//! The version is a data symbol read before any plugin function runs, so a library
//! built for another major version is refused without executing a line of it (only
//! the platform loader's own initialisers run). Libraries are never unloaded: a Rust
//! cdylib's thread-local destructors would run into unmapped code after `dlclose`. A
//! library named twice is opened and initialised once and backs both instances, and a
//! path loaded once is not opened again: a new build installed at the same path is
//! noticed (by file identity) and reported, and runs only after a restart.

use std::ffi::{c_char, CStr};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use super::abi::{self, Init, Plugin};
use super::host;

/// A plugin library, loaded for good.
pub struct Library {
    /// The path as configured.
    pub path: PathBuf,
    /// The descriptor's `name`.
    pub name: String,
    /// The plugin's `weir_abi_version` (major << 16 | minor), shown by `weir check`.
    pub abi: u32,
    /// A copy of the descriptor's 1.0 part (the table itself is static in the plugin).
    pub desc: Plugin,
}

// SAFETY: the descriptor holds only function pointers and a pointer to a static string
// in a library that is never unloaded; the ABI makes every hook callable from any thread.
unsafe impl Send for Library {}
// SAFETY: as above; nothing in it is ever mutated after loading.
unsafe impl Sync for Library {}

/// Why a plugin could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    NotFound,
    /// The platform loader refused the file (not a shared library, missing dependency…).
    CannotOpen(String),
    /// A required symbol is missing.
    NotAPlugin(&'static str),
    /// The plugin's `weir_abi_version` does not fit this host.
    AbiMismatch {
        plugin: u32,
    },
    /// `weir_plugin_init_v1` returned NULL; the plugin's message.
    InitFailed(String),
    BadDescriptor(&'static str),
}

/// A load error: the path and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub path: PathBuf,
    pub reason: Reason,
}

fn version(v: u32) -> String {
    format!("{}.{}", v >> 16, v & 0xffff)
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.path.display();
        match &self.reason {
            Reason::NotFound => write!(f, "{p}: file not found"),
            Reason::CannotOpen(why) => write!(f, "{p}: cannot be loaded: {why}"),
            Reason::NotAPlugin(sym) => {
                write!(f, "{p}: not a weir plugin (missing symbol `{sym}`)")
            }
            Reason::AbiMismatch { plugin } => write!(
                f,
                "{p}: ABI mismatch (plugin {} vs host {})",
                version(*plugin),
                version(abi::VERSION)
            ),
            Reason::InitFailed(why) => write!(f, "{p}: init failed: {why}"),
            Reason::BadDescriptor(why) => write!(f, "{p}: bad descriptor: {why}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// A library loaded, by canonical path, with the file it was loaded from.
struct Loaded {
    canonical: PathBuf,
    file: Option<FileId>,
    lib: &'static Library,
}

/// Libraries loaded so far.
static LOADED: Mutex<Vec<Loaded>> = Mutex::new(Vec::new());

/// Which file a path held: another file put in its place (a new inode) or the same one
/// rewritten (size, modification time) differs in one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileId {
    device: u64,
    inode: u64,
    size: u64,
    modified: Option<SystemTime>,
}

fn file_id(path: &Path) -> Option<FileId> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let (device, inode) = {
        use std::os::unix::fs::MetadataExt;
        (meta.dev(), meta.ino())
    };
    #[cfg(not(unix))]
    let (device, inode) = (0, 0);
    Some(FileId {
        device,
        inode,
        size: meta.len(),
        modified: meta.modified().ok(),
    })
}

/// The canonical path of `path` if it names a file this process has not loaded yet
/// (`None` if it is loaded, or cannot be found: `load` reports that).
pub(crate) fn not_yet_loaded(path: &Path) -> Option<PathBuf> {
    let canonical = path.canonicalize().ok()?;
    let loaded = LOADED.lock().unwrap_or_else(|p| p.into_inner());
    (!loaded.iter().any(|l| l.canonical == canonical)).then_some(canonical)
}

/// The canonical path of `path` if this process loaded a library from it and the file
/// there is no longer the one loaded (a new build installed over it). `load` keeps
/// handing out the library already in memory, since libraries are never unloaded; the
/// caller says so, or a reload would silently keep running the old build.
pub(crate) fn replaced_since_loaded(path: &Path) -> Option<PathBuf> {
    let canonical = path.canonicalize().ok()?;
    let loaded = LOADED.lock().unwrap_or_else(|p| p.into_inner());
    let was = loaded.iter().find(|l| l.canonical == canonical)?.file;
    (was != file_id(&canonical)).then_some(canonical)
}

/// Loads (or finds already loaded) the plugin at `path`.
pub fn load(path: &Path) -> Result<&'static Library, LoadError> {
    let err = |reason| LoadError {
        path: path.to_path_buf(),
        reason,
    };
    let canonical = path.canonicalize().map_err(|_| err(Reason::NotFound))?;
    let mut loaded = LOADED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(l) = loaded.iter().find(|l| l.canonical == canonical) {
        return Ok(l.lib);
    }
    // Taken before opening: should the file change in between, the next look sees it.
    let file = file_id(&canonical);
    let lib = open(&canonical).map_err(err)?;
    let lib: &'static Library = Box::leak(Box::new(Library {
        path: path.to_path_buf(),
        ..lib
    }));
    loaded.push(Loaded {
        canonical,
        file,
        lib,
    });
    Ok(lib)
}

/// Opens the library with every symbol bound now (`RTLD_NOW`), not on first call.
///
/// With lazy binding (the libloading default) a library that needs a symbol nothing
/// defines loads fine and passes `weir check`, then the dynamic linker kills the whole
/// process ("symbol lookup error", exit 127) on the first request that calls it.
/// Binding now moves that failure to load time, where it is refused with its name.
/// `RTLD_LOCAL` keeps one plugin's symbols from satisfying another's.
#[cfg(unix)]
fn dlopen(path: &Path) -> Result<libloading::Library, libloading::Error> {
    use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
    // SAFETY: loading runs the library's platform initialisers. That is the one piece of
    // plugin code weir cannot avoid before checking the version; the ABI asks plugins
    // to keep such initialisers trivial.
    unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }.map(Into::into)
}

/// Windows resolves a DLL's imports when it loads: there is no lazy binding to avoid.
#[cfg(not(unix))]
fn dlopen(path: &Path) -> Result<libloading::Library, libloading::Error> {
    // SAFETY: as the unix version: only the library's initialisers run.
    unsafe { libloading::Library::new(path) }
}

/// The platform loader's own reason ("invalid ELF header", "file too short",
/// "undefined symbol: foo"). libloading's `Display` says only "dlopen failed"; the
/// `dlerror()` text is the error's source. The loader starts it with the path it was
/// given, which [`LoadError`] already shows, so that prefix is dropped.
fn loader_says(e: &libloading::Error, path: &Path) -> String {
    let mut deepest: &dyn std::error::Error = e;
    while let Some(next) = deepest.source() {
        deepest = next;
    }
    let text = deepest.to_string();
    let prefix = format!("{}: ", path.display());
    match text.strip_prefix(&prefix) {
        Some(rest) if !rest.is_empty() => rest.to_string(),
        _ => text,
    }
}

fn open(path: &Path) -> Result<Library, Reason> {
    let lib = dlopen(path).map_err(|e| Reason::CannotOpen(loader_says(&e, path)))?;
    // SAFETY: `weir_abi_version` is declared by the ABI as a `const uint32_t`; we read
    // it through the symbol's address and call nothing.
    let plugin_version = unsafe {
        let sym = lib
            .get::<*const u32>(abi::VERSION_SYMBOL.as_bytes())
            .map_err(|_| Reason::NotAPlugin(abi::VERSION_SYMBOL))?;
        std::ptr::read_unaligned(*sym)
    };
    if plugin_version >> 16 != abi::MAJOR || plugin_version & 0xffff > abi::MINOR {
        return Err(Reason::AbiMismatch {
            plugin: plugin_version,
        });
    }
    // SAFETY: the symbol has the signature `weir_plugin_init_v1` in the header; the
    // version check above established that the library follows this major's header.
    let init: Init = unsafe {
        *lib.get::<Init>(abi::INIT_SYMBOL.as_bytes())
            .map_err(|_| Reason::NotAPlugin(abi::INIT_SYMBOL))?
    };
    let mut msg = [0u8; 512];
    // SAFETY: `HOST` is a static table; `msg` is writable for its full length, which we
    // pass as the capacity.
    let desc = unsafe { init(&host::HOST, msg.as_mut_ptr().cast::<c_char>(), msg.len()) };
    if desc.is_null() {
        let end = msg.iter().position(|&b| b == 0).unwrap_or(msg.len());
        let why = String::from_utf8_lossy(&msg[..end]).into_owned();
        return Err(Reason::InitFailed(if why.is_empty() {
            "no reason given".into()
        } else {
            why
        }));
    }
    // SAFETY: non-NULL and, per the ABI, pointing at a table that lives forever and
    // starts with `struct_size`; we read the size first and the rest only when it covers
    // the 1.0 layout.
    let desc = unsafe {
        let size = std::ptr::read(desc.cast::<u32>()) as usize;
        if size < abi::PLUGIN_1_0_SIZE {
            return Err(Reason::BadDescriptor("struct_size smaller than ABI 1.0"));
        }
        std::ptr::read(desc)
    };
    if desc.instance_new.is_none() {
        return Err(Reason::BadDescriptor("instance_new is NULL"));
    }
    if desc.name.is_null() {
        return Err(Reason::BadDescriptor("name is NULL"));
    }
    // SAFETY: non-NULL, and the ABI says a static NUL-terminated string.
    let name = unsafe { CStr::from_ptr(desc.name) };
    let name = match name.to_str() {
        Ok(n) if !n.is_empty() => n.to_string(),
        _ => return Err(Reason::BadDescriptor("name is empty or not UTF-8")),
    };
    // Never unloaded: see the module docs.
    std::mem::forget(lib);
    Ok(Library {
        path: path.to_path_buf(),
        name,
        abi: plugin_version,
        desc,
    })
}
