//! Upstream groups: `[upstream]` (the one group, named `default`) or `[upstreams.NAME]`.
//!
//! Every key of `[upstream]` works per group: servers, balancer, keep-alive pool,
//! passive and active health, retries and `debug_headers`. A group is the unit a route
//! sends requests to, and retries stay within it.

use std::time::Duration;

use serde::Serialize;

use super::upstream::{self, BalancerKind, HashKey, Health, UpstreamFile, UpstreamProtocol};
use super::{line_of, show, ConfigError, SendVersion, UpstreamTls};
use crate::upstream::state::Passive;
use crate::upstream::Upstream;

/// The name `[upstream]` goes by when routes or logs need one.
pub const DEFAULT_GROUP: &str = "default";

/// One validated upstream group; shown (`Serialize`) as the table the file writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupConfig {
    /// `default` for `[upstream]`, else the `NAME` of `[upstreams.NAME]` (the table's key
    /// when shown).
    #[serde(skip)]
    pub name: String,
    #[serde(serialize_with = "show::servers")]
    pub servers: Vec<Upstream>,
    pub balancer: BalancerKind,
    /// Idle keep-alive connections kept per server.
    pub keepalive: usize,
    /// How long an idle upstream connection is kept.
    #[serde(with = "super::duration")]
    pub keepalive_timeout: Duration,
    /// For `balancer = "hash"`: what to hash.
    pub hash_key: Option<HashKey>,
    /// Passive health: failures that take a server out, and for how long (the
    /// group's keys `max_fails`, `fail_timeout` and `fail_on_5xx`).
    #[serde(flatten, serialize_with = "show::passive")]
    pub passive: Passive,
    /// How many other servers of the group a failed request may be retried on; `None`
    /// means "all the others" (servers - 1).
    pub retries: Option<usize>,
    /// Add `X-Weir-Upstream` and `X-Weir-Reason` to responses.
    pub debug_headers: bool,
    /// Active health checks, when configured.
    pub health: Option<Health>,
    /// TLS to the group's servers; `None` for plain HTTP.
    pub tls: Option<UpstreamTls>,
    /// HTTP/1.1 (the default), `h2` over TLS or `h2c` over plain TCP.
    pub protocol: UpstreamProtocol,
    /// For h2 and h2c: streams per connection at most (the server's own limit may be
    /// lower); more connections open when every one is full.
    pub max_streams_per_connection: u32,
    /// For h2 and h2c: PING every connection this often (`None`: never, the default,
    /// as Envoy's `connection_keepalive` and gRPC's client keepalive).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "show_resolve"
    )]
    pub h2_ping_interval: Option<Duration>,
    /// A PING unanswered this long closes its connection (shown when not the default).
    #[serde(
        with = "super::duration",
        skip_serializing_if = "is_default_ping_timeout"
    )]
    pub h2_ping_timeout: Duration,
    /// Write a PROXY header with the client's address on each new connection (such a
    /// group keeps no idle connections: see `upstream::proxy_header`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_proxy_protocol: Option<SendVersion>,
    /// `servers` entries that are host names, re-resolved as `resolve` says (only with
    /// `resolve`; without it a name is resolved once, into `servers`).
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "show_names")]
    pub names: Vec<NameEntry>,
    /// When `names` are looked up again (`resolve`, `resolve_min`, `resolve_max`).
    #[serde(flatten, serialize_with = "super::resolve::show")]
    pub resolve: Option<super::Resolve>,
    /// `[resolver]` (nameservers, search domains), copied here so that a reload
    /// changing it rebuilds the groups that look names up.
    #[serde(skip)]
    pub resolver: super::Resolver,
}

/// The names as `servers` writes them (shown apart: `servers` has their addresses
/// only once a lookup found them, and those change).
fn show_names<S: serde::Serializer>(names: &[NameEntry], s: S) -> Result<S::Ok, S::Error> {
    let written = names
        .iter()
        .map(|n| format!("{} weight {}", n.written(), n.weight));
    s.collect_seq(written)
}

fn is_default_ping_timeout(d: &Duration) -> bool {
    *d == upstream::default_h2_ping_timeout()
}

fn show_resolve<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    super::duration::serialize(&d.unwrap_or_default(), s)
}

