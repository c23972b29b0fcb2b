//! Command-line entry: parses argv, runs the subcommand, maps failures to exit codes
//! (2 for usage errors, 1 for config and start-up errors, like `nginx -t`).

#[cfg(all(feature = "mimalloc", unix))]
pub mod alloc;
mod args;
mod check;
mod demo;
mod out;

use std::process::ExitCode;

use weir::backend::Backend;
use weir::config::{BalancerKind, ServerTls};
use weir::{Config, Proxy};

pub use args::{Command, ServeArgs, Usage};
use out::say;

/// Loads the config file (if any) and applies the flags given beside it.
pub fn config_from(a: &ServeArgs) -> Result<Config, weir::ConfigError> {
    let mut config = match &a.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(l) = a.listen {
        config.listen = vec![l.into()];
    }
    if let (Some(cert), Some(key)) = (&a.tls_cert, &a.tls_key) {
        config.listen[0].tls = Some(ServerTls::single(cert, key));
    }
    let groups = !config.groups.is_empty();
    if groups && (!a.upstreams.is_empty() || a.balancer.is_some()) {
        return Err(weir::ConfigError::new(
            &config.source,
            "upstreams",
            "--upstream and --balancer apply to a single [upstream]; this file defines [upstreams.NAME] groups",
        ));
    }
    if !a.upstreams.is_empty() {
        config.upstream.servers = a.upstreams.clone();
    }
    if let Some(b) = a.balancer {
        config.upstream.balancer = b;
        // The file's hash key belonged to the file's balancer; a flag that picks
        // another balancer replaces both.
        if b != BalancerKind::Hash {
            config.upstream.hash_key = None;
        }
    }
    if let Some(k) = &a.hash_key {
        // `--hash-key` alone means hashing, as nginx's `hash KEY;` is the balancer.
        if a.balancer.is_none() {
            config.upstream.balancer = BalancerKind::Hash;
        }
        config.upstream.hash_key = Some(k.clone());
    }
    if a.balancer == Some(BalancerKind::Hash) && config.upstream.hash_key.is_none() {
        let why = format!("{} (or hash_key in [upstream])", args::NEEDS_HASH_KEY);
        return Err(weir::ConfigError::new(&config.source, "--balancer", why));
    }
    if let Some(t) = a.threads {
        config.threads = t;
    }
    if let Some(listen) = a.admin {
        // The file's token and host names (if any) still guard the address the flag gives.
        let mut admin = config
            .admin
            .take()
            .unwrap_or(weir::config::Admin::new(listen));
        admin.listen = listen;
        config.admin = Some(admin);
    }
    if let Some(path) = &a.admin_token_file {
        let token = read_token(path).map_err(|why| {
            weir::ConfigError::new(&path.display().to_string(), "--admin-token-file", why)
        })?;
        match config.admin.as_mut() {
            Some(admin) => admin.token = Some(token),
            None => {
                return Err(weir::ConfigError::new(
                    &config.source,
                    "--admin-token-file",
                    "needs an admin listener: --admin ADDR or [admin] in the file",
                ))
            }
        }
    }
    config.validate()?;
    Ok(config)
}

/// The token in `path`: its first line, surrounding whitespace removed (so `echo` or an
/// editor's final newline does not become part of it). Read again on every reload.
fn read_token(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
    Ok(text.lines().next().unwrap_or_default().trim().to_string())
}

fn serve(a: &ServeArgs) -> ExitCode {
    let config = match config_from(a) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let config_listen = config.listen.clone();
    // SIGHUP re-reads the same file and re-applies the same flags.
    let args = a.clone();
    let server = match Proxy::new(config)
        .reload_from(move || config_from(&args))
        .upgrade_from(upgrade_plan())
        .bind()
    {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let urls: Vec<String> = server
        .local_addrs()
        .iter()
        .zip(&config_listen)
        .map(|(addr, l)| {
            let scheme = if l.tls.is_some() { "https" } else { "http" };
            match l.http2() {
                Some(h2) => format!("{scheme}://{addr} ({h2})"),
                None => format!("{scheme}://{addr}"),
            }
        })
        .collect();
    eprintln!(
        "weir: listening on {} (chain: {})",
        urls.join(", "),
        server.chain_names().join(" → ")
    );
    if let Some(admin) = server.admin_addr() {
        eprintln!("weir: admin on http://{admin} (/metrics, /status, /api/)");
    }
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// What SIGUSR2 starts: the binary at the path this process was started from, which a
/// package upgrade may have replaced since (so not `/proc/self/exe`, which stays the old
/// file), with the same arguments.
fn upgrade_plan() -> weir::upgrade::Plan {
    let started = std::env::args_os().next().map(std::path::PathBuf::from);
    let exe = std::env::current_exe().ok().or(started).unwrap_or_default();
    weir::upgrade::Plan {
        exe,
        args: std::env::args_os().skip(1).collect(),
    }
}

/// The running binary, to re-execute. On Linux `/proc/self/exe`: it still runs this
/// very binary after a package upgrade has replaced or deleted the file on disk, where
/// `current_exe()` would name a path that is gone or holds another version.
fn this_executable() -> Option<std::path::PathBuf> {
    let proc_self = std::path::Path::new("/proc/self/exe");
    if cfg!(target_os = "linux") && proc_self.exists() {
        return Some(proc_self.to_path_buf());
    }
    std::env::current_exe().ok()
}

fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("weir: {e}");
    ExitCode::FAILURE
}

pub fn main() -> ExitCode {
    out::status(run())
}

fn run() -> ExitCode {
    // Hidden: `weir check-plugin ...`, the child a parent weir runs to load a new
    // plugin library before it loads it itself (see `weir::plugin::vet`).
    if let Some(code) = weir::plugin::vet::child_mode(std::env::args_os().skip(1)) {
        return code;
    }
    // This binary is weir, so it can re-execute itself to load a new plugin library in
    // a child first: one that crashes or hangs there is refused, weir stays up.
    weir::plugin::vet::set_checker(this_executable());
    let command = match args::parse(std::env::args_os().skip(1)) {
        Ok(c) => c,
        Err(Usage::Help(text)) => {
            out::write(format_args!("{text}"));
            return ExitCode::SUCCESS;
        }
        Err(Usage::Error(msg, sub)) => {
            eprintln!("weir: {msg}");
            eprintln!("Try 'weir {sub}--help' for more.");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Version => {
            say!(
                "weir {} (TLS: {})",
                env!("CARGO_PKG_VERSION"),
                weir::tls::PROVIDER
            );
            ExitCode::SUCCESS
        }
        Command::Serve(a) => serve(&a),
        Command::Check(a) => check::run(&a),
        Command::Backend {
            listen,
            mode,
            threads,
        } => match Backend::bind(listen, mode) {
            Ok(b) => {
                eprintln!("weir backend: listening on http://{}", b.local_addr());
                match b.run(threads) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => fail(&e),
                }
            }
            Err(e) => fail(&format!("backend: cannot listen on {listen}: {e}")),
        },
        Command::Demo { listen, routes } => demo::run(listen, routes),
        Command::Upgrade { pid, wait_secs } => {
            let wait = std::time::Duration::from_secs(wait_secs);
            match weir::upgrade::outcome::request(pid, wait) {
                Ok(new) => {
                    say!("weir: upgraded: process {new} serves; process {pid} drains");
                    ExitCode::SUCCESS
                }
                Err(why) => fail(&format!("upgrade of process {pid} failed: {why}")),
            }
        }
    }
}
