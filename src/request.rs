//! Request checks and rewrites done before the chain sees a request:
//! target form and characters, Host, Expect, and the `X-Forwarded-*` headers.
//!
//! Which characters a target may carry. httparse takes any visible byte, but RFC 3986
//! allows fewer, and a fragment (`#…`) is never part of a request target (RFC 9112
//! §3.2). weir refuses with 400:
//!
//! - `#`, as HAProxy does: an origin or cache that cuts the target at `#` sees another
//!   resource than one that does not, and a plugin routing on the path sees a third.
//! - `"`, `<` and `>`: every browser percent-encodes them in the path and the query
//!   alike (the WHATWG URL standard's query percent-encode set), so no real client sends
//!   them raw, and they are what reflected-markup attacks need. HAProxy refuses them too.
//!
//! The other characters RFC 3986 leaves out (`{`, `}`, `|`, `^`, `` ` ``, `\`) are
//! forwarded unchanged, as nginx does (but a `\` in the path, which some origins take
//! for a separator, is refused when the path is normalised: see `exchange::path`): browsers send them raw in the query (and `|`,
//! `^` in the path), so refusing them, HAProxy's default, breaks real traffic; it is
//! why HAProxy users turn on `accept-invalid-http-request`. Non-ASCII UTF-8 is
//! forwarded for the same reason (curl sends it raw); bytes that are not UTF-8 are
//! refused by the parser.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};

use crate::config::Forwarded;
use crate::error::{Error, Kind};
use crate::http::framing::Body;
use crate::http::{ows, RequestHead};

/// What the client asked about the exchange itself.
#[derive(Clone, Copy, Debug, Default)]
pub struct Asks {
    /// `Expect: 100-continue`: the client waits for a go-ahead before sending the body.
    pub continue_100: bool,
}

fn bad(why: &'static str) -> Error {
    Error::new(Kind::BadRequest, why)
}

/// Brings the target to origin-form (RFC 9112 §3.2): absolute-form is rewritten with
/// `Host` taken from its authority (§3.2.2); `*` is only for OPTIONS.
fn normalise_target(req: &mut RequestHead) -> Result<(), Error> {
    check_target_chars(&req.target)?;
    if req.target.starts_with('/') || (req.target == "*" && req.method == "OPTIONS") {
        return Ok(());
    }
    let lower = req.target.get(..7).map(str::to_ascii_lowercase);
    if lower.as_deref() != Some("http://") {
        return Err(bad("request target is not in origin or absolute form"));
    }
    let rest = &req.target[7..];
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() || authority.contains('@') {
        return Err(bad("bad authority in absolute-form target"));
    }
    let path = match path.chars().next() {
        Some('/') => path.to_string(),
        _ => format!("/{path}"),
    };
    req.headers
        .set("Host", authority)
        .map_err(|_| bad("bad authority in absolute-form target"))?;
    req.target = path;
    Ok(())
}

/// Refuses the characters the module docs say why: a fragment, and `"`, `<`, `>`.
fn check_target_chars(target: &str) -> Result<(), Error> {
    match target.bytes().find(|&c| TARGET_REFUSED[usize::from(c)]) {
        Some(b'#') => Err(bad("fragment (#) in the request target")),
        Some(_) => Err(bad("\", < or > in the request target")),
        None => Ok(()),
    }
}

/// A table of `bytes`: looked up once per byte of every request's target and Host
/// (searching the list for each byte cost ~400 instructions a request).
const fn table(bytes: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < bytes.len() {
        t[bytes[i] as usize] = true;
        i += 1;
    }
    t
}

/// The target bytes [`check_target_chars`] refuses.
const TARGET_REFUSED: [bool; 256] = table(b"#\"<>");