/// Addresses one name may fill at most: its slots in the group (HAProxy's
/// `server-template` reserves a fixed number the same way). Further addresses in an
/// answer are left out, and said so in the lookup's result.
pub const SLOTS_PER_NAME: usize = 16;

/// A `servers` entry written as a name, in a group with `resolve`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameEntry {
    /// The name looked up (A and AAAA), without the port; or the SRV name.
    pub host: String,
    /// The servers' port (0 for an SRV name: each record gives its own).
    pub port: u16,
    /// Given to each address the name has (an SRV record's own weight wins).
    pub weight: u32,
    /// `_service._proto.name`, written without a port: an SRV lookup (RFC 2782).
    pub srv: bool,
    /// Written with a trailing dot: looked up as written, never with a search domain.
    pub absolute: bool,
}

impl NameEntry {
    /// The name as written: `host:port` or the SRV name, with its trailing dot if
    /// absolute.
    pub fn written(&self) -> String {
        let dot = if self.absolute { "." } else { "" };
        match self.srv {
            true => format!("{}{dot}", self.host),
            false => format!("{}{dot}:{}", self.host, self.port),
        }
    }
}

/// What a group without any of the keys gets: the defaults of `[upstream]`, no servers.
impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            name: DEFAULT_GROUP.to_string(),
            servers: Vec::new(),
            balancer: BalancerKind::default(),
            keepalive: upstream::default_keepalive(),
            keepalive_timeout: upstream::default_keepalive_timeout(),
            hash_key: None,
            passive: Passive {
                max_fails: upstream::default_max_fails(),
                fail_timeout: upstream::default_fail_timeout(),
                fail_on_5xx: false,
            },
            retries: None,
            debug_headers: false,
            health: None,
            tls: None,
            protocol: UpstreamProtocol::Http1,
            max_streams_per_connection: upstream::default_max_streams_per_connection(),
            h2_ping_interval: None,
            h2_ping_timeout: upstream::default_h2_ping_timeout(),
            send_proxy_protocol: None,
            names: Vec::new(),
            resolve: None,
            resolver: super::Resolver::default(),
        }
    }
}

impl GroupConfig {
    /// The retries a failed request gets in this group.
    pub fn retries(&self) -> usize {
        self.retries.unwrap_or(self.servers.len().saturating_sub(1))
    }

    /// Servers, then each name's [`SLOTS_PER_NAME`] slots: the indices balancers see.
    pub fn slots(&self) -> usize {
        self.servers.len() + self.names.len() * SLOTS_PER_NAME
    }

    /// Each slot's weight, in slot order (a name's weight on all its slots).
    pub fn slot_weights(&self) -> Vec<u32> {
        let fixed = self.servers.iter().map(|u| u.weight);
        let named = self.names.iter().flat_map(|n| [n.weight; SLOTS_PER_NAME]);
        fixed.chain(named).collect()
    }
}

