//! The plain settings tables: `[timeouts]`, `[limits]`, `[forwarded]`, and one
//! `[[middleware]]` entry.

use std::path::PathBuf;
use std::time::Duration;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::duration;
use crate::route::{AmbiguousSegments, EscapedSlashes, PathRules};

/// `[timeouts]`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Timeouts {
    /// The whole request head must arrive within this (slowloris guard), else 408.
    #[serde(with = "duration")]
    pub header: Duration,
    /// A keep-alive client connection idle longer than this is closed silently.
    #[serde(with = "duration")]
    pub idle: Duration,
    /// Connecting to an upstream, else 504.
    #[serde(with = "duration")]
    pub connect: Duration,
    /// Longest wait for upstream response bytes (head or body), else 504.
    #[serde(with = "duration")]
    pub upstream_read: Duration,
    /// Longest wait for client progress mid-message: body bytes in, response bytes out.
    #[serde(with = "duration")]
    pub client_body: Duration,
    /// On SIGTERM/SIGINT, how long in-flight requests get to finish.
    #[serde(with = "duration")]
    pub drain: Duration,
    /// A WebSocket tunnel with no bytes either way for this long is closed.
    #[serde(with = "duration")]
    pub tunnel: Duration,
    /// Longest a plugin library may take to load in the check process (see
    /// `plugin::vet`) before it is refused as hanging.
    #[serde(with = "duration")]
    pub plugin_check: Duration,
    /// On SIGUSR2, how long the new process may take to load its config and listen;
    /// past it, it is stopped and this one keeps serving (see `crate::upgrade`).
    #[serde(with = "duration")]
    pub upgrade: Duration,
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
            upgrade: Duration::from_secs(30),
        }
    }
}

/// The default `limits.listen_backlog`: Linux's default `somaxconn` since 5.4, room for
/// a burst of thousands (nginx asks 511, HAProxy its `maxconn`).
pub const DEFAULT_BACKLOG: u32 = 4096;

/// The largest `limits.listen_backlog` accepted (the kernel caps it lower anyway).
pub const MAX_BACKLOG: u32 = 65_535;

/// The default `limits.retry_buffer_bytes`: Envoy's default request buffer limit
/// (`per_connection_buffer_limit_bytes`, 1 MiB) is for a whole connection; 64 KiB
/// holds every unary gRPC call and form post of usual size, per request in flight.
pub const DEFAULT_RETRY_BUFFER: usize = 64 * 1024;

/// `[limits]`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest request head; larger is 431 (414 when the request line alone is too long).
    pub max_header_bytes: usize,
    /// Most header fields in a request, at most 256; more is 431.
    pub max_headers: usize,
    /// Largest request body; 0 means unlimited; larger is 413.
    pub max_body_bytes: u64,
    /// Most request body bytes kept while they go upstream, so a request the upstream
    /// did not process (an h2 `REFUSED_STREAM` or GOAWAY, a keep-alive close racing an
    /// idempotent request) can be sent again (`http::replay`); 0 keeps none.
    pub retry_buffer_bytes: usize,
    /// Most client connections open at once; past it weir stops accepting (the rest
    /// wait in the listen backlog) and asks the longest-idle keep-alive one to close.
    pub max_connections: usize,
    /// Most HTTP/2 streams open at once across all connections; past it a new stream
    /// is refused with `REFUSED_STREAM` (safe for the client to retry). Unset: as many
    /// as `max_connections` (see `downstream::h2::streams`).
    pub max_streams: Option<usize>,
    /// What `%2F` and `%5C` in a request path are: `"decode"` (a separator, the
    /// default), `"reject"` (400) or `"keep"` (data, forwarded encoded).
    #[serde(deserialize_with = "escaped_slashes", serialize_with = "show_escaped")]
    pub escaped_slashes: EscapedSlashes,
    /// `"reject"` (the default: 400) or `"keep"` a `;`, or a segment ending in `.` or a
    /// space, that some origins read as another path.
    #[serde(
        deserialize_with = "ambiguous_segments",
        serialize_with = "show_ambiguous"
    )]
    pub ambiguous_segments: AmbiguousSegments,
    /// Connections each listener's kernel queue holds before weir accepts them (the
    /// `listen(2)` backlog), capped by the host (`net.core.somaxconn` on Linux).
    pub listen_backlog: u32,
}

