//! weir's heads to and from an h2 upstream: a [`RequestHead`] as the `http::Request`
//! the `h2` crate sends, and its `http::Response` back as a [`ResponseHead`].
//!
//! - `Host` becomes `:authority`, the group's TLS decides `:scheme`, the target is
//!   `:path` (RFC 9113 §8.3.1);
//! - connection-specific fields (`Connection`, `Keep-Alive`, `Proxy-Connection`,
//!   `Transfer-Encoding`, `Upgrade`, and `TE` other than `trailers`) are not sent
//!   (§8.2.2); `Content-Length` is sent only from the framing weir decided, so the
//!   origin cannot read the body differently; `TE: trailers` is always sent (weir
//!   reads trailers; gRPC servers require it), as nginx's `grpc_pass` does;
//! - a response without `content-length` is marked `Transfer-Encoding: chunked`: its
//!   length is unknown but its end is clean (END_STREAM), which is what chunked says
//!   to the rest of weir. The client then gets it chunked (HTTP/1.1) or as plain DATA
//!   (HTTP/2), and its connection stays open, as for a chunked HTTP/1.1 answer. A
//!   head that ended the stream (gRPC's trailers-only answer) reads as
//!   `Content-Length: 0`, so an h2 client gets it as one HEADERS frame too.

use http::header::{HeaderName, HeaderValue};
use http::response::Parts;

use crate::http::framing::Body;
use crate::http::h2values::Values;
use crate::http::head::reason;
use crate::http::{Protocol, RequestHead, ResponseHead};

/// Never sent on HTTP/2 (RFC 9113 §8.2.2), nor the fields weir sets itself (framing,
/// and `te`, always `trailers`). Matched case-insensitively as they stand in the head:
/// a lowercased copy of every name was an allocation per field per call.
const NOT_SENT: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "te",
];

/// Whether a field named `name` is one of [`NOT_SENT`]. (A `match` on the length
/// choosing the one name to compare was counted: +240 instructions a gRPC call.)
fn not_sent(name: &[u8]) -> bool {
    NOT_SENT
        .iter()
        .any(|n| n.as_bytes().eq_ignore_ascii_case(name))
}

/// Why a head could not become an h2 request.
pub(super) type Invalid = &'static str;

/// The h2 request for `req`, its body framed as `framing`, over TLS when `tls`.
pub(super) fn request(
    req: &RequestHead,
    framing: Body,
    tls: bool,
) -> Result<http::Request<()>, Invalid> {
    let authority = req
        .headers
        .get("host")
        .ok_or("no Host to send as :authority")?;
    let length = match framing {
        Body::Length(n) => Some(n),
        _ => None,
    };
    let target = req.target.as_bytes();
    let mut values = Values::of_request(authority, target, &req.headers, length);
    let mut out = http::Request::new(());
    *out.uri_mut() = uri(&mut values, authority.len(), target.len(), tls)?;
    *out.method_mut() =
        http::Method::from_bytes(req.method.as_bytes()).map_err(|_| "bad method")?;
    // Sized once: grown field by field, the map reallocated and rehashed on the way.
    let headers = out.headers_mut();
    headers.reserve(req.headers.len() + 2);
    for (name, value) in req.headers.fields() {
        if not_sent(name) {
            values.skip(value.len());
            continue;
        }
        let name = name_of(name).map_err(|_| "bad field name")?;
        let value = values.next(value.len()).map_err(|_| "bad field value")?;
        headers.append(name, value);
    }
    if length.is_some() {
        let value = values.length().map_err(|_| "bad content-length")?;
        headers.append(http::header::CONTENT_LENGTH, value);
    }
    // weir reads trailers from an h2 upstream and passes them on to h2 clients; gRPC
    // servers refuse a call without this (weir's client side drops `TE` as hop-by-hop).
    headers.append(http::header::TE, TRAILERS.clone());
    Ok(out)
}

