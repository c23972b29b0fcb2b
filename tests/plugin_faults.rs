//! Plugins that fail in ways weir's ABI checks cannot see, through the `weir` binary:
//! unresolved symbols and files that are not libraries (each refused at load time with
//! the loader's own reason and the file), and a hook that panics on every request
//! (its log lines throttled).

mod util;

use std::fs;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use util::bin::{run, signal, spawn, temp_dir};
use util::plugins::{get, plugins};
use weir::backend::Mode;

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

#[test]
fn a_hook_panicking_on_every_request_logs_a_bounded_number_of_lines() {
    // Issue 14 saw 103,556 lines in 5 s. Per instance and hook: the first line, then a
    // summary with the count every 5 s (the summary itself is unit-tested in
    // src/plugin/throttle.rs with an injected clock; here only the bound is asserted).
    const REQUESTS: usize = 300;
    let up = util::backend(Mode::Echo);
    let path = temp_dir("panic-flood").join("weir.toml");
    fs::write(
        &path,
        format!(
            "listen = \"127.0.0.1:0\"\n[upstream]\nservers = [\"{up}\"]\n\
             [[middleware]]\nplugin = \"{}\"\nconfig = {{ panic_in = \"on_request\" }}\n",
            plugins().panic.display()
        ),
    )
    .unwrap();
    let mut weir = spawn(
        &["serve", "--config", path.to_str().unwrap()],
        "stderr",
        "listening on",
    );
    let start = Instant::now();
    for _ in 0..REQUESTS {
        assert_eq!(get(weir.addr, "/panic", "").status, 500);
    }
    let elapsed = start.elapsed();
    // Stop weir and read its stderr to the end, so every line it wrote is counted.
    signal(&weir.child, "TERM");
    assert!(weir.child.wait().unwrap().success());
    assert!(weir.later.wait_closed(Duration::from_secs(10)));
    let lines = weir.later.snapshot();
    let panics = lines.iter().filter(|l| l.contains("panicked")).count();
    // One line per 5 s window at most, and one for the window the run began in.
    let windows = elapsed.as_secs() as usize / 5 + 2;
    assert!(
        (1..=windows).contains(&panics),
        "{panics} panic lines for {REQUESTS} requests in {elapsed:?}:\n{}",
        lines.join("\n")
    );
    let held = lines.iter().filter(|l| l.contains("held back")).count();
    assert_eq!(held, panics - 1, "{lines:?}");
}