/// The bytes a Host value may hold: visible ASCII but these.
const HOST_OK: [bool; 256] = {
    let refused = table(b"/\\@,\"<>{}|^`");
    let mut ok = [false; 256];
    let mut c = 0;
    while c < 256 {
        ok[c] = (c as u8).is_ascii_graphic() && !refused[c];
        c += 1;
    }
    ok
};

/// RFC 9112 §3.2: an HTTP/1.1 request carries exactly one valid Host.
fn check_host(req: &RequestHead) -> Result<(), Error> {
    let mut hosts = req.headers.get_all("host");
    match (hosts.next(), hosts.next()) {
        (None, _) if req.protocol.is_http10() => Ok(()),
        (None, _) => Err(bad("missing Host header")),
        (Some(_), Some(_)) => Err(bad("more than one Host header")),
        (Some(h), None) => {
            let ok = !h.is_empty() && h.iter().all(|&c| HOST_OK[usize::from(c)]);
            if ok {
                Ok(())
            } else {
                Err(bad("invalid Host header"))
            }
        }
    }
}

/// Checks a freshly parsed request (before hop-by-hop headers are stripped).
pub fn check(req: &mut RequestHead) -> Result<Asks, Error> {
    normalise_target(req)?;
    check_host(req)?;
    // One pass over the fields for both (three passes were ~500 instructions a request):
    // weir answers the expectation itself, so `Expect` goes and the origin gets the
    // body without waiting. Like nginx (`underscores_in_headers off`): CGI-style origins
    // read `X_Forwarded_For` and `X-Forwarded-For` as the same variable, so an
    // underscore name could spoof a header weir sets. Such fields are dropped, not
    // refused.
    let mut asks = Asks::default();
    let mut unsupported = false;
    req.headers.retain(|name, value| {
        if name.eq_ignore_ascii_case(b"expect") {
            match ows::trim(value).eq_ignore_ascii_case(b"100-continue") {
                true => asks.continue_100 = true,
                false => unsupported = true,
            }
            return false;
        }
        !name.contains(&b'_')
    });
    if unsupported {
        return Err(Error::new(
            Kind::ExpectationFailed,
            "unsupported expectation",
        ));
    }
    Ok(asks)
}

/// A WebSocket opening handshake weir will tunnel (RFC 6455 §4.1): GET on HTTP/1.1 with
/// no body, `Connection: upgrade`, `Upgrade: websocket` and a `Sec-WebSocket-Key`. Any
/// other upgrade (`h2c`, ...) is stripped with the hop-by-hop headers and the request
/// goes on as plain HTTP/1.1.
pub fn wants_websocket(req: &RequestHead, body: Body) -> bool {
    req.method == "GET"
        && req.protocol.is_http11()
        && body == Body::Empty
        && req.headers.has_token("connection", "upgrade")
        && req.headers.has_token("upgrade", "websocket")
        && req.headers.contains("sec-websocket-key")
}

/// Adds `X-Forwarded-For` (appended to any list already there), `-Proto` (`https` when
/// the client came over TLS) and `-Host`. `scratch` is a reusable buffer, so this
/// allocates nothing once warm.
pub fn add_forwarded(
    req: &mut RequestHead,
    client: SocketAddr,
    https: bool,
    opts: Forwarded,
    scratch: &mut Vec<u8>,
) {
    if opts.for_ {
        scratch.clear();
        for v in req.headers.get_all("x-forwarded-for") {
            scratch.extend_from_slice(v);
            scratch.extend_from_slice(b", ");
        }
        if !scratch.is_empty() {
            req.headers.remove("x-forwarded-for");
        }
        push_ip(scratch, client.ip());
        // Unchecked: the name is a token, the value the values the parser let in (no
        // CR, LF or NUL) and an address's digits (`set`'s checks, a removal pass over
        // the fields and the check of each byte, were ~100 instructions a request).
        req.headers.push_parsed("X-Forwarded-For", &scratch[..]);
    }
    if opts.proto {
        let proto = if https { "https" } else { "http" };
        let _ = req.headers.set("X-Forwarded-Proto", proto);
    }
    if opts.host {
        scratch.clear();
        if let Some(h) = req.headers.get("host") {
            scratch.extend_from_slice(h);
            let _ = req.headers.set("X-Forwarded-Host", &scratch[..]);
        }
    }
}

