//! Who may ask the admin listener what, checked before any request is answered.
//!
//! A browser is the danger: any page the operator opens can send requests to
//! `127.0.0.1:9901`. Its same-origin policy keeps the page from *reading* the answers,
//! but not from *sending* a "simple" request (a form post, `fetch` in `no-cors` mode),
//! and a name whose DNS the attacker controls can be pointed at 127.0.0.1 after the
//! page loaded (DNS rebinding), which makes the admin API same-origin with the page.
//! So, as Prometheus, Consul and Docker came to do for their own APIs:
//!
//! - **`Host`** must be an IP address (the browser then addresses the listener by its
//!   address: no DNS, nothing to rebind), `localhost` or a `*.localhost` name (browsers
//!   resolve those to loopback themselves), or a name in `admin.allowed_hosts`; the port
//!   is not compared (an SSH tunnel or a port forward changes it). Anything else gets
//!   403, the status page included. A request without `Host` (HTTP/1.0) passes:
//!   browsers always send one.
//! - **The token**, when configured, on every request but the status page itself.
//! - **A state change** (any method but GET, HEAD and OPTIONS) must be something a page
//!   of another origin cannot send without the browser asking first (a CORS preflight,
//!   which weir never approves: it sends no `Access-Control-*` header, ever): a valid
//!   bearer token, or the header `X-Weir-Admin`, or `Content-Type: application/json`.
//!   And when it carries `Origin`, that origin must be the listener's own (the
//!   request's `Host`).
//!
//! Every refusal closes the connection (see `mod.rs`), so refused clients cannot hold
//! the listener's few connections, and is logged at most once per
//! [`LOG_EVERY`](super::refusals::LOG_EVERY) with the number left out.

use std::net::IpAddr;

use super::reply::Reply;
use crate::config::Admin as Settings;
use crate::http::RequestHead;

/// The header an API client sends on a state change when no token is configured.
pub const MARKER: &str = "x-weir-admin";

/// Why a request was refused.
pub(crate) enum Refusal {
    /// `Host` names neither an address, `localhost`, nor an allowed host.
    Host(String),
    /// The bearer token is missing or wrong.
    Token { given: bool },
    /// A state change from a page of another origin.
    Origin(String),
    /// A state change a browser could have sent from any page without asking.
    Unmarked,
}

impl Refusal {
    /// The answer the client gets.
    pub fn reply(&self) -> Reply {
        let reply = match self {
            Refusal::Host(host) => Reply::error(
                403,
                &format!(
                    "Host {host:?} is not allowed here: use the listener's address, localhost, \
                     or a name listed in admin.allowed_hosts"
                ),
            ),
            Refusal::Token { .. } => {
                Reply::error(401, "admin token required: Authorization: Bearer TOKEN")
                    .header("WWW-Authenticate", "Bearer")
            }
            Refusal::Origin(origin) => Reply::error(
                403,
                &format!("a request from another origin ({origin:?}) may not change anything"),
            ),
            Refusal::Unmarked => Reply::error(
                403,
                "a request that changes something needs the header `X-Weir-Admin: 1` (or \
                 `Content-Type: application/json`, or the admin token), which a web page \
                 of another site cannot send",
            ),
        };
        reply.closing()
    }

    /// What the log line says.
    pub fn reason(&self) -> String {
        match self {
            Refusal::Host(host) => format!("Host {host:?} not allowed"),
            Refusal::Token { given: false } => "no token".into(),
            Refusal::Token { given: true } => "wrong token".into(),
            Refusal::Origin(origin) => format!("state change from Origin {origin:?}"),
            Refusal::Unmarked => "state change without X-Weir-Admin".into(),
        }
    }
}

/// Checks `req` against the rules above; `Ok` means answer it.
pub(crate) fn check(settings: Option<&Settings>, req: &RequestHead) -> Result<(), Refusal> {
    let allowed: &[String] = settings.map_or(&[], |s| &s.allowed_hosts);
    let token = settings.and_then(|s| s.token.as_deref());
    let host = req.headers.get_str("host");
    if let Some(host) = host.filter(|h| !host_allowed(h, allowed)) {
        return Err(Refusal::Host(shorten(host)));
    }
    let method = req.method.as_str();
    let reads = matches!(method, "GET" | "HEAD" | "OPTIONS");
    if reads && matches!(req.path(), "/" | "/status") {
        return Ok(()); // the page: static, no data; its own requests carry the token
    }
    let bearer = req
        .headers
        .get("authorization")
        .and_then(|v| v.strip_prefix(b"Bearer "));
    if let Some(token) = token {
        if !bearer.is_some_and(|given| same(given, token.as_bytes())) {
            return Err(Refusal::Token {
                given: bearer.is_some(),
            });
        }
    }
    if reads {
        return Ok(());
    }
    if let Some(origin) = req.headers.get("origin") {
        let origin = String::from_utf8_lossy(origin);
        if !same_origin(&origin, host.unwrap_or_default()) {
            return Err(Refusal::Origin(shorten(&origin)));
        }
    }
    let json = req
        .headers
        .get_str("content-type")
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if token.is_none() && !req.headers.contains(MARKER) && !json {
        return Err(Refusal::Unmarked);
    }
    Ok(())
}

/// Whether `host` (a `Host` value, with or without a port) may address the listener.
pub(crate) fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let name = match host.strip_prefix('[') {
        // `[::1]` or `[::1]:9901`: only an IPv6 address is written in brackets.
        Some(rest) => {
            return rest
                .split_once(']')
                .is_some_and(|(ip, _)| ip.parse::<IpAddr>().is_ok())
        }
        None => match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        },
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name.parse::<IpAddr>().is_ok()
        || name == "localhost"
        || name.ends_with(".localhost")
        || allowed.contains(&name)
}

/// Whether `origin` (`scheme://host[:port]`) names the same host and port as `host`.
fn same_origin(origin: &str, host: &str) -> bool {
    origin.split_once("://").is_some_and(|(scheme, rest)| {
        matches!(scheme, "http" | "https") && !host.is_empty() && rest.eq_ignore_ascii_case(host)
    })
}

/// Compares without an early exit, so timing does not tell how much of a guess was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0, |d, (x, y)| d | (x ^ y)) == 0
}

/// A client-chosen value cut to a length fit for a log line or an error.
fn shorten(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::host_allowed;

    #[test]
    fn hosts_that_name_the_listener_and_hosts_that_do_not() {
        let allowed = ["weir.internal".to_string()];
        for ok in [
            "127.0.0.1",
            "127.0.0.1:9901",
            "localhost",
            "LOCALHOST:9901",
            "localhost.",
            "app.localhost:1",
            "[::1]",
            "[::1]:9901",
            "10.1.2.3:9901",
            "weir.internal",
            "Weir.Internal.:9901",
        ] {
            assert!(host_allowed(ok, &allowed), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:9901",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "[evil]",
            "weir.internal.evil.example",
            "",
        ] {
            assert!(!host_allowed(bad, &allowed), "{bad}");
        }
    }
}