impl Limits {
    /// `max_streams` in force: as set, or as many as the client seats.
    pub fn max_streams_or(&self, seats: usize) -> usize {
        self.max_streams.unwrap_or(seats)
    }

    /// The rules every request path is normalised by.
    pub fn path_rules(&self) -> PathRules {
        PathRules {
            escaped_slashes: self.escaped_slashes,
            ambiguous_segments: self.ambiguous_segments,
        }
    }
}

fn show_escaped<S: Serializer>(v: &EscapedSlashes, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.as_str())
}

fn show_ambiguous<S: Serializer>(v: &AmbiguousSegments, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.as_str())
}

fn escaped_slashes<'de, D: Deserializer<'de>>(d: D) -> Result<EscapedSlashes, D::Error> {
    let s = String::deserialize(d)?;
    EscapedSlashes::parse(&s).ok_or_else(|| {
        D::Error::custom(format!(
            "{s:?} is not \"decode\" (%2F is a '/', the default), \"reject\" (400) or \"keep\" (data)"
        ))
    })
}

fn ambiguous_segments<'de, D: Deserializer<'de>>(d: D) -> Result<AmbiguousSegments, D::Error> {
    let s = String::deserialize(d)?;
    AmbiguousSegments::parse(&s).ok_or_else(|| {
        D::Error::custom(format!(
            "{s:?} is not \"reject\" (400, the default) or \"keep\""
        ))
    })
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: 16 * 1024,
            max_headers: 100,
            max_body_bytes: 0,
            retry_buffer_bytes: DEFAULT_RETRY_BUFFER,
            max_connections: 10_000,
            max_streams: None,
            escaped_slashes: EscapedSlashes::default(),
            ambiguous_segments: AmbiguousSegments::default(),
            listen_backlog: DEFAULT_BACKLOG,
        }
    }
}

/// `[forwarded]`: which `X-Forwarded-*` headers weir adds to requests.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Forwarded {
    /// Append the client address to `X-Forwarded-For`.
    #[serde(rename = "for")]
    pub for_: bool,
    /// Set `X-Forwarded-Proto: http`.
    pub proto: bool,
    /// Set `X-Forwarded-Host` to the client's `Host`.
    pub host: bool,
    /// Keep the client's well-formed `X-Request-Id` or make one; forward it, return it
    /// and log it.
    pub request_id: bool,
}

impl Default for Forwarded {
    fn default() -> Self {
        Forwarded {
            for_: true,
            proto: true,
            host: true,
            request_id: true,
        }
    }
}

/// One `[[middleware]]` entry, checked further when the chain is built.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MiddlewareSpec {
    /// A built-in: `log`, `headers` or `balancer`.
    pub builtin: Option<String>,
    /// A plugin library path.
    pub plugin: Option<PathBuf>,
    /// Instance name for logs; defaults to the built-in's or the plugin's own name.
    pub name: Option<String>,
    /// The entry's own settings; shown with secret-looking keys redacted.
    #[serde(default, serialize_with = "super::show::redacted")]
    pub config: toml::Table,
    /// `false`: not part of the global chain; routes that list its `name` in their
    /// `middleware` run it, after the global chain. Absent means `true` (and is shown so).
    #[serde(serialize_with = "show_global")]
    pub global: Option<bool>,
}

impl MiddlewareSpec {
    /// Whether the entry runs for every request (the global chain).
    pub fn is_global(&self) -> bool {
        self.global != Some(false)
    }
}

fn show_global<S: Serializer>(global: &Option<bool>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bool(*global != Some(false))
}
