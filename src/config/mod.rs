//! The TOML config: typed, validated, with defaults chosen the way nginx and HAProxy
//! choose theirs. Every error names the file, the key and the reason.
//!
//! Unknown keys are errors (a typo must not silently fall back to a default). Addresses
//! are resolved once, at load time, like nginx's `upstream` block, except the names of
//! a group with `resolve`, which `discovery` looks up while weir runs.

mod admin;
pub mod duration;
mod error;
mod group;
mod http2;
mod key_path;
mod listen;
mod privileges;
mod proxy_protocol;
mod resolve;
mod resolver;
mod route;
mod routing;
mod server;
mod settings;
mod show;
mod upstream;
mod upstream_tls;

use std::collections::BTreeMap;
use std::fs;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

pub use admin::Admin;
use admin::AdminFile;
pub use error::ConfigError;
pub use group::{GroupConfig, NameEntry, DEFAULT_GROUP, SLOTS_PER_NAME};
pub use http2::Http2;
pub use listen::{CertFiles, Listener, ServerTls, TlsVersion};
pub use privileges::Privileges;
pub use proxy_protocol::{Cidr, ProxyProtocol, SendVersion, Versions};
pub use resolve::Resolve;
pub use resolver::Resolver;
pub use route::RouteConfig;
pub use settings::{Forwarded, Limits, MiddlewareSpec, Timeouts, DEFAULT_BACKLOG, MAX_BACKLOG};
use upstream::UpstreamFile;
pub use upstream::{BalancerKind, HashKey, Health, UpstreamProtocol};
pub use upstream_tls::UpstreamTls;

use crate::http::parse::MAX_HEADERS;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    /// Spanned, like every value checked after parsing, so its error can name its line.
    listen: Option<Spanned<listen::ListenFile>>,
    #[serde(default)]
    threads: usize,
    #[serde(default = "splice_default")]
    splice: bool,
    upstream: Option<UpstreamFile>,
    #[serde(default)]
    upstreams: BTreeMap<String, UpstreamFile>,
    #[serde(default)]
    routes: Vec<RouteConfig>,
    #[serde(default)]
    timeouts: Timeouts,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    forwarded: Forwarded,
    #[serde(default)]
    http2: Http2,
    #[serde(default)]
    middleware: Vec<MiddlewareSpec>,
    admin: Option<AdminFile>,
    user: Option<String>,
    group: Option<String>,
    #[serde(default)]
    allow_root: bool,
    resolver: Option<resolver::ResolverFile>,
}

/// A validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the config came from, for messages (`command line` for quick mode).
    pub source: String,
    /// The listeners, plain or TLS; at least one.
    pub listen: Vec<Listener>,
    /// Executor threads; 0 means one per CPU.
    pub threads: usize,
    /// Whether a large Content-Length body between two plain TCP sockets moves by
    /// splice(2) (`http::splice`; the default runtime only): less CPU per byte, and in
    /// the benchmarks a longer tail when many large bodies move at once (bench/README.md,
    /// "Same work for every proxy"). `false` copies every body through user space.
    pub splice: bool,
    /// `[upstream]`: the one group, named `default`, of a file without
    /// `[upstreams.NAME]` (and what `--upstream`, `--balancer` and `--hash-key` set).
    /// Unused when `groups` is not empty; see [`Config::upstream_groups`].
    pub upstream: GroupConfig,
    pub timeouts: Timeouts,
    pub limits: Limits,
    pub forwarded: Forwarded,
    /// `[http2]`: streams and flood bounds of HTTP/2 client connections.
    pub http2: Http2,
    pub middleware: Vec<MiddlewareSpec>,
    /// `[upstreams.NAME]` groups, in name order. When empty, `upstream` is the one group.
    pub groups: Vec<GroupConfig>,
    /// `[[routes]]` in file order. When empty, every request goes to the one group.
    pub routes: Vec<RouteConfig>,
    /// `[admin]`: the admin listener, and with it metrics counting; `None` is off.
    pub admin: Option<Admin>,
    /// `user`, `group`, `allow_root`: privileges after binding, plugins as root.
    pub privileges: Privileges,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

fn splice_default() -> bool {
    true
}

fn default_listen() -> Listener {
    Listener::from(DEFAULT_LISTEN.parse::<SocketAddr>().expect("valid default"))
}