/// Writes `ip` as `Display` does. An IPv4 address is written digit by digit: through
/// `fmt` it was ~1,000 instructions, every request that adds `X-Forwarded-For`.
fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    let IpAddr::V4(v4) = ip else {
        let _ = write!(out, "{ip}");
        return;
    };
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        if octet >= 100 {
            out.push(b'0' + octet / 100);
        }
        if octet >= 10 {
            out.push(b'0' + octet / 10 % 10);
        }
        out.push(b'0' + octet % 10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(target: &str, headers: &[(&str, &str)]) -> RequestHead {
        let mut r = RequestHead {
            method: "GET".into(),
            target: target.into(),
            protocol: crate::http::Protocol::Http11,
            ..Default::default()
        };
        for (n, v) in headers {
            r.headers.add(n, v).unwrap();
        }
        r
    }

    #[test]
    fn absolute_form_becomes_origin_form() {
        let mut r = req("http://example.com:81?q", &[("Host", "other")]);
        check(&mut r).unwrap();
        assert_eq!(r.target, "/?q");
        assert_eq!(r.headers.get_str("host"), Some("example.com:81"));
    }

    #[test]
    fn host_rules() {
        assert!(check(&mut req("/", &[])).is_err());
        assert!(check(&mut req("/", &[("Host", "a"), ("Host", "b")])).is_err());
        assert!(check(&mut req("/", &[("Host", "a b")])).is_err());
        assert!(check(&mut req("*", &[("Host", "a")])).is_err());
        assert!(check(&mut req("/", &[("Host", "[::1]:80")])).is_ok());
    }

    #[test]
    fn expectations() {
        let mut r = req("/", &[("Host", "a"), ("Expect", "100-Continue")]);
        assert!(check(&mut r).unwrap().continue_100);
        assert!(!r.headers.contains("expect"));
        let err = check(&mut req("/", &[("Host", "a"), ("Expect", "x")])).unwrap_err();
        assert_eq!(err.status(), 417);
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        let mut out = Vec::new();
        let v4 = [0, 1, 9, 10, 99, 100, 199, 200, 255].map(|o| [o, 255 - o, o / 2, 7]);
        let v6 = ["::1", "2001:db8::8a2e:370:7334", "::ffff:10.0.0.1"];
        let ips = v4.into_iter().map(IpAddr::from);
        for ip in ips.chain(v6.iter().map(|a| a.parse().unwrap())) {
            out.clear();
            push_ip(&mut out, ip);
            assert_eq!(out, ip.to_string().as_bytes());
        }
    }

    #[test]
    fn underscore_names_and_expect_leave_in_one_pass() {
        let mut r = req(
            "/",
            &[
                ("Host", "a"),
                ("X_Forwarded_For", "1"),
                ("Expect", "100-continue"),
            ],
        );
        assert!(check(&mut r).unwrap().continue_100);
        assert_eq!(r.headers.len(), 1);
        let mut r = req(
            "/",
            &[("Host", "a"), ("Expect", "100-continue"), ("Expect", "x")],
        );
        assert_eq!(check(&mut r).unwrap_err().status(), 417);
    }

    #[test]
    fn target_and_host_bytes_by_table() {
        for c in [b'#', b'"', b'<', b'>'] {
            let target = format!("/a{}", c as char);
            assert!(check(&mut req(&target, &[("Host", "a")])).is_err());
        }
        for c in 0..=255u8 {
            let want = c.is_ascii_graphic() && !b"/\\@,\"<>{}|^`".contains(&c);
            assert_eq!(HOST_OK[usize::from(c)], want, "byte {c:#04x}");
        }
    }
}
