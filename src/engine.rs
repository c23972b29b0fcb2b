//! The engine: everything a request needs that outlives it, built from one config.
//!
//! An engine holds the config, the global middleware chain, the route table, the
//! upstream groups (servers with live state, and their pools) and the signals. It is
//! built at start-up and on every reload ([`crate::live`] swaps it); a request takes the
//! engine in force when it starts and keeps it to the end. Nothing here knows about one
//! exchange: the exchange reads the engine, never the other way round.

use std::net::SocketAddr;
use std::sync::Arc;

use futures_rustls::rustls::ServerConfig;

use crate::config::{Config, ConfigError};
use crate::http::parse::HeadLimits;
use crate::listener_id::ListenerId;
use crate::metrics::EngineStats;
use crate::middleware::{build, Chain, Middleware};
use crate::privileges;
use crate::proxy_protocol;
use crate::route::{self, Table};
use crate::shutdown::{self, Signal, Trigger};
use crate::tls::{self, Handshakes};
use crate::upstream::group::Group;
use crate::upstream::shortage::Shortage;

/// What a matched route does.
pub(crate) struct Route {
    /// For logs and debug headers: the route's `name`, or `routes[i]`.
    pub name: String,
    /// Index into [`Engine::groups`].
    pub group: usize,
    /// `redirect = "https"`: plain HTTP requests get a 308 to https.
    pub redirect_https: bool,
    /// Removed from the front of the path before forwarding.
    pub strip_prefix: Option<Box<[u8]>>,
    /// The route's own middleware, run after the global chain (often empty).
    pub chain: Chain,
}

/// The route table and what each route does.
pub(crate) struct Routes {
    pub table: Table,
    pub list: Vec<Route>,
    /// No `[[routes]]` were configured: every request takes route 0, unmatched and
    /// unnormalised, exactly as before routing existed.
    pub implicit: bool,
}

/// Everything a connection task needs, shared by all of them.
pub(crate) struct Engine {
    pub config: Config,
    /// The global chain: runs for every request, before routing.
    pub chain: Chain,
    pub routes: Routes,
    pub groups: Vec<Arc<Group>>,
    /// Connects refused for want of local resources; shared by the engines a reload
    /// makes, so the count and the episode outlive them.
    pub shortage: Arc<Shortage>,
    /// The TLS config of each listener (`None` for plain), in the order of `listen`:
    /// handshakes use the engine in force when the connection is accepted.
    pub tls: Vec<Option<Arc<ServerConfig>>>,
    /// Each listener certificate's expiry, read when this engine was built (what the
    /// handshakes use), for the `weir_tls_certificate_expiry_timestamp_seconds` gauge.
    pub cert_expiry: Vec<CertExpiry>,
    /// TLS handshake failures; shared by the engines a reload makes, like `shortage`.
    pub handshakes: Arc<Handshakes>,
    /// Connections closed for their PROXY header; shared like `handshakes`.
    pub proxy_rejects: Arc<proxy_protocol::Rejects>,
    /// What requests are counted into; its `Metrics` is shared like `shortage`.
    pub stats: EngineStats,
    pub limits: HeadLimits,
    /// Fires when weir shuts down.
    pub stop: Signal,
    /// Fires when a reload replaces this engine (stops its health checks).
    pub retire: Trigger,
    pub retired: Signal,
}

impl Engine {
    /// Validates `config` and builds its chain, routes and groups. `extra` are the
    /// middleware an embedding program added in code. Groups whose definition is the
    /// same as in `previous` are taken over with their pools and health state.
    pub fn build(
        config: Config,
        extra: &[Arc<dyn Middleware>],
        stop: Signal,
        previous: Option<&Engine>,
    ) -> Result<Engine, ConfigError> {
        config.validate()?;
        privileges::check_plugins(&config)?;
        let mut groups: Vec<Arc<Group>> = Vec::new();
        // Kept groups' TLS files are read again, and applied once the build succeeds.
        let mut renew = Vec::new();
        for g in config.upstream_groups().iter() {
            let same = previous.and_then(|p| p.groups.iter().find(|old| old.config == *g));
            let tls = client_tls(&config, g)?;
            let group = match (same, tls) {
                (Some(old), Some(tls)) => {
                    renew.push((old.clone(), tls));
                    old.clone()
                }
                (Some(old), None) => old.clone(),
                (None, tls) => {
                    let group = Arc::new(Group::new(g.clone(), tls));
                    crate::discovery::start(&group);
                    group
                }
            };
            groups.push(group);
        }
        let tls = server_tls(&config)?;
        let cert_expiry = cert_expiry(&config);
        let chains = build::chains(&config, extra)?;
        let routes = routes(&config, &groups, chains.routes)?;
        let chain = chains.global;
        let stats = EngineStats::new(
            previous.map_or_else(Default::default, |p| p.stats.metrics.clone()),
            config.admin.is_some(),
            routes
                .list
                .iter()
                .map(|r| (&r.name[..], groups[r.group].name())),
        );
        let (retire, retired) = shutdown::pair();
        for (group, tls) in renew {
            group.renew_tls(tls);
        }
        Ok(Engine {
            limits: HeadLimits {
                max_bytes: config.limits.max_header_bytes,
                max_headers: config.limits.max_headers,
            },
            config,
            chain,
            routes,
            groups,
            shortage: previous.map_or_else(Default::default, |p| p.shortage.clone()),
            tls,
            cert_expiry,
            handshakes: previous.map_or_else(Default::default, |p| p.handshakes.clone()),
            proxy_rejects: previous.map_or_else(Default::default, |p| p.proxy_rejects.clone()),
            stats,
            stop,
            retire,
            retired,
        })
    }
}

