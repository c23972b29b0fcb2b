//! Plugins that are broken in ways the platform loader, not weir's ABI checks, finds:
//! unresolved symbols and files that are not libraries. Each is refused at load time,
//! by the release binary's `weir check`, with the loader's own reason and the file.

mod util;

use std::fs;
use std::path::Path;
use std::process::Output;

use util::bin::{run, temp_dir};
use util::plugins::plugins;

/// A config whose chain is the one plugin at `plugin`, written under a fresh directory.
fn config_with(name: &str, plugin: &Path) -> String {
    let path = temp_dir(name).join("weir.toml");
    let text = format!(
        "listen = \"127.0.0.1:0\"\n[upstream]\nservers = [\"127.0.0.1:9\"]\n\
         [[middleware]]\nplugin = \"{}\"\n",
        plugin.display()
    );
    fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn check(name: &str, plugin: &Path) -> Output {
    run(&["check", "--config", &config_with(name, plugin)])
}

#[test]
fn an_unresolved_symbol_fails_check_at_load_time() {
    let lib = &plugins().unresolved;
    let out = check("unresolved", lib);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "weir check passed a plugin that cannot run: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(err.contains(&*lib.display().to_string()), "{err}");
    assert!(err.contains("cannot be loaded"), "{err}");
}

/// `weir check` on `plugin` fails, naming the file and the loader's reason `why`.
fn refused_with(name: &str, plugin: &Path, why: &str) {
    let out = check(name, plugin);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "weir check passed {}",
        plugin.display()
    );
    let line = format!("{}: cannot be loaded: ", plugin.display());
    assert!(err.contains(&line), "no `{line}` in {err}");
    assert!(err.contains(why), "no `{why}` in {err}");
    assert!(!err.contains("dlopen failed"), "{err}");
}

#[test]
fn the_loaders_own_reason_is_shown() {
    let dir = temp_dir("not-libraries");
    let empty = dir.join("empty.so");
    fs::write(&empty, b"").unwrap();
    let text = dir.join("text.so");
    fs::write(&text, "this is not an ELF file, just words\n".repeat(40)).unwrap();
    let subdir = dir.join("dir.so");
    fs::create_dir(&subdir).unwrap();
    refused_with("empty", &empty, "file too short");
    refused_with("text", &text, "invalid ELF header");
    refused_with("dir", &subdir, "Is a directory");
    // A position-independent executable is an ELF object, but not one dlopen takes.
    refused_with("exe", Path::new("/bin/true"), "executable");
    refused_with(
        "undefined",
        &plugins().unresolved,
        "undefined symbol: weir_fixture_missing_symbol",
    );
}