impl UpstreamFile {
    /// Validates one upstream table; `key` is where it stands in the file
    /// (`upstream` or `upstreams.NAME`), for messages.
    pub(super) fn into_group(
        self,
        name: &str,
        file: &str,
        text: &str,
        key: &str,
    ) -> Result<GroupConfig, ConfigError> {
        // Errors name the key and the line of the value at fault.
        let at = |key: &str, why: String, span: std::ops::Range<usize>| {
            ConfigError::new(file, key, format!("{why}{}", line_of(text, Some(span))))
        };
        let written = super::resolve::Written {
            resolve: self.resolve.as_ref(),
            min: self.resolve_min.as_ref(),
            max: self.resolve_max.as_ref(),
        };
        let resolve = written.parse(file, text, key)?;
        let (mut servers, mut names) = (Vec::new(), Vec::new());
        for (i, s) in self.servers.iter().enumerate() {
            let key = format!("{key}.servers[{i}]");
            let (span, s) = (s.span(), s.get_ref());
            if s.weight == 0 {
                return Err(at(&key, "weight must be at least 1".into(), span));
            }
            let weight = s.weight;
            match (resolve, host_name(&s.addr)) {
                (Some(_), Some(name)) => {
                    names.push(NameEntry { weight, ..name });
                    continue;
                }
                (None, Some(name)) if name.srv => {
                    let why = "is an SRV name, looked up only in a group with `resolve`";
                    return Err(at(&key, why.into(), span));
                }
                _ => {}
            }
            let addrs = resolve_all(&s.addr).map_err(|why| at(&key, why, span))?;
            servers.extend(addrs.into_iter().map(|addr| Upstream { addr, weight }));
        }
        if resolve.is_some() && names.is_empty() {
            let key = format!("{key}.resolve");
            let why = "is set, but no entry of `servers` is a host name to look up";
            return Err(ConfigError::new(file, key, why));
        }
        let hash_key = self
            .hash_key
            .map(|k| {
                let key = format!("{key}.hash_key");
                HashKey::parse(k.get_ref()).map_err(|why| at(&key, why, k.span()))
            })
            .transpose()?;
        let proxy_at = self.send_proxy_protocol.as_ref().map(|v| v.span());
        let send_proxy_protocol = self
            .send_proxy_protocol
            .map(|v| {
                let key = format!("{key}.send_proxy_protocol");
                SendVersion::parse(v.get_ref()).map_err(|why| at(&key, why, v.span()))
            })
            .transpose()?;
        if let Some(h) = &self.health {
            h.statuses().map_err(|why| {
                ConfigError::new(file, format!("{key}.health.expect_status"), why)
            })?;
            check_health_path(&h.path)
                .map_err(|why| ConfigError::new(file, format!("{key}.health.path"), why))?;
        }
        let ping_keys = (self.h2_ping_interval, self.h2_ping_timeout);
        let tls = self.tls.and_then(|t| t.0);
        let protocol = self
            .protocol
            .as_ref()
            .map_or_else(Default::default, |p| *p.get_ref());
        let protocol_at = self.protocol.as_ref().map(|p| p.span());
        let why = match (protocol, &tls) {
            (UpstreamProtocol::H2, None) => Some("\"h2\" is HTTP/2 over TLS and needs the group's `tls`; use \"h2c\" for HTTP/2 over plain TCP"),
            (UpstreamProtocol::H2c, Some(_)) => Some("\"h2c\" is HTTP/2 over plain TCP, but the group has `tls`; use \"h2\""),
            _ => None,
        };
        if let Some(why) = why {
            let key = format!("{key}.protocol");
            let line = line_of(text, protocol_at);
            return Err(ConfigError::new(file, key, format!("{why}{line}")));
        }
        let grpc = self.health.as_ref().and_then(|h| h.grpc_service.as_ref());
        if grpc.is_some() && !protocol.is_h2() {
            // gRPC runs over HTTP/2 only.
            let why = "the gRPC health protocol needs protocol = \"h2\" or \"h2c\" (gRPC runs over HTTP/2); use `path` for an HTTP/1.1 group";
            return Err(ConfigError::new(
                file,
                format!("{key}.health.grpc_service"),
                why,
            ));
        }
        if protocol.is_h2() && send_proxy_protocol.is_some() {
            // One h2 connection carries many clients' requests; a header names one.
            let why = "a PROXY header names one client, but an HTTP/2 connection carries many clients' requests; use it with protocol = \"http1\"";
            let key = format!("{key}.send_proxy_protocol");
            let line = line_of(text, proxy_at);
            return Err(ConfigError::new(file, key, format!("{why}{line}")));
        }
        let max_streams = match &self.max_streams_per_connection {
            None => upstream::default_max_streams_per_connection(),
            Some(n) if *n.get_ref() == 0 => {
                let key = format!("{key}.max_streams_per_connection");
                return Err(at(&key, "must be at least 1".into(), n.span()));
            }
            Some(n) => *n.get_ref(),
        };
        let (h2_ping_interval, h2_ping_timeout) = h2_ping(ping_keys, protocol, file, text, key)?;
        Ok(GroupConfig {
            name: name.to_string(),
            servers,
            balancer: self.balancer,
            keepalive: self.keepalive,
            keepalive_timeout: self.keepalive_timeout,
            hash_key,
            passive: Passive {
                max_fails: self.max_fails,
                fail_timeout: self.fail_timeout,
                fail_on_5xx: self.fail_on_5xx,
            },
            retries: self.retries,
            debug_headers: self.debug_headers,
            health: self.health,
            tls,
            protocol,
            max_streams_per_connection: max_streams,
            h2_ping_interval,
            h2_ping_timeout,
            send_proxy_protocol,
            names,
            resolve,
            resolver: super::Resolver::default(),
        })
    }
}