impl Engine {
    /// The index in this engine's `listen` of the listener `id`: the entry it was bound
    /// as if that is still it (one comparison, the usual case), else the first entry with
    /// its address and kind (a reload reordered `listen`). `None` if no longer listed.
    #[inline]
    pub fn listener(&self, id: ListenerId) -> Option<usize> {
        let index = id.index as usize;
        match self.config.listen.get(index) {
            Some(l) if id.is(l) => Some(index),
            _ => self.config.listen.iter().position(|l| id.is(l)),
        }
    }

    /// The TLS config for the listener `id`; `None` if it is plain or no longer listed.
    pub fn tls_for(&self, id: ListenerId) -> Option<Arc<ServerConfig>> {
        self.tls[self.listener(id)?].clone()
    }
}

/// When one listener certificate expires.
pub(crate) struct CertExpiry {
    pub listener: SocketAddr,
    /// The certificate file, as the config names it.
    pub cert: String,
    /// Seconds since the Unix epoch.
    pub not_after: i64,
}

/// The expiry of every listener certificate (those that could be loaded at all: the
/// TLS config was built from the same files a moment before).
fn cert_expiry(config: &Config) -> Vec<CertExpiry> {
    let certs = config.listen.iter().flat_map(|l| {
        let certs = l.tls.iter().flat_map(|t| t.certs.iter());
        certs.map(move |c| (l.addr, c.cert.clone()))
    });
    certs
        .filter_map(|(listener, path)| {
            let info = tls::cert::read(&path).ok()?;
            Some(CertExpiry {
                listener,
                cert: path.display().to_string(),
                not_after: info.not_after,
            })
        })
        .collect()
}

/// A group's TLS client config, read from its files.
fn client_tls(
    config: &Config,
    g: &crate::config::GroupConfig,
) -> Result<Option<Arc<futures_rustls::rustls::ClientConfig>>, ConfigError> {
    let Some(t) = &g.tls else { return Ok(None) };
    let at = match config.groups.is_empty() {
        true => "upstream.tls".to_string(),
        false => format!("upstreams.{}.tls", g.name),
    };
    if !t.verify {
        eprintln!("weir: WARNING: {at}: verify = false: the servers of group {:?} are not authenticated; anyone on the path can impersonate them", g.name);
    }
    let c = tls::client_config(t).map_err(|(key, why)| {
        let key = if key.is_empty() {
            at.clone()
        } else {
            format!("{at}.{key}")
        };
        ConfigError::new(&config.source, key, why)
    })?;
    if g.protocol == crate::config::UpstreamProtocol::H2 {
        // HTTP/2 over TLS is agreed by ALPN (RFC 9113 §3.2): offer `h2` alone; a server
        // that does not pick it is refused after the handshake (`peer::dial`).
        let mut h2 = Arc::unwrap_or_clone(c);
        h2.alpn_protocols = vec![b"h2".to_vec()];
        return Ok(Some(Arc::new(h2)));
    }
    Ok(Some(c))
}

/// Reads the certificates and keys of every TLS listener.
fn server_tls(config: &Config) -> Result<Vec<Option<Arc<ServerConfig>>>, ConfigError> {
    let many = config.listen.len() > 1;
    let mut out = Vec::new();
    for (i, l) in config.listen.iter().enumerate() {
        let Some(t) = &l.tls else {
            out.push(None);
            continue;
        };
        let server = tls::server_config(t, l.h2).map_err(|(key, why)| {
            let at = if many {
                format!("listen[{i}]")
            } else {
                "listen".into()
            };
            ConfigError::new(&config.source, format!("{at}.tls.{key}"), why)
        })?;
        out.push(Some(server));
    }
    Ok(out)
}

/// Builds the route table (checked already by `Config::validate`).
fn routes(
    config: &Config,
    groups: &[Arc<Group>],
    chains: Vec<Chain>,
) -> Result<Routes, ConfigError> {
    let (table, _warnings) = config.route_table()?;
    let list = config
        .route_list()
        .iter()
        .zip(chains)
        .enumerate()
        .map(|(i, (r, chain))| {
            let group = match &r.upstream {
                Some(name) => groups.iter().position(|g| g.name() == name),
                None => Some(0),
            };
            let name = match config.routes.is_empty() {
                true => crate::config::DEFAULT_GROUP.to_string(),
                false => r.display_name(i),
            };
            Route {
                name,
                group: group.expect("validated: routes name known groups"),
                redirect_https: r.redirect.as_deref() == Some("https"),
                strip_prefix: r.strip_prefix.as_deref().map(|p| p.as_bytes().into()),
                chain,
            }
        })
        .collect();
    Ok(Routes {
        table,
        list,
        implicit: config.routes.is_empty(),
    })
}

/// Whether `prefix` is removed from `path`; the rest, or `/` when nothing is left.
pub(crate) fn strip<'p>(path: &'p [u8], prefix: &[u8]) -> Option<&'p [u8]> {
    route::strip_prefix(path, prefix).map(|rest| if rest.is_empty() { &b"/"[..] } else { rest })
}
