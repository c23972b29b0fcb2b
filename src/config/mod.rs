//! The TOML config: typed, validated, with defaults chosen the way nginx and HAProxy
//! choose theirs. Every error names the file, the key and the reason.
//!
//! Unknown keys are errors (a typo must not silently fall back to a default). Addresses
//! are resolved once, at load time, like nginx's `upstream` block.

pub mod duration;
mod error;
mod server;
mod upstream;

use std::fs;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use error::ConfigError;
use upstream::UpstreamFile;
pub use upstream::{BalancerKind, HashKey, Health};

use crate::http::parse::MAX_HEADERS;
use crate::upstream::state::Passive;
use crate::upstream::Upstream;

/// `[timeouts]`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Timeouts {
    /// The whole request head must arrive within this (slowloris guard), else 408.
    #[serde(deserialize_with = "duration::de")]
    pub header: Duration,
    /// A keep-alive client connection idle longer than this is closed silently.
    #[serde(deserialize_with = "duration::de")]
    pub idle: Duration,
    /// Connecting to an upstream, else 504.
    #[serde(deserialize_with = "duration::de")]
    pub connect: Duration,
    /// Longest wait for upstream response bytes (head or body), else 504.
    #[serde(deserialize_with = "duration::de")]
    pub upstream_read: Duration,
    /// Longest wait for client progress mid-message: body bytes in, response bytes out.
    #[serde(deserialize_with = "duration::de")]
    pub client_body: Duration,
    /// On SIGTERM/SIGINT, how long in-flight requests get to finish.
    #[serde(deserialize_with = "duration::de")]
    pub drain: Duration,
    /// A WebSocket tunnel with no bytes either way for this long is closed.
    #[serde(deserialize_with = "duration::de")]
    pub tunnel: Duration,
    /// Longest a plugin library may take to load in the check process (see
    /// `plugin::vet`) before it is refused as hanging.
    #[serde(deserialize_with = "duration::de")]
    pub plugin_check: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            connect: Duration::from_secs(3),
            upstream_read: Duration::from_secs(60),
            client_body: Duration::from_secs(60),
            drain: Duration::from_secs(10),
            tunnel: Duration::from_secs(3600),
            plugin_check: Duration::from_secs(10),
        }
    }
}

/// `[limits]`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest request head; larger is 431 (414 when the request line alone is too long).
    pub max_header_bytes: usize,
    /// Most header fields in a request, at most 256; more is 431.
    pub max_headers: usize,
    /// Largest request body; 0 means unlimited; larger is 413.
    pub max_body_bytes: u64,
    /// Most client connections open at once; past it weir stops accepting until one ends.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: 16 * 1024,
            max_headers: 100,
            max_body_bytes: 0,
            max_connections: 10_000,
        }
    }
}

/// `[forwarded]`: which `X-Forwarded-*` headers weir adds to requests.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Forwarded {
    /// Append the client address to `X-Forwarded-For`.
    #[serde(rename = "for")]
    pub for_: bool,
    /// Set `X-Forwarded-Proto: http`.
    pub proto: bool,
    /// Set `X-Forwarded-Host` to the client's `Host`.
    pub host: bool,
}

impl Default for Forwarded {
    fn default() -> Self {
        Forwarded {
            for_: true,
            proto: true,
            host: true,
        }
    }
}

/// One `[[middleware]]` entry, checked further when the chain is built.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MiddlewareSpec {
    /// A built-in: `log`, `headers` or `balancer`.
    pub builtin: Option<String>,
    /// A plugin library path.
    pub plugin: Option<PathBuf>,
    /// Instance name for logs; defaults to the built-in's or the plugin's own name.
    pub name: Option<String>,
    /// The entry's own settings.
    #[serde(default)]
    pub config: toml::Table,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    listen: Option<String>,
    #[serde(default)]
    threads: usize,
    #[serde(default)]
    upstream: UpstreamFile,
    #[serde(default)]
    timeouts: Timeouts,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    forwarded: Forwarded,
    #[serde(default)]
    middleware: Vec<MiddlewareSpec>,
}