impl Default for Config {
    fn default() -> Self {
        Config {
            source: "command line".into(),
            listen: vec![default_listen()],
            threads: 0,
            splice: true,
            upstream: GroupConfig::default(),
            timeouts: Timeouts::default(),
            limits: Limits::default(),
            forwarded: Forwarded::default(),
            http2: Http2::default(),
            middleware: Vec::new(),
            groups: Vec::new(),
            routes: Vec::new(),
            admin: None,
            privileges: Privileges::default(),
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

/// ` (line N)` for a byte span of `text`, or nothing when the span is unknown.
pub(super) fn line_of(text: &str, span: Option<std::ops::Range<usize>>) -> String {
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
        let raw = File::deserialize(de).map_err(|e| {
            let key = e.span().map(|s| key_path::key_at(text, s));
            let why = format!("{}{}", e.message().trim(), line_of(text, e.span()));
            ConfigError::new(file, key.unwrap_or_default(), why)
        })?;
        raw.validate(file, text)
    }

    /// Checks everything a runnable config needs, at least one upstream included
    /// (flags may still supply those after the file is read, so `parse` does not).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let none = |g: &GroupConfig| g.servers.is_empty() && g.names.is_empty();
        if self.groups.is_empty() && none(&self.upstream) {
            return Err(ConfigError::new(
                &self.source,
                "upstream.servers",
                "at least one server is required",
            ));
        }
        if let Some(g) = self.groups.iter().find(|g| none(g)) {
            let key = format!("upstreams.{}.servers", g.name);
            let why = "at least one server is required";
            return Err(ConfigError::new(&self.source, key, why));
        }
        self.validate_settings()
    }

    /// Checks the rules that types alone cannot express.
    fn validate_settings(&self) -> Result<(), ConfigError> {
        let err = |key: &str, why: &str| Err(ConfigError::new(&self.source, key, why));
        if self.listen.is_empty() {
            return err("listen", "needs at least one address");
        }
        for g in self.upstream_groups().iter() {
            if (g.balancer == BalancerKind::Hash) != g.hash_key.is_some() {
                return err(
                    &format!("{}.hash_key", self.group_key(g)),
                    "is required with balancer = \"hash\" (and only then): client-ip, path, header:NAME or cookie:NAME",
                );
            }
            // Checked when a file is read too; this catches a config built in code.
            if let Some(h) = &g.health {
                let key = format!("{}.health.path", self.group_key(g));
                group::check_health_path(&h.path).or_else(|why| err(&key, &why))?;
            }
        }
        self.validate_routes()?;
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
        if l.max_streams == Some(0) {
            return err("limits.max_streams", "must be at least 1");
        }
        if !(1..=MAX_BACKLOG).contains(&l.listen_backlog) {
            return err(
                "limits.listen_backlog",
                &format!("must be between 1 and {MAX_BACKLOG}"),
            );
        }
        if let Some((key, why)) = self.http2.problem() {
            return err(key, why);
        }
        if let Some((key, why)) = self.admin.as_ref().and_then(Admin::problem) {
            return err(key, &why);
        }
        let shared =
            |a: &Admin| a.listen.port() != 0 && self.listen.iter().any(|l| l.addr == a.listen);
        if self.admin.as_ref().is_some_and(shared) {
            return err(
                "admin.listen",
                "must differ from listen: admin traffic never shares the proxy's port",
            );
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
            ("timeouts.upgrade", t.upgrade),
        ] {
            if d.is_zero() {
                return err(key, "must be greater than 0");
            }
        }
        Ok(())
    }
}

impl File {
    /// Resolves and checks what serde could not; `text` gives each error its line.
    fn validate(self, file: &str, text: &str) -> Result<Config, ConfigError> {
        let listen = match self.listen {
            Some(l) => {
                let line = line_of(text, Some(l.span()));
                l.into_inner().validate(file, &line)?
            }
            None => vec![default_listen()],
        };
        let admin = match &self.admin {
            Some(a) => Some(Admin {
                listen: resolve(a.listen.get_ref()).map_err(|why| {
                    let line = line_of(text, Some(a.listen.span()));
                    ConfigError::new(file, "admin.listen", format!("{why}{line}"))
                })?,
                token: a.token.clone(),
                allowed_hosts: a
                    .allowed_hosts
                    .iter()
                    .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
                    .collect(),
            }),
            None => None,
        };
        for (i, m) in self.middleware.iter().enumerate() {
            if m.builtin.is_some() == m.plugin.is_some() {
                return Err(ConfigError::new(
                    file,
                    format!("middleware[{i}]"),
                    "needs exactly one of `builtin` or `plugin`",
                ));
            }
            if m.is_global() {
                continue;
            }
            let key = format!("middleware[{i}]");
            let Some(name) = &m.name else {
                let why = "needs a `name` with `global = false`: routes pick it by name";
                return Err(ConfigError::new(file, format!("{key}.name"), why));
            };
            if m.builtin.as_deref() == Some("balancer") {
                let why = "the balancer runs for every request; it cannot be per route";
                return Err(ConfigError::new(file, format!("{key}.global"), why));
            }
            let same = self.middleware[..i]
                .iter()
                .any(|o| o.name.as_deref() == Some(name));
            if same {
                let why = format!("another entry is named {name:?}; routes pick by name");
                return Err(ConfigError::new(file, format!("{key}.name"), why));
            }
        }
        if self.upstream.is_some() && !self.upstreams.is_empty() {
            return Err(ConfigError::new(
                file,
                "upstream",
                "use either [upstream] (one group) or [upstreams.NAME] (several), not both",
            ));
        }
        let resolver = match &self.resolver {
            Some(r) => r.resolver(file, text)?,
            None => Resolver::default(),
        };
        let mut groups = Vec::with_capacity(self.upstreams.len());
        for (name, table) in self.upstreams {
            let key = format!("upstreams.{name}");
            group::check_name(&name).map_err(|why| ConfigError::new(file, &key, why))?;
            groups.push(table.into_group(&name, file, text, &key)?);
        }
        let mut upstream = match self.upstream {
            Some(table) => table.into_group(DEFAULT_GROUP, file, text, "upstream")?,
            None => GroupConfig::default(),
        };
        for g in groups.iter_mut().chain([&mut upstream]) {
            if g.resolve.is_some() {
                g.resolver = resolver.clone();
            }
        }
        let config = Config {
            source: file.into(),
            listen,
            threads: self.threads,
            splice: self.splice,
            upstream,
            timeouts: self.timeouts,
            limits: self.limits,
            forwarded: self.forwarded,
            http2: self.http2,
            middleware: self.middleware,
            groups,
            routes: self.routes,
            admin,
            privileges: Privileges {
                user: self.user,
                group: self.group,
                allow_root: self.allow_root,
            },
        };
        config.validate_settings().map_err(|e| e.with_line(text))?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests;
