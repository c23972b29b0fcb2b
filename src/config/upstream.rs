//! The `[upstream]` section: servers, balancer, hash key, passive and active health.

use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};
use toml::Spanned;

use super::duration;
use super::server::ServerSpec;

/// The balancing algorithm for `[upstream] balancer`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum BalancerKind {
    #[default]
    RoundRobin,
    LeastConn,
    P2c,
    Random,
    Hash,
}

impl BalancerKind {
    pub const ALL: [BalancerKind; 5] = [
        BalancerKind::RoundRobin,
        BalancerKind::LeastConn,
        BalancerKind::P2c,
        BalancerKind::Random,
        BalancerKind::Hash,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BalancerKind::RoundRobin => "round-robin",
            BalancerKind::LeastConn => "least-conn",
            BalancerKind::P2c => "p2c",
            BalancerKind::Random => "random",
            BalancerKind::Hash => "hash",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The protocol a group speaks to its servers: `protocol = "http1" | "h2" | "h2c"`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamProtocol {
    /// HTTP/1.1, one request at a time per connection, a keep-alive pool.
    #[default]
    Http1,
    /// HTTP/2 over TLS (the group's `tls`), agreed by ALPN `h2`; streams multiplexed.
    H2,
    /// HTTP/2 over plain TCP with prior knowledge (RFC 9113 §3.3).
    H2c,
}

impl UpstreamProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamProtocol::Http1 => "http1",
            UpstreamProtocol::H2 => "h2",
            UpstreamProtocol::H2c => "h2c",
        }
    }

    /// HTTP/2 (`h2` or `h2c`): the multiplexed pool.
    pub fn is_h2(self) -> bool {
        !matches!(self, UpstreamProtocol::Http1)
    }
}

/// Where `balancer = "hash"` takes its key from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HashKey {
    ClientIp,
    Path,
    Header(String),
    Cookie(String),
}

impl std::fmt::Display for HashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HashKey::ClientIp => f.write_str("client-ip"),
            HashKey::Path => f.write_str("path"),
            HashKey::Header(n) => write!(f, "header:{n}"),
            HashKey::Cookie(n) => write!(f, "cookie:{n}"),
        }
    }
}

/// Shown as written: `"header:X-User"`.
impl Serialize for HashKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl HashKey {
    pub fn parse(s: &str) -> Result<Self, String> {
        let named = |prefix: &str| {
            s.strip_prefix(prefix)
                .filter(|n| !n.is_empty())
                .map(str::to_string)
        };
        match s {
            "client-ip" => Ok(HashKey::ClientIp),
            "path" => Ok(HashKey::Path),
            _ => named("header:")
                .map(HashKey::Header)
                .or_else(|| named("cookie:").map(HashKey::Cookie))
                .ok_or_else(|| {
                    format!("invalid hash key {s:?}: expected client-ip, path, header:NAME or cookie:NAME")
                }),
        }
    }
}

/// `[upstream.health]`: active checks, off unless the table is present.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Health {
    /// The path requested with GET.
    pub path: String,
    /// Time between checks of one server.
    #[serde(with = "duration")]
    pub interval: Duration,
    /// A check not answered within this is a failure.
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// Consecutive failures that take a server out of rotation.
    pub fails: u32,
    /// Consecutive successes that bring it back.
    pub passes: u32,
    /// Statuses that count as healthy, e.g. "200-399" or "200".
    pub expect_status: String,
    /// For h2 and h2c groups: check with the gRPC health protocol
    /// (`grpc.health.v1.Health/Check`) for this service ("" for the server as a
    /// whole) instead of a GET of `path`; only SERVING is healthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc_service: Option<String>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            path: "/".into(),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            fails: 3,
            passes: 2,
            expect_status: "200-399".into(),
            grpc_service: None,
        }
    }
}

impl Health {
    /// What a check asks, for logs and the status page: the path, or the gRPC health
    /// call and its service.
    pub fn checks(&self) -> String {
        match &self.grpc_service {
            Some(s) => format!("grpc.health.v1.Health/Check {s:?}"),
            None => self.path.clone(),
        }
    }

    /// The accepted status range, from `expect_status`.
    pub fn statuses(&self) -> Result<std::ops::RangeInclusive<u16>, String> {
        let bad = || {
            format!(
                "invalid status range {:?}: expected like \"200\" or \"200-399\"",
                self.expect_status
            )
        };
        let (lo, hi) = self
            .expect_status
            .split_once('-')
            .unwrap_or((&self.expect_status, &self.expect_status));
        let lo: u16 = lo.trim().parse().map_err(|_| bad())?;
        let hi: u16 = hi.trim().parse().map_err(|_| bad())?;
        if !(100..=599).contains(&lo) || !(lo..=599).contains(&hi) {
            return Err(bad());
        }
        Ok(lo..=hi)
    }
}

/// The `[upstream]` table as written; `Config` is built from it after validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UpstreamFile {
    #[serde(default)]
    pub(super) servers: Vec<Spanned<ServerSpec>>,
    #[serde(default)]
    pub(super) balancer: BalancerKind,
    #[serde(default = "default_keepalive")]
    pub(super) keepalive: usize,
    #[serde(default = "default_keepalive_timeout", with = "duration")]
    pub(super) keepalive_timeout: Duration,
    pub(super) hash_key: Option<Spanned<String>>,
    #[serde(default = "default_max_fails")]
    pub(super) max_fails: u32,
    #[serde(default = "default_fail_timeout", with = "duration")]
    pub(super) fail_timeout: Duration,
    #[serde(default)]
    pub(super) fail_on_5xx: bool,
    pub(super) retries: Option<usize>,
    #[serde(default)]
    pub(super) debug_headers: bool,
    pub(super) health: Option<Health>,
    pub(super) tls: Option<super::upstream_tls::TlsFile>,
    pub(super) protocol: Option<Spanned<UpstreamProtocol>>,
    pub(super) max_streams_per_connection: Option<Spanned<u32>>,
    /// PING each h2 connection this often (off when absent): see `upstream::h2conn`.
    pub(super) h2_ping_interval: Option<Spanned<String>>,
    /// A PING not answered within this closes its connection.
    pub(super) h2_ping_timeout: Option<Spanned<String>>,
    pub(super) send_proxy_protocol: Option<Spanned<String>>,
    /// Re-resolve the names in `servers` this often, or `"ttl"` (see `resolve`).
    pub(super) resolve: Option<Spanned<String>>,
    /// With `resolve = "ttl"`: the shortest wait between lookups of a name.
    pub(super) resolve_min: Option<Spanned<String>>,
    /// With `resolve = "ttl"`: the longest wait between lookups of a name.
    pub(super) resolve_max: Option<Spanned<String>>,
}

/// Streams weir opens on one h2 upstream connection at most, below the server's own
/// `SETTINGS_MAX_CONCURRENT_STREAMS` (100 is what RFC 9113 §6.5.2 recommends a server
/// allow at least, and what nginx and HAProxy default to).
pub(super) fn default_max_streams_per_connection() -> u32 {
    100
}

/// How long a PING may go unanswered: gRPC's `keepalive_timeout` default (20 s).
pub fn default_h2_ping_timeout() -> Duration {
    Duration::from_secs(20)
}

pub(super) fn default_max_fails() -> u32 {
    1
}

pub(super) fn default_fail_timeout() -> Duration {
    Duration::from_secs(10)
}

pub(super) fn default_keepalive() -> usize {
    32
}

pub(super) fn default_keepalive_timeout() -> Duration {
    Duration::from_secs(60)
}