/// A validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the config came from, for messages (`command line` for quick mode).
    pub source: String,
    pub listen: SocketAddr,
    /// Executor threads; 0 means one per CPU.
    pub threads: usize,
    pub upstreams: Vec<Upstream>,
    pub balancer: BalancerKind,
    /// Idle keep-alive connections kept per upstream server.
    pub keepalive: usize,
    /// How long an idle upstream connection is kept.
    pub keepalive_timeout: Duration,
    /// For `balancer = "hash"`: what to hash.
    pub hash_key: Option<HashKey>,
    /// Passive health: failures that take a server out, and for how long.
    pub passive: Passive,
    /// How many other servers a failed request may be retried on; `None` means
    /// "all the others" (servers - 1).
    pub retries: Option<usize>,
    /// Add `X-Weir-Upstream` and `X-Weir-Reason` to responses.
    pub debug_headers: bool,
    /// Active health checks, when configured.
    pub health: Option<Health>,
    pub timeouts: Timeouts,
    pub limits: Limits,
    pub forwarded: Forwarded,
    pub middleware: Vec<MiddlewareSpec>,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

impl Default for Config {
    fn default() -> Self {
        let file = UpstreamFile::default();
        Config {
            source: "command line".into(),
            listen: DEFAULT_LISTEN.parse().expect("valid default"),
            threads: 0,
            upstreams: Vec::new(),
            balancer: file.balancer,
            keepalive: file.keepalive,
            keepalive_timeout: file.keepalive_timeout,
            hash_key: None,
            passive: Passive::default(),
            retries: None,
            debug_headers: false,
            health: None,
            timeouts: Timeouts::default(),
            limits: Limits::default(),
            forwarded: Forwarded::default(),
            middleware: Vec::new(),
        }
    }
}

/// Resolves `host:port` to its first address.
pub fn resolve(addr: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = addr.parse() {
        return Ok(a);
    }
    match addr.to_socket_addrs() {
        Ok(mut it) => it
            .next()
            .ok_or_else(|| format!("{addr:?} resolves to no address")),
        Err(e) => Err(format!(
            "invalid address {addr:?}: {e} (expected host:port)"
        )),
    }
}

fn line_of(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    span.map(|s| {
        format!(
            " (line {})",
            text[..s.start.min(text.len())].lines().count().max(1)
        )
    })
    .unwrap_or_default()
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = fs::read_to_string(path)
            .map_err(|e| ConfigError::new(&file, "", format!("cannot read config file: {e}")))?;
        Config::parse(&text, &file)
    }

    /// Parses and validates config text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let de = toml::de::Deserializer::parse(text).map_err(|e| {
            ConfigError::new(
                file,
                "",
                format!(
                    "invalid TOML{}: {}",
                    line_of(text, e.span()),
                    e.message().trim()
                ),
            )
        })?;
        let raw: File = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let key = if key == "." { String::new() } else { key };
            ConfigError::new(
                file,
                key,
                format!("{}{}", inner.message().trim(), line_of(text, inner.span())),
            )
        })?;
        raw.validate(file)
    }

    /// Checks everything a runnable config needs, at least one upstream included
    /// (flags may still supply those after the file is read, so `parse` does not).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.upstreams.is_empty() {
            return Err(ConfigError::new(
                &self.source,
                "upstream.servers",
                "at least one server is required",
            ));
        }
        self.validate_settings()
    }

    /// Checks the rules that types alone cannot express.
    fn validate_settings(&self) -> Result<(), ConfigError> {
        let err = |key: &str, why: &str| Err(ConfigError::new(&self.source, key, why));
        if (self.balancer == BalancerKind::Hash) != self.hash_key.is_some() {
            return err(
                "upstream.hash_key",
                "is required with balancer = \"hash\" (and only then): client-ip, path, header:NAME or cookie:NAME",
            );
        }
        let l = &self.limits;
        if !(1..=MAX_HEADERS).contains(&l.max_headers) {
            return err(
                "limits.max_headers",
                &format!("must be between 1 and {MAX_HEADERS}"),
            );
        }
        if !(1024..=1024 * 1024).contains(&l.max_header_bytes) {
            return err(
                "limits.max_header_bytes",
                "must be between 1024 and 1048576",
            );
        }
        if l.max_connections == 0 {
            return err("limits.max_connections", "must be at least 1");
        }
        let t = &self.timeouts;
        for (key, d) in [
            ("timeouts.header", t.header),
            ("timeouts.idle", t.idle),
            ("timeouts.connect", t.connect),
            ("timeouts.upstream_read", t.upstream_read),
            ("timeouts.client_body", t.client_body),
            ("timeouts.tunnel", t.tunnel),
            ("timeouts.plugin_check", t.plugin_check),
        ] {
            if d.is_zero() {
                return err(key, "must be greater than 0");
            }
        }
        Ok(())
    }
}