/// The request's URI: `:authority` and `:path` are the first `authority` and `target`
/// bytes of `values` (slices of the thread's block, checked by `http` as the builder
/// checks them), the group's TLS the scheme.
fn uri(
    values: &mut Values,
    authority: usize,
    target: usize,
    tls: bool,
) -> Result<http::Uri, Invalid> {
    const UNFIT: Invalid = "Host or target cannot form an h2 request";
    let bad = |_| UNFIT;
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(match tls {
        true => http::uri::Scheme::HTTPS,
        false => http::uri::Scheme::HTTP,
    });
    parts.authority =
        Some(http::uri::Authority::from_maybe_shared(values.bytes(authority)).map_err(bad)?);
    parts.path_and_query =
        Some(http::uri::PathAndQuery::from_maybe_shared(values.bytes(target)).map_err(bad)?);
    http::Uri::from_parts(parts).map_err(|_| UNFIT)
}

/// `TE: trailers`, checked when weir is compiled (`from_static` is a `const fn`; called
/// at run time it checked the bytes on every call), and cloned (no byte copied).
static TRAILERS: HeaderValue = HeaderValue::from_static("trailers");

/// The fields weir adds itself, which the `http` crate does not know by name.
const WEIRS_OWN: [&str; 4] = [
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-request-id",
];

/// [`WEIRS_OWN`] as `http` names, built when weir is compiled and cloned, as
/// [`TRAILERS`]. (Matched as these names, not as the `&str`s, the scan cost more
/// than the build it saved: +130 instructions a gRPC call.)
static OWN_NAMES: [HeaderName; 4] = [
    HeaderName::from_static(WEIRS_OWN[0]),
    HeaderName::from_static(WEIRS_OWN[1]),
    HeaderName::from_static(WEIRS_OWN[2]),
    HeaderName::from_static(WEIRS_OWN[3]),
];

/// `name` as an `http` name. `from_bytes` lowercases as it checks (HTTP/1.1 clients
/// send any case), but copies a name it does not know into an allocation of its own:
/// one per call for `X-Forwarded-For` alone. weir's own fields get static names.
fn name_of(name: &[u8]) -> Result<HeaderName, http::header::InvalidHeaderName> {
    match WEIRS_OWN
        .iter()
        .position(|own| own.as_bytes().eq_ignore_ascii_case(name))
    {
        Some(i) => Ok(OWN_NAMES[i].clone()),
        None => HeaderName::from_bytes(name),
    }
}

