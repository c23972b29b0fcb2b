//! The route table: which route a request takes, by host, path, method, headers, and
//! where the request came in (the listener, and so plain HTTP or TLS).
//!
//! ```
//! use weir::http::Headers;
//! use weir::route::{normalize, PathRule, Request, RouteSpec, Table};
//!
//! let routes = [
//!     RouteSpec {
//!         hosts: vec!["api.example.com".into()],
//!         path: PathRule::Prefix("/v2/".into()),
//!         ..Default::default()
//!     },
//!     RouteSpec::default(), // no conditions: the catch-all
//! ];
//! let (table, warnings) = Table::build(&routes).unwrap(); // Err names routes[i].key
//! assert!(warnings.is_empty());
//!
//! let mut path = Vec::new(); // kept per connection: no allocation once warm
//! normalize(b"/v2/../v2/users?id=7", &mut path).unwrap(); // Err means 400
//! let headers = Headers::new();
//! let req = Request {
//!     host: Some(b"API.example.com:8443"),
//!     path: &path,
//!     method: "GET",
//!     headers: &headers,
//!     arrival: Default::default(), // plain HTTP, no named listener
//! };
//! assert_eq!(table.find(&req), Some(0)); // None means 404
//! ```
//!
//! # Priority, exactly
//!
//! 1. **Host first, and only once.** The request's host (the `Host` header, or the
//!    absolute-form target's authority) is lowercased, its port and one trailing dot
//!    dropped (`Api.Example.com.:8080` is `api.example.com`; `[::1]:8080` is `[::1]`).
//!    It selects exactly one *site*, the set of routes that list the first of these to
//!    match: the exact host; else the longest `*.` wildcard; else `*` (routes that list
//!    `*` or no hosts at all, which is also where requests without a host go).
//! 2. **No fallback between sites.** If the chosen site has no route for the request's
//!    path, method, headers, scheme and listener, the answer is `None` (404): a request
//!    for `api.example.com` never falls through to the catch-all's routes. This is nginx's
//!    rule (`server_name` picks the server block, then `location`s inside it) and
//!    Envoy's (the virtual host, then its routes); it keeps a site's routes from being
//!    reached under another site's rules by a path the site forgot.
//! 3. **Within the site, the exact path** (`path_exact`), then **the longest prefix**
//!    (`path`), then `PathRule::Any`, which is the shortest prefix of all.
//! 4. **At the same path, file order**: the first route whose methods, headers, scheme
//!    and listeners the request satisfies. If none does, the next shorter path is tried,
//!    within the site: a `POST`-only `/login` does not hide the site's `/` from a
//!    `GET /login`, nor a `scheme = "http"` route the catch-all from an https request.
//!
//! A `*.example.com` wildcard matches any depth of subdomain (`a.example.com`,
//! `a.b.example.com`) but not `example.com` itself: nginx's rule, and what people mean by
//! "every site under example.com"; list `example.com` too to have both. A longer suffix is
//! more specific: `*.api.example.com` beats `*.example.com`.
//!
//! # Paths
//!
//! Matching is on the path as [`normalize()`] writes it (its docs give the rules and the
//! attacks they defeat). A prefix matches on segment boundaries:
//!
//! - a prefix not ending in `/` matches itself and itself followed by `/`: `/api` matches
//!   `/api`, `/api/` and `/api/x`, never `/apix`;
//! - a prefix ending in `/` matches the paths beginning with it: `/api/` matches `/api/`
//!   and `/api/x` but not `/api` (nginx's `location /api/` does the same, less its
//!   redirect);
//! - under [`normalize`] (the lenient rules) an encoded slash is data, not a boundary:
//!   `/api%2Fx` matches neither; weir itself normalises requests with
//!   [`normalize_with`] and the config's [`PathRules`], by default decoding it to `/`.
//!
//! Route paths in the config must already be in normal form (`/api/%7Ex` is refused with
//! "write /api/~x"), so what the operator wrote is exactly what is compared.
//!
//! # Methods and headers
//!
//! Methods are compared exactly: they are case-sensitive (RFC 9110 §9.1), so `get` never
//! equals `GET`; a lowercase spelling of a standard method draws a [`Warning`]. A header
//! condition holds when any field line of that name (case-insensitive) has exactly that
//! value; all of a route's header conditions must hold.
//!
//! # Scheme and listeners
//!
//! `scheme` (`Http` or `Https`) holds when the request came in over plain TCP or TLS;
//! `listeners` holds when it came in on one of the named listeners. Both are read from
//! the [`Arrival`], which the caller fills from the connection: no header a client sends
//! (`X-Forwarded-Proto`, an `https://` absolute-form target) can pass for TLS. They are
//! conditions on a candidate, exactly like methods and headers, not a level of the
//! table: a site or path key is never chosen by them, and a request that fails them goes
//! on to the next candidate.
//!
//! # Why this structure
//!
//! Matching must not cost more with 10,000 routes than with 10 (nginx's does not). So
//! [`Table`] is hashes all the way down: a probe for the exact host, one per label for
//! wildcard suffixes (longest first), then within the site a probe for the exact path and
//! one per segment-boundary prefix of the request path, longest first, skipping lengths no
//! key has. A segment trie would do the same in more code; rules tried in order (HAProxy's
//! `use_backend` lines, Traefik's routers) cost more as the table grows. Methods,
//! headers, scheme and listeners are checked only for the routes that share the
//! request's host and path key; a route without them costs one empty-check each.
//!
//! # What to forward
//!
//! Routing judged the normalised path; forwarding it (with the original query) means the
//! upstream sees exactly what was routed, whatever it makes of `..` or `%2e`. weir does
//! (see `exchange::path`); [`strip_prefix`] cuts a route's prefix on the same segment
//! boundary.