impl File {
    fn validate(self, file: &str) -> Result<Config, ConfigError> {
        let listen = match &self.listen {
            Some(l) => resolve(l).map_err(|why| ConfigError::new(file, "listen", why))?,
            None => DEFAULT_LISTEN.parse().expect("valid default"),
        };
        let upstreams = self
            .upstream
            .servers
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let key = format!("upstream.servers[{i}]");
                if s.weight == 0 {
                    return Err(ConfigError::new(file, key, "weight must be at least 1"));
                }
                let addr = resolve(&s.addr).map_err(|why| ConfigError::new(file, &key, why))?;
                Ok(Upstream {
                    addr,
                    weight: s.weight,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (i, m) in self.middleware.iter().enumerate() {
            if m.builtin.is_some() == m.plugin.is_some() {
                return Err(ConfigError::new(
                    file,
                    format!("middleware[{i}]"),
                    "needs exactly one of `builtin` or `plugin`",
                ));
            }
        }
        let u = self.upstream;
        let hash_key = u
            .hash_key
            .as_deref()
            .map(HashKey::parse)
            .transpose()
            .map_err(|why| ConfigError::new(file, "upstream.hash_key", why))?;
        if let Some(h) = &u.health {
            h.statuses()
                .map_err(|why| ConfigError::new(file, "upstream.health.expect_status", why))?;
            if !h.path.starts_with('/') {
                return Err(ConfigError::new(
                    file,
                    "upstream.health.path",
                    "must start with /",
                ));
            }
        }
        let config = Config {
            source: file.into(),
            listen,
            threads: self.threads,
            upstreams,
            balancer: u.balancer,
            keepalive: u.keepalive,
            keepalive_timeout: u.keepalive_timeout,
            hash_key,
            passive: Passive {
                max_fails: u.max_fails,
                fail_timeout: u.fail_timeout,
                fail_on_5xx: u.fail_on_5xx,
            },
            retries: u.retries,
            debug_headers: u.debug_headers,
            health: u.health,
            timeouts: self.timeouts,
            limits: self.limits,
            forwarded: self.forwarded,
            middleware: self.middleware,
        };
        config.validate_settings()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let c = Config::parse(
            r#"
listen = "127.0.0.1:8080"
threads = 0
[upstream]
servers = ["127.0.0.1:9001", { addr = "127.0.0.1:9002", weight = 2 }]
balancer = "round-robin"
[timeouts]
header = "10s"
idle = "60s"
connect = "3s"
upstream_read = "150ms"
[limits]
max_header_bytes = 16384
max_headers = 100
max_body_bytes = 0
max_connections = 10000
[[middleware]]
builtin = "log"
name = "access"
config = { format = "combined", path = "-" }
"#,
            "weir.toml",
        )
        .unwrap();
        assert_eq!(c.upstreams.len(), 2);
        assert_eq!(c.upstreams[1].weight, 2);
        assert_eq!(c.timeouts.upstream_read, Duration::from_millis(150));
        assert_eq!(c.middleware[0].name.as_deref(), Some("access"));
    }

    #[test]
    fn errors_name_file_key_and_reason() {
        let e = Config::parse("[timeouts]\nheader = \"5x\"\n", "w.toml").unwrap_err();
        assert_eq!(e.file, "w.toml");
        assert_eq!(e.key, "timeouts.header");
        assert!(e.reason.contains("invalid duration"), "{e}");
        let e = Config::parse("[limits]\nmax_bodyy = 1\n", "w.toml").unwrap_err();
        assert!(e.to_string().contains("unknown field `max_bodyy`"), "{e}");
        let e = Config::parse("[upstream]\nservers = [\"nope\"]\n", "w.toml").unwrap_err();
        assert_eq!(e.key, "upstream.servers[0]");
    }
}