/// Maps an h2 response head onto `res` (cleared first); `ended` when its HEADERS
/// frame ended the stream. The map itself goes along in `res.h2_fields`, for an h2
/// client while the head still says the same (`http::h2fields`).
pub(super) fn response(parts: &mut Parts, ended: bool, res: &mut ResponseHead) {
    res.clear();
    res.status = parts.status.as_u16();
    res.reason.push_str(reason(res.status));
    res.protocol = Protocol::Http2;
    for (name, value) in &parts.headers {
        // Unchecked, as `downstream::h2` takes a client's fields: h2's HPACK decoder
        // built each name with `HeaderName::from_lowercase` (lowercase tchar only) and
        // each value with `HeaderValue::from_bytes` (no control byte but HTAB, so no
        // CR, LF or NUL): stricter than `Headers::add`, whose checks ran again on
        // every field of every answer.
        res.headers.push_parsed(name.as_str(), value.as_bytes());
    }
    let fields = std::mem::take(&mut parts.headers);
    let has_length = fields.contains_key(http::header::CONTENT_LENGTH);
    res.h2_fields.keep(fields);
    if has_length {
        return;
    }
    // A head that ended the stream (gRPC's trailers-only answer) must reach an h2
    // client as one HEADERS frame with END_STREAM, not HEADERS and an empty DATA.
    let framing = if ended {
        ("content-length", "0")
    } else {
        ("transfer-encoding", "chunked")
    };
    let _ = res.headers.add(framing.0, framing.1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_lose_connection_fields_and_carry_weirs_framing() {
        let mut req = RequestHead {
            method: "POST".into(),
            target: "/a?b=1".into(),
            ..Default::default()
        };
        for (n, v) in [
            ("Host", "example.com"),
            ("Connection", "keep-alive"),
            ("Transfer-Encoding", "chunked"),
            ("Content-Length", "99"),
            ("TE", "gzip"),
            ("X-A", "b"),
            ("X-Forwarded-For", "192.0.2.1"),
        ] {
            req.headers.add(n, v).unwrap();
        }
        let out = request(&req, Body::Length(3), true).unwrap();
        assert_eq!(out.uri().to_string(), "https://example.com/a?b=1");
        assert_eq!(out.method(), "POST");
        let names: Vec<_> = out.headers().keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["x-a", "x-forwarded-for", "content-length", "te"]);
        assert_eq!(out.headers()["x-forwarded-for"], "192.0.2.1");
        assert_eq!(out.headers()["te"], "trailers");
        assert_eq!(out.headers()["content-length"], "3");
        assert_eq!(out.uri().authority().unwrap(), "example.com");
        assert_eq!(out.uri().path_and_query().unwrap(), "/a?b=1");
        let chunked = request(&req, Body::Chunked, false).unwrap();
        assert_eq!(chunked.uri().scheme_str(), Some("http"));
        assert!(!chunked.headers().contains_key("content-length"));
    }

    #[test]
    fn fields_not_sent_and_weirs_own_names_are_matched_in_any_case() {
        for name in [
            "connection",
            "Keep-Alive",
            "proxy-connection",
            "Transfer-Encoding",
            "upgrade",
            "HOST",
            "content-length",
            "te",
        ] {
            assert!(not_sent(name.as_bytes()), "{name}");
        }
        for name in [
            "tf",
            "hose",
            "x-upgrade",
            "connectiox",
            "keep-alivf",
            "x-a",
            "",
        ] {
            assert!(!not_sent(name.as_bytes()), "{name}");
        }
        for own in [
            "X-Request-Id",
            "x-forwarded-for",
            "X-Forwarded-Host",
            "x-forwarded-proto",
        ] {
            assert_eq!(
                name_of(own.as_bytes()).unwrap(),
                own.to_ascii_lowercase().as_str()
            );
        }
        assert_eq!(name_of(b"X-Request-Ix").unwrap(), "x-request-ix");
        assert!(name_of(b"bad name").is_err());
    }

    #[test]
    fn a_request_whose_host_or_target_cannot_form_a_uri_is_refused() {
        let mut req = RequestHead {
            method: "GET".into(),
            target: "/a b".into(),
            ..Default::default()
        };
        req.headers.add("Host", "example.com").unwrap();
        assert!(request(&req, Body::Empty, false).is_err());
        req.target = "/ok".into();
        req.headers.set("Host", "exa mple.com").unwrap();
        assert!(request(&req, Body::Empty, false).is_err());
        req.headers.set("Host", "example.com:8443").unwrap();
        let out = request(&req, Body::Empty, false).unwrap();
        assert_eq!(out.uri().to_string(), "http://example.com:8443/ok");
    }

    #[test]
    fn a_response_without_length_reads_as_chunked() {
        let parts = || {
            http::Response::builder()
                .status(201)
                .header("x-y", "z")
                .body(())
                .unwrap()
                .into_parts()
                .0
        };
        let mut res = ResponseHead::default();
        response(&mut parts(), false, &mut res);
        assert_eq!(res.status, 201);
        assert_eq!(res.protocol, Protocol::Http2);
        assert_eq!(res.headers.get("x-y"), Some(&b"z"[..]));
        assert_eq!(res.headers.get("transfer-encoding"), Some(&b"chunked"[..]));
        response(&mut parts(), true, &mut res);
        assert_eq!(res.headers.get("content-length"), Some(&b"0"[..]));
        assert!(!res.headers.contains("transfer-encoding"));
    }

    #[test]
    fn the_answers_own_map_goes_along() {
        let mut res = ResponseHead::default();
        let (mut parts, ()) = http::Response::builder()
            .header("x-y", "z")
            .body(())
            .unwrap()
            .into_parts();
        response(&mut parts, false, &mut res);
        let kept = res.h2_fields.take().expect("the map is kept");
        assert_eq!(kept["x-y"], "z");
        assert!(res.h2_fields.take().is_none(), "taken once");
    }
}
