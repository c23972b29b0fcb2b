//! Argument parsing with lexopt: exact names, a clear message and exit 2 for anything
//! unknown or malformed.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use lexopt::prelude::*;
use weir::backend::Mode;
use weir::config::{resolve, BalancerKind, HashKey};
use weir::Upstream;

pub enum Command {
    Serve(ServeArgs),
    Check(ServeArgs),
    Backend {
        listen: SocketAddr,
        mode: Mode,
        threads: usize,
    },
    Demo {
        listen: SocketAddr,
        /// Two groups behind host and path routes instead of one round-robin group.
        routes: bool,
    },
    /// Ask the weir with this pid to upgrade (SIGUSR2) and wait for the outcome.
    Upgrade {
        pid: u32,
        /// How long to wait for the outcome.
        wait_secs: u64,
    },
    Version,
}

#[derive(Clone, Default)]
pub struct ServeArgs {
    pub config: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub upstreams: Vec<Upstream>,
    pub balancer: Option<BalancerKind>,
    pub hash_key: Option<HashKey>,
    pub threads: Option<usize>,
    /// `--tls-cert` and `--tls-key`: HTTPS on the (first) listener.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub admin: Option<SocketAddr>,
    /// `--admin-token-file`: the admin token, read from a file so it never shows in `ps`.
    pub admin_token_file: Option<PathBuf>,
}