/// `h2_ping_interval` and `h2_ping_timeout` as written: durations above zero, on an
/// h2 or h2c group only (an HTTP/1.1 connection has no PING).
fn h2_ping(
    (interval, timeout): (Option<toml::Spanned<String>>, Option<toml::Spanned<String>>),
    protocol: UpstreamProtocol,
    file: &str,
    text: &str,
    key: &str,
) -> Result<(Option<Duration>, Duration), ConfigError> {
    let read = |name: &str, v: &Option<toml::Spanned<String>>| {
        let Some(v) = v else { return Ok(None) };
        let key = format!("{key}.{name}");
        let line = line_of(text, Some(v.span()));
        let why = match super::duration::parse(v.get_ref()) {
            _ if !protocol.is_h2() => {
                "is for protocol = \"h2\" or \"h2c\" groups (HTTP/1.1 has no PING)".into()
            }
            Ok(d) if !d.is_zero() => return Ok(Some(d)),
            Ok(_) => "must be more than 0s (leave the key out for no PINGs)".into(),
            Err(why) => why,
        };
        Err(ConfigError::new(file, key, format!("{why}{line}")))
    };
    let interval = read("h2_ping_interval", &interval)?;
    let timeout = read("h2_ping_timeout", &timeout)?;
    Ok((
        interval,
        timeout.unwrap_or_else(upstream::default_h2_ping_timeout),
    ))
}

/// A `host:port` entry whose host is a name, not an IP address, or an SRV name
/// (`_service._proto.name`, no port): `None` for an address (or a malformed entry,
/// which `resolve_all` then explains).
fn host_name(addr: &str) -> Option<NameEntry> {
    if addr.parse::<std::net::SocketAddr>().is_ok() {
        return None;
    }
    if addr.starts_with('_') && !addr.contains(':') {
        let host = addr.trim_end_matches('.').to_ascii_lowercase();
        let (port, weight, srv, absolute) = (0, 1, true, addr.ends_with('.'));
        return Some(NameEntry {
            host,
            port,
            weight,
            srv,
            absolute,
        });
    }
    let (host, port) = addr.rsplit_once(':')?;
    let port = port.parse::<u16>().ok()?;
    let absolute = host.ends_with('.');
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() || host.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    let (weight, srv) = (1, false);
    Some(NameEntry {
        host,
        port,
        weight,
        srv,
        absolute,
    })
}

/// Every address of `host:port` (a name resolves to all of them, each a server of the
/// entry's weight, in the resolver's order), resolved once, now.
fn resolve_all(addr: &str) -> Result<Vec<std::net::SocketAddr>, String> {
    use std::net::ToSocketAddrs;
    if let Ok(a) = addr.parse() {
        return Ok(vec![a]);
    }
    let mut out: Vec<std::net::SocketAddr> = match addr.to_socket_addrs() {
        Ok(it) => it.collect(),
        Err(e) => {
            return Err(format!(
                "invalid address {addr:?}: {e} (expected host:port)"
            ))
        }
    };
    let mut seen = std::collections::HashSet::new();
    out.retain(|a| seen.insert(*a));
    if out.is_empty() {
        return Err(format!("{addr:?} resolves to no address"));
    }
    Ok(out)
}

/// The probe's path goes into its request line as written, so it must be a target weir
/// would forward itself: origin-form, no whitespace or control bytes (a CR or LF would
/// end the line and inject headers or a second request), and none of the characters
/// weir refuses in a client's target (`#`, `"`, `<`, `>`; see `request`).
pub(super) fn check_health_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("{path:?} must start with /"));
    }
    let bad = path
        .chars()
        .find(|&c| c.is_whitespace() || c.is_control() || "#\"<>".contains(c));
    match bad {
        None => Ok(()),
        Some(c) => Err(format!(
            "{path:?}: {c:?} cannot be in a request target (percent-encode it)"
        )),
    }
}

/// A group name must read well in logs, metrics labels and `routes[i].upstream`.
pub(super) fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid group name {name:?}: use letters, digits, '-', '_' and '.'"
        ))
    }
}