mod host;
mod keys;
mod matcher;
mod normalize;
mod path_rules;
mod table;

use std::fmt;

use crate::http::{Headers, RequestHead};

pub(crate) use host::host_part;
pub use host::{normalize_host, MAX_HOST};
pub use normalize::{
    has_encoded_slash, normalize, normalize_with, AmbiguousSegments, EscapedSlashes,
    NormalizeError, PathRules,
};
pub use table::{Describe, Table};

/// One route's match conditions, as the config gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteSpec {
    /// Shown by [`Table::describe`].
    pub name: Option<String>,
    /// `api.example.com`, `*.example.com` or `*`; empty means `*`.
    pub hosts: Vec<String>,
    pub path: PathRule,
    /// Empty means any method.
    pub methods: Vec<String>,
    /// Name (case-insensitive) and exact value; all must hold.
    pub headers: Vec<(String, String)>,
    /// Only requests that came in over this scheme; `None` means either.
    pub scheme: Option<Scheme>,
    /// Only requests that came in on one of these listeners, by name (see
    /// [`Table::build_for`]); empty means any listener.
    pub listeners: Vec<String>,
}

/// How a request reached weir: plain HTTP or HTTP over TLS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    #[default]
    Http,
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`, as the config spells it.
    pub fn parse(s: &str) -> Option<Scheme> {
        match s {
            "http" => Some(Scheme::Http),
            "https" => Some(Scheme::Https),
            _ => None,
        }
    }

    /// `Https` over TLS, else `Http`.
    #[inline]
    pub fn of_tls(tls: bool) -> Scheme {
        match tls {
            true => Scheme::Https,
            false => Scheme::Http,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// Where a request came in, as the connection knows it: two words, copied per request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Arrival {
    pub scheme: Scheme,
    /// The listener's index in the list given to [`Table::build_for`]; `None` when it is
    /// not (or no longer, after a reload) in that list, and then no `listeners` condition
    /// holds. Callers may leave it `None` when [`Table::by_listener`] is false.
    pub listener: Option<usize>,
}

/// A route's path condition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PathRule {
    /// Any path, and the asterisk-form `*`.
    #[default]
    Any,
    /// `path = "/api/"`: on segment boundaries, see the module docs.
    Prefix(String),
    /// `path_exact = "/health"`.
    Exact(String),
}

/// What routing reads of a request.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// The `Host` value (or absolute-form authority), `host[:port]` as received: port,
    /// case and a trailing dot are allowed.
    pub host: Option<&'a [u8]>,
    /// The path as [`normalize`] wrote it.
    pub path: &'a [u8],
    pub method: &'a str,
    pub headers: &'a Headers,
    /// The listener and scheme it came in on.
    pub arrival: Arrival,
}

impl<'a> Request<'a> {
    /// What routing reads of a checked head: the target is origin-form by then, with an
    /// absolute-form authority moved into `Host`, so `Host` is the host. `path` is the
    /// head's target after [`normalize`].
    pub fn from_head(head: &'a RequestHead, path: &'a [u8], arrival: Arrival) -> Self {
        Request {
            host: head.headers.get("host"),
            path,
            method: &head.method,
            headers: &head.headers,
            arrival,
        }
    }
}

/// A route that cannot be built; `Display` names the key: `routes[2].hosts[1]: ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteError {
    /// The route's index in file order.
    pub index: usize,
    /// The key within the route (`hosts[1]`, `path`, `headers.x-canary`), or empty when
    /// the route as a whole is at fault.
    pub key: String,
    pub reason: String,
}

impl RouteError {
    /// The config key at fault: `routes[2].hosts[1]`, or `routes[2]` for the whole route.
    pub fn config_key(&self) -> String {
        match self.key.is_empty() {
            true => format!("routes[{}]", self.index),
            false => format!("routes[{}].{}", self.index, self.key),
        }
    }
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.config_key(), self.reason)
    }
}

impl std::error::Error for RouteError {}

/// Something legal but almost surely a mistake: `routes[3] can never match: ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub index: usize,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "routes[{}] {}", self.index, self.message)
    }
}

/// The rest of a normalised `path` after `prefix` (on a segment boundary, as routes
/// match), for a route's `strip_prefix`: `/v2/users` less `/v2` or `/v2/` is `/users`.
/// The rest is empty when the path was the prefix itself: forward `/` then.
pub fn strip_prefix<'p>(path: &'p [u8], prefix: &[u8]) -> Option<&'p [u8]> {
    let prefix = prefix.strip_suffix(b"/").unwrap_or(prefix);
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest[0] == b'/').then_some(rest)
}

#[cfg(test)]
mod tests;