/// Not a command to run: help text to print, or a usage error (message, subcommand).
pub enum Usage {
    Help(String),
    Error(String, &'static str),
}

const TOP: &str = "\
weir: a small, fast HTTP/1.1 reverse proxy and load balancer

Usage:
  weir [serve] [--config FILE] [--listen ADDR] [--upstream ADDR]... [--balancer NAME]
               [--hash-key KEY] [--threads N] [--tls-cert FILE --tls-key FILE]
               [--admin ADDR [--admin-token-file FILE]]
  weir check --config FILE [the options of serve]
  weir backend --listen ADDR [--name TEXT | --echo | --dir PATH]
  weir demo [--listen ADDR] [--routes]
  weir upgrade --pid PID [--wait SECS]

Run 'weir COMMAND --help' for one command's options. 'weir --version' prints the version.
";

/// The options `serve` and `check` share, so the two help texts cannot drift apart.
const SERVE_OPTIONS: &str = "
Options:
  -c, --config FILE     read settings from a TOML file; flags given beside it override it
  -l, --listen ADDR     address to listen on (default 127.0.0.1:8080)
  -u, --upstream ADDR   an origin server host:port; repeat for several (replaces the file's list)
  -b, --balancer NAME   round-robin (default), least-conn, p2c, random or hash
  -k, --hash-key KEY    what to hash (implies --balancer hash): client-ip, path,
                        header:NAME or cookie:NAME
  -t, --threads N       executor threads; 0 = one per CPU (default)
  --tls-cert FILE       serve HTTPS on the listener: certificate chain (PEM, leaf first)
  --tls-key FILE        ... and its private key (PEM: PKCS#8, PKCS#1 or SEC1)
  --admin ADDR          admin listener: /metrics, status page, runtime API (loopback,
                        or with a token)
  --admin-token-file FILE
                        the admin token (at least 16 bytes), the file's first line;
                        a file, not a flag, so the token never shows in `ps`
  -h, --help            this text
";

const SERVE: &str = "\
weir serve: run the proxy (the default command)

Usage: weir serve [--config FILE] [--listen ADDR] [--upstream ADDR]... [--balancer NAME]
                  [--hash-key KEY] [--threads N] [--tls-cert FILE --tls-key FILE]
";

const CHECK: &str = "\
weir check: validate a config and print a summary; exit 0 if valid, 1 if not

Usage: weir check --config FILE [--listen ADDR] [--upstream ADDR]... [--balancer NAME]
                  [--hash-key KEY] [--threads N]

Checks what 'weir serve' with the same options would run: the file, then the flags
over it, then the chain (plugin libraries are loaded and given their config). Nothing
listens and no upstream is contacted.
";

const BACKEND: &str = "\
weir backend: a simple origin server for labs and tests

Usage: weir backend --listen ADDR [--name TEXT | --echo | --dir PATH] [--threads N]

Options:
  -l, --listen ADDR   address to listen on (required)
  --name TEXT         answer every request with 200 and body TEXT (the default: \"weir backend\")
  --echo              answer with the request head exactly as received, then its body
  --dir PATH          serve files from PATH, with directory listings (GET and HEAD)
  -t, --threads N     executor threads (default 1)
  -h, --help          this text
";

const DEMO: &str = "\
weir demo: three backends with unique answers behind a round-robin proxy, in one process

Usage: weir demo [--listen ADDR] [--routes]

Options:
  -l, --listen ADDR   the proxy's address (default 127.0.0.1:8080); the backends take free ports
  -r, --routes        two upstream groups (web, api) behind host and path routes instead
  -h, --help          this text
";

const UPGRADE: &str = "\
weir upgrade: a zero-downtime upgrade of a running weir; exit 0 once the new one serves

Usage: weir upgrade --pid PID [--wait SECS]

Sends SIGUSR2 to process PID, which starts the weir binary at the path it was started
from (a new version, if it was replaced there) with its own arguments, hands it its
listening sockets, waits until it is ready, then stops accepting and drains. Prints the
new process's pid, or why the upgrade failed (the old one then keeps serving): exit 1.

Options:
  -p, --pid PID       the running weir's process id (required)
  -w, --wait SECS     how long to wait for the outcome (default 120)
  -h, --help          this text
";

fn err(sub: &'static str) -> impl Fn(String) -> Usage {
    move |m| Usage::Error(m, sub)
}

fn addr(p: &mut lexopt::Parser, flag: &str, sub: &'static str) -> Result<SocketAddr, Usage> {
    let v = p.value().map_err(|e| Usage::Error(e.to_string(), sub))?;
    let s = v.to_string_lossy();
    resolve(&s).map_err(|why| Usage::Error(format!("{flag}: {why}"), sub))
}

fn number(p: &mut lexopt::Parser, flag: &str, sub: &'static str) -> Result<usize, Usage> {
    let v = p.value().map_err(|e| Usage::Error(e.to_string(), sub))?;
    v.to_string_lossy()
        .parse()
        .map_err(|_| Usage::Error(format!("{flag}: {:?} is not a whole number", v), sub))
}

fn serve_args(p: &mut lexopt::Parser, sub: &'static str, help: &str) -> Result<ServeArgs, Usage> {
    let help = format!("{help}{SERVE_OPTIONS}");
    let mut a = ServeArgs::default();
    while let Some(arg) = p.next().map_err(|e| err(sub)(e.to_string()))? {
        match arg {
            Short('c') | Long("config") => {
                a.config = Some(p.value().map_err(|e| err(sub)(e.to_string()))?.into());
            }
            Short('l') | Long("listen") => a.listen = Some(addr(p, "--listen", sub)?),
            Short('u') | Long("upstream") => a.upstreams.push(Upstream {
                addr: addr(p, "--upstream", sub)?,
                weight: 1,
            }),
            Short('b') | Long("balancer") => {
                let v = p.value().map_err(|e| err(sub)(e.to_string()))?;
                let name = v.to_string_lossy();
                a.balancer = Some(BalancerKind::parse(&name).ok_or_else(|| {
                    let all: Vec<&str> = BalancerKind::ALL.iter().map(|k| k.as_str()).collect();
                    Usage::Error(
                        format!(
                            "--balancer: unknown balancer {name:?} (expected one of: {})",
                            all.join(", ")
                        ),
                        sub,
                    )
                })?);
            }
            Short('k') | Long("hash-key") => {
                let v = p.value().map_err(|e| err(sub)(e.to_string()))?;
                let key = HashKey::parse(&v.to_string_lossy())
                    .map_err(|why| Usage::Error(format!("--hash-key: {why}"), sub))?;
                a.hash_key = Some(key);
            }
            Short('t') | Long("threads") => a.threads = Some(number(p, "--threads", sub)?),
            Long("tls-cert") => {
                a.tls_cert = Some(p.value().map_err(|e| err(sub)(e.to_string()))?.into());
            }
            Long("tls-key") => {
                a.tls_key = Some(p.value().map_err(|e| err(sub)(e.to_string()))?.into());
            }
            Long("admin") => a.admin = Some(addr(p, "--admin", sub)?),
            Long("admin-token-file") => {
                let v = p.value().map_err(|e| err(sub)(e.to_string()))?;
                a.admin_token_file = Some(v.into());
            }
            Short('h') | Long("help") => return Err(Usage::Help(help)),
            other => return Err(Usage::Error(other.unexpected().to_string(), sub)),
        }
    }
    if a.tls_cert.is_some() != a.tls_key.is_some() {
        return Err(Usage::Error(
            "--tls-cert and --tls-key go together".into(),
            sub,
        ));
    }
    hash_flags(&a).map_err(|why| Usage::Error(why, sub))?;
    Ok(a)
}

/// The hash balancer's flags, checked as typed: left to the config's validation, a
/// mistake here was reported as `upstream.hash_key`, a key the user never wrote.
/// (With `--config`, whether the file gives the key is checked after loading it.)
fn hash_flags(a: &ServeArgs) -> Result<(), String> {
    match (a.balancer, &a.hash_key) {
        (Some(b), Some(_)) if b != BalancerKind::Hash => Err(format!(
            "--hash-key goes with --balancer hash (alone it implies it), not --balancer {}",
            b.as_str()
        )),
        (Some(BalancerKind::Hash), None) if a.config.is_none() => Err(NEEDS_HASH_KEY.into()),
        _ => Ok(()),
    }
}

/// What `--balancer hash` without a key is told.
pub const NEEDS_HASH_KEY: &str =
    "--balancer hash needs --hash-key KEY: client-ip, path, header:NAME or cookie:NAME";

fn backend(p: &mut lexopt::Parser) -> Result<Command, Usage> {
    const SUB: &str = "backend ";
    let mut listen = None;
    let mut mode = None;
    let mut threads = 1;
    let set_mode = |m: Mode, mode: &mut Option<Mode>| {
        if mode.replace(m).is_some() {
            return Err(Usage::Error(
                "--name, --echo and --dir exclude each other".into(),
                SUB,
            ));
        }
        Ok(())
    };
    while let Some(arg) = p.next().map_err(|e| err(SUB)(e.to_string()))? {
        match arg {
            Short('l') | Long("listen") => listen = Some(addr(p, "--listen", SUB)?),
            Long("name") => {
                let v = p.value().map_err(|e| err(SUB)(e.to_string()))?;
                set_mode(Mode::Name(v.to_string_lossy().into_owned()), &mut mode)?;
            }
            Long("echo") => set_mode(Mode::Echo, &mut mode)?,
            Long("dir") => {
                let v = p.value().map_err(|e| err(SUB)(e.to_string()))?;
                set_mode(Mode::Dir(v.into()), &mut mode)?;
            }
            Short('t') | Long("threads") => threads = number(p, "--threads", SUB)?,
            Short('h') | Long("help") => return Err(Usage::Help(BACKEND.into())),
            other => return Err(Usage::Error(other.unexpected().to_string(), SUB)),
        }
    }
    let listen = listen.ok_or_else(|| Usage::Error("--listen ADDR is required".into(), SUB))?;
    Ok(Command::Backend {
        listen,
        mode: mode.unwrap_or_else(|| Mode::Name("weir backend".into())),
        threads,
    })
}

fn demo(p: &mut lexopt::Parser) -> Result<Command, Usage> {
    const SUB: &str = "demo ";
    let mut listen = weir::config::DEFAULT_LISTEN.parse().expect("valid default");
    let mut routes = false;
    while let Some(arg) = p.next().map_err(|e| err(SUB)(e.to_string()))? {
        match arg {
            Short('l') | Long("listen") => listen = addr(p, "--listen", SUB)?,
            Short('r') | Long("routes") => routes = true,
            Short('h') | Long("help") => return Err(Usage::Help(DEMO.into())),
            other => return Err(Usage::Error(other.unexpected().to_string(), SUB)),
        }
    }
    Ok(Command::Demo { listen, routes })
}

fn upgrade(p: &mut lexopt::Parser) -> Result<Command, Usage> {
    const SUB: &str = "upgrade ";
    let mut pid = None;
    let mut wait_secs = 120;
    while let Some(arg) = p.next().map_err(|e| err(SUB)(e.to_string()))? {
        match arg {
            Short('p') | Long("pid") => {
                let n = number(p, "--pid", SUB)?;
                let n = u32::try_from(n).ok().filter(|n| *n > 0);
                pid = Some(n.ok_or_else(|| Usage::Error("--pid: not a process id".into(), SUB))?);
            }
            Short('w') | Long("wait") => wait_secs = number(p, "--wait", SUB)? as u64,
            Short('h') | Long("help") => return Err(Usage::Help(UPGRADE.into())),
            other => return Err(Usage::Error(other.unexpected().to_string(), SUB)),
        }
    }
    let pid = pid.ok_or_else(|| Usage::Error("--pid PID is required".into(), SUB))?;
    Ok(Command::Upgrade { pid, wait_secs })
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, Usage> {
    let args: Vec<OsString> = args.into_iter().collect();
    let first = args.first().and_then(|a| a.to_str()).unwrap_or("");
    let (sub, rest) = match first {
        "serve" | "check" | "backend" | "demo" | "upgrade" => (first.to_string(), &args[1..]),
        "-h" | "--help" | "help" => return Err(Usage::Help(TOP.into())),
        "-V" | "--version" => return Ok(Command::Version),
        s if s.is_empty() || s.starts_with('-') => ("serve".to_string(), &args[..]),
        s => {
            return Err(Usage::Error(
                format!("unknown command {s:?} (expected serve, check, backend, demo or upgrade)"),
                "",
            ))
        }
    };
    let mut p = lexopt::Parser::from_args(rest.iter().cloned());
    match sub.as_str() {
        "check" => {
            let a = serve_args(&mut p, "check ", CHECK)?;
            if a.config.is_none() {
                return Err(Usage::Error("check needs --config FILE".into(), "check "));
            }
            Ok(Command::Check(a))
        }
        "backend" => backend(&mut p),
        "demo" => demo(&mut p),
        "upgrade" => upgrade(&mut p),
        _ => {
            let a = serve_args(&mut p, "serve ", SERVE)?;
            if a.config.is_none() && a.upstreams.is_empty() {
                return Err(Usage::Error(
                    "give --upstream ADDR (one or more) or --config FILE".into(),
                    "serve ",
                ));
            }
            Ok(Command::Serve(a))
        }
    }
}
