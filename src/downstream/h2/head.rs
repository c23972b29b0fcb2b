//! HTTP/2 heads to and from weir's own: a request's pseudo-headers onto the
//! [`RequestHead`] routes, middleware and plugins see, and a response head back.
//!
//! The `h2` crate has refused what RFC 9113 §8.2 calls malformed before a request gets
//! here (connection-specific fields, `TE` other than `trailers`, uppercase names,
//! repeated, unknown or misplaced pseudo-headers, a content-length the DATA disagrees
//! with): a stream error, nothing forwarded. What is left to weir:
//!
//! - `:authority` becomes `Host` (it wins over a `Host` field, RFC 9113 §8.3.1), so
//!   routing by host works unchanged;
//! - `:path` becomes the target and must be origin-form (or `*` for `OPTIONS`);
//! - `CONNECT` (plain or extended) is refused with 400: weir tunnels only WebSocket,
//!   and only over HTTP/1.1;
//! - `cookie` fields, which h2 clients send one per crumb (§8.2.3), are joined with
//!   `"; "` into one field for HTTP/1.1 upstreams.

use http::header::{HeaderName, CONTENT_LENGTH, COOKIE, HOST};
use http::request::Parts;

use crate::error::{Error, Kind};
use crate::http::h2values::Values;
use crate::http::{Headers, Protocol, RequestHead, ResponseHead};

/// Whether a field named `name` may not go into an h2 response weir writes: a
/// connection-specific field (RFC 9113 §8.2.2), or `content-length` (weir writes its
/// own). Compared as weir's bytes, before an `http` name is built for the field.
fn dropped(name: &[u8]) -> bool {
    const DROPPED: [&[u8]; 7] = [
        b"connection",
        b"content-length",
        b"te",
        b"transfer-encoding",
        b"upgrade",
        b"keep-alive",
        b"proxy-connection",
    ];
    DROPPED.iter().any(|d| d.eq_ignore_ascii_case(name))
}

/// [`dropped`] for a name of an h2 map: `http` keeps its names lowercase, and knows
/// five of the seven as its own, compared without their bytes (as bytes, each name of
/// a gRPC answer cost a case-blind scan of the list).
fn dropped_name(name: &HeaderName) -> bool {
    use http::header::{CONNECTION, TE, TRANSFER_ENCODING, UPGRADE};
    name == CONNECTION
        || name == CONTENT_LENGTH
        || name == TE
        || name == TRANSFER_ENCODING
        || name == UPGRADE
        || name == "keep-alive"
        || name == "proxy-connection"
}

fn bad(why: &'static str) -> Error {
    Error::new(Kind::BadRequest, why)
}

/// Maps an h2 request head onto `head` (cleared first).
pub(super) fn request(parts: &Parts, head: &mut RequestHead) -> Result<(), Error> {
    head.clear();
    head.protocol = Protocol::Http2;
    head.method.push_str(parts.method.as_str());
    if parts.method == http::Method::CONNECT {
        return Err(bad("CONNECT is not supported over HTTP/2"));
    }
    let path = parts.uri.path_and_query().map_or("", |p| p.as_str());
    let origin_form = path.starts_with('/') || (path == "*" && head.method == "OPTIONS");
    if !origin_form {
        return Err(bad(":path is not in origin form"));
    }
    head.target.push_str(path);
    let authority = parts.uri.authority();
    if let Some(a) = authority {
        add(head, "host", a.as_str().as_bytes())?;
    }
    let mut cookies: Vec<u8> = Vec::new();
    for (name, value) in &parts.headers {
        if name == COOKIE {
            if !cookies.is_empty() {
                cookies.extend_from_slice(b"; ");
            }
            cookies.extend_from_slice(value.as_bytes());
        } else if !(name == HOST && authority.is_some()) {
            head.headers.push_parsed(name.as_str(), value.as_bytes());
        }
    }
    if !cookies.is_empty() {
        head.headers.push_parsed("cookie", &cookies);
    }
    Ok(())
}

/// Adds a field weir checks itself. The request's own fields skip [`Headers::add`]'s
/// check (`Headers::push_parsed`): the `h2` crate built them with `http`'s checked
/// constructors, which are stricter than it (its HPACK decoder, `hpack/header.rs`:
/// `HeaderName::from_lowercase`, lowercase `tchar` only, and `HeaderValue::from_bytes`,
/// no control byte but HTAB, so no CR, LF or NUL as RFC 9113 §8.2.1 requires); and
/// `http::HeaderMap` holds no other kind. The cookie crumbs are such values joined
/// with `"; "`.
///
/// [`Headers::add`]: crate::http::Headers::add
fn add(head: &mut RequestHead, name: &str, value: &[u8]) -> Result<(), Error> {
    head.headers
        .add(name, value)
        .map_err(|_| bad("invalid header field value"))
}

/// An h2 response for `res`, its body `length` long if known: no connection-specific
/// fields, and a `content-length` only from the length weir is about to send.
pub(super) fn response(res: &ResponseHead, length: Option<u64>) -> http::Response<()> {
    let mut out = http::Response::new(());
    *out.status_mut() =
        http::StatusCode::from_u16(res.status).unwrap_or(http::StatusCode::BAD_GATEWAY);
    if let Some(fields) = res.h2_fields.take().and_then(|f| as_is(f, res, length)) {
        *out.headers_mut() = fields;
        return out;
    }
    let headers = out.headers_mut();
    headers.reserve(res.headers.len() + 1);
    let mut values = Values::of(&res.headers, length);
    for (name, value) in res.headers.fields() {
        // `from_bytes` lowers the case itself, and knows the standard names without
        // allocating.
        let name = match HeaderName::from_bytes(name) {
            Ok(http_name) if !dropped(name) => http_name,
            _ => {
                values.skip(value.len());
                continue;
            }
        };
        if let Ok(value) = values.next(value.len()) {
            headers.append(name, value);
        }
    }
    if length.is_some() {
        if let Ok(value) = values.length() {
            headers.insert(http::header::CONTENT_LENGTH, value);
        }
    }
    out
}

/// An h2 upstream's own map of `res`'s fields (`http::h2fields`), made ready to send
/// as the client's answer: `None` when the head no longer begins with what the map
/// says (a middleware changed or removed a field), for the caller to build one from
/// the head. Compared field by field in order, past the fields never sent (see
/// [`dropped`]); those the map has go, fields the head has after the map's are added
/// (weir's `X-Request-Id`, a middleware's `add`), and `content-length` is weir's, as
/// when built.
fn as_is(
    mut fields: http::HeaderMap,
    res: &ResponseHead,
    length: Option<u64>,
) -> Option<http::HeaderMap> {
    let mut ours = res.headers.fields().filter(|(name, _)| !dropped(name));
    // Fields of the map not to send; `content-length` (the usual one) is replaced or
    // removed below, the others (never seen from an h2 server) are listed.
    let mut unsent = Vec::new();
    for (name, value) in &fields {
        if dropped_name(name) {
            if name != CONTENT_LENGTH {
                unsent.push(name.clone());
            }
            continue;
        }
        // Compared byte for byte: the head's names were copied from this map
        // (`upstream::peer::h2head`), so an unchanged field has the same bytes; a
        // name a middleware wrote again in another case only costs the map.
        let (our_name, our_value) = ours.next()?;
        if our_name != name.as_str().as_bytes() || our_value != value.as_bytes() {
            return None;
        }
    }
    // Fields weir or a middleware added after the origin's (`X-Request-Id`, ...).
    for (name, value) in ours {
        let name = HeaderName::from_bytes(name).ok();
        let value = http::HeaderValue::from_bytes(value).ok();
        if let (Some(name), Some(value)) = (name, value) {
            fields.append(name, value);
        }
    }
    for name in unsent {
        fields.remove(name);
    }
    match length {
        Some(n) => {
            let value = Values::of(&Headers::new(), Some(n)).length().ok()?;
            fields.insert(CONTENT_LENGTH, value);
        }
        None => drop(fields.remove(CONTENT_LENGTH)),
    }
    Some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(req: http::Request<()>) -> Parts {
        req.into_parts().0
    }

    #[test]
    fn pseudo_headers_map_onto_the_head_and_cookies_are_joined() {
        let req = http::Request::builder()
            .method("POST")
            .uri("https://example.com/a?b=1")
            .header("cookie", "a=1")
            .header("x-y", "z")
            .header("cookie", "b=2")
            .body(())
            .unwrap();
        let mut head = RequestHead::default();
        request(&parts(req), &mut head).unwrap();
        assert_eq!(head.method, "POST");
        assert_eq!(head.target, "/a?b=1");
        assert_eq!(head.protocol, Protocol::Http2);
        assert_eq!(head.headers.get("host"), Some(&b"example.com"[..]));
        assert_eq!(head.headers.get("cookie"), Some(&b"a=1; b=2"[..]));
        assert_eq!(head.headers.get_all("cookie").count(), 1);
    }

    #[test]
    fn connect_and_non_origin_form_paths_are_refused() {
        let connect = http::Request::builder()
            .method("CONNECT")
            .uri("example.com:443")
            .body(())
            .unwrap();
        let mut head = RequestHead::default();
        assert!(request(&parts(connect), &mut head).is_err());
        let star = http::Request::builder()
            .method("GET")
            .uri("*")
            .body(())
            .unwrap();
        assert!(request(&parts(star), &mut head).is_err());
    }

    /// A head filled from an h2 upstream's answer, with its map kept as
    /// `upstream::peer::h2head` keeps it.
    fn from_upstream(fields: &[(&'static str, &str)]) -> ResponseHead {
        let mut map = http::HeaderMap::new();
        let mut res = ResponseHead {
            status: 200,
            ..Default::default()
        };
        for (n, v) in fields {
            map.append(HeaderName::from_static(n), v.parse().unwrap());
            res.headers.push_parsed(n, v.as_bytes());
        }
        res.h2_fields.keep(map);
        res
    }

    #[test]
    fn an_unchanged_upstream_answer_goes_out_as_its_own_map() {
        let res = from_upstream(&[("server", "o"), ("content-length", "99"), ("x-a", "b")]);
        let out = response(&res, Some(3));
        let names: Vec<_> = out.headers().keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["server", "content-length", "x-a"]);
        assert_eq!(out.headers()["content-length"], "3");
        assert!(res.h2_fields.take().is_none(), "the map was used");
        let unknown = from_upstream(&[("content-length", "99"), ("x-a", "b")]);
        assert!(!response(&unknown, None)
            .headers()
            .contains_key("content-length"));
    }

    #[test]
    fn a_changed_head_is_answered_from_its_fields() {
        let mut added = from_upstream(&[("x-a", "b")]);
        added.headers.add("x-by", "middleware").unwrap();
        added.headers.add("x-a", "two").unwrap();
        let out = response(&added, None);
        assert_eq!(out.headers()["x-by"], "middleware");
        let xa: Vec<_> = out.headers().get_all("x-a").iter().collect();
        assert_eq!(xa, ["b", "two"]);
        let mut changed = from_upstream(&[("x-a", "b"), ("x-c", "d")]);
        changed.headers.set("x-a", "rewritten").unwrap();
        let out = response(&changed, None);
        assert_eq!(out.headers()["x-a"], "rewritten");
        assert_eq!(out.headers()["x-c"], "d");
        let mut removed = from_upstream(&[("x-a", "b"), ("x-c", "d")]);
        removed.headers.remove("x-c");
        assert!(!response(&removed, None).headers().contains_key("x-c"));
    }

    #[test]
    fn responses_lose_connection_specific_fields() {
        let mut res = ResponseHead {
            status: 200,
            ..Default::default()
        };
        let dropped = [
            ("Connection", "close"),
            ("Keep-Alive", "x"),
            ("TE", "trailers"),
            ("Transfer-Encoding", "chunked"),
            ("Upgrade", "h2c"),
            ("Proxy-Connection", "x"),
        ];
        for (n, v) in dropped
            .into_iter()
            .chain([("X-A", "b"), ("Keep-Alivf", "c")])
        {
            res.headers.add(n, v).unwrap();
        }
        res.headers.add("Content-Length", "9").unwrap();
        let out = response(&res, Some(3));
        assert_eq!(out.headers().len(), 3);
        assert_eq!(out.headers()["x-a"], "b");
        assert_eq!(out.headers()["keep-alivf"], "c");
        assert_eq!(out.headers()["content-length"], "3");
    }

    #[test]
    fn an_h2_maps_names_are_dropped_as_the_heads_are() {
        let names = [
            "connection",
            "content-length",
            "te",
            "transfer-encoding",
            "upgrade",
            "keep-alive",
            "proxy-connection",
            "keep-alivf",
            "content-type",
            "tk",
            "x-a",
        ];
        for n in names {
            let name = HeaderName::from_static(n);
            assert_eq!(dropped_name(&name), dropped(n.as_bytes()), "{n}");
        }
    }

    #[test]
    fn a_field_written_again_in_another_case_is_answered_from_the_head() {
        let mut res = from_upstream(&[("x-a", "b"), ("x-c", "d")]);
        res.headers = Headers::new();
        res.headers.push_parsed("X-A", b"b");
        res.headers.push_parsed("x-c", b"d");
        res.headers.add("x-e", "f").unwrap();
        let out = response(&res, None);
        let fields: Vec<_> = out
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(fields, [("x-a", "b"), ("x-c", "d"), ("x-e", "f")]);
    }
}
