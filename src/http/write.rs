//! Serialising heads: one buffer, one write.
//!
//! Heads are rebuilt from the parsed form, never copied from the wire unchecked (the
//! fields are copied in runs from the header list, which keeps them as wire lines), and
//! the framing header is always the one weir decided on. The output buffer belongs to the
//! connection and is reused, so writing a head allocates nothing once warm.

use super::framing::Body;
use super::head::{reason, RequestHead, ResponseHead};
use super::headers::Headers;

/// Appends the decimal form of `n`.
pub fn push_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(decimal(n, &mut [0u8; 20]));
}

/// `n` in decimal, written into the end of `buf`.
pub(crate) fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

/// A framing header weir writes itself when it frames the message.
fn is_framing(name: &[u8]) -> bool {
    (name.len() == 14 && name.eq_ignore_ascii_case(b"content-length"))
        || (name.len() == 17 && name.eq_ignore_ascii_case(b"transfer-encoding"))
}

/// Writes the header list; when weir frames the message itself, any framing header in the
/// list (left by middleware, say) is skipped, so the framing on the wire is only ever the
/// one weir decided.
fn push_headers(out: &mut Vec<u8>, headers: &Headers, framing: Framing) {
    let own_framing = framing != Framing::None;
    headers.write_lines(out, |name| own_framing && is_framing(name));
}

fn push_framing(out: &mut Vec<u8>, body: Framing) {
    match body {
        Framing::Length(n) => {
            out.extend_from_slice(b"Content-Length: ");
            push_u64(out, n);
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        Framing::None => {}
    }
}

/// The framing header a written head carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    Length(u64),
    Chunked,
    /// No framing header: no body, the headers already say, or the end is a close.
    None,
}

impl From<Body> for Framing {
    fn from(b: Body) -> Self {
        match b {
            Body::Length(n) => Framing::Length(n),
            Body::Chunked => Framing::Chunked,
            Body::Empty | Body::UntilClose => Framing::None,
        }
    }
}

/// Writes an HTTP/1.1 request head for an upstream, framed as `framing`.
pub fn request_head(out: &mut Vec<u8>, req: &RequestHead, framing: Framing) {
    out.clear();
    out.extend_from_slice(req.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(req.target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    push_headers(out, &req.headers, framing);
    push_framing(out, framing);
    out.extend_from_slice(b"\r\n");
}

/// Writes an HTTP/1.1 response head with the given framing and an optional
/// `Connection` value (`close`, or `keep-alive` for an HTTP/1.0 client).
pub fn response_head(
    out: &mut Vec<u8>,
    res: &ResponseHead,
    framing: Framing,
    connection: Option<&str>,
) {
    response_fields(out, res, framing, connection);
    out.extend_from_slice(b"\r\n");
}

/// Like [`response_head`], for a reply weir authors itself (the built-in backend, an
/// error, a middleware's local reply): it also carries `Date` (RFC 9110 §6.6.1), unless
/// the head already has one. A relayed response keeps the origin's `Date` and gets none.
pub fn local_response_head(
    out: &mut Vec<u8>,
    res: &ResponseHead,
    framing: Framing,
    connection: Option<&str>,
) {
    response_fields(out, res, framing, connection);
    if res.headers.get("date").is_none() {
        super::date::push_date_header(out);
    }
    out.extend_from_slice(b"\r\n");
}

/// A response head up to, not including, the empty line that ends it.
fn response_fields(
    out: &mut Vec<u8>,
    res: &ResponseHead,
    framing: Framing,
    connection: Option<&str>,
) {
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    push_u64(out, u64::from(res.status));
    out.push(b' ');
    let text = if res.reason.is_empty() {
        reason(res.status)
    } else {
        &res.reason
    };
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
    push_headers(out, &res.headers, framing);
    push_framing(out, framing);
    if let Some(c) = connection {
        out.extend_from_slice(b"Connection: ");
        out.extend_from_slice(c.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_regenerated_framing() {
        let mut req = RequestHead {
            method: "POST".into(),
            target: "/up".into(),
            protocol: crate::http::Protocol::Http10,
            ..Default::default()
        };
        req.headers.add("Host", "x").unwrap();
        let mut out = Vec::new();
        request_head(&mut out, &req, Framing::Chunked);
        assert_eq!(
            out,
            b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        let res = ResponseHead {
            status: 404,
            ..Default::default()
        };
        response_head(&mut out, &res, Framing::Length(0), Some("close"));
        assert_eq!(
            out,
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn framing_in_the_list_never_doubles_weirs_own() {
        let mut req = RequestHead {
            method: "POST".into(),
            target: "/".into(),
            ..Default::default()
        };
        req.headers.add("Content-Length", "999").unwrap();
        req.headers.add("Transfer-Encoding", "chunked").unwrap();
        let mut out = Vec::new();
        request_head(&mut out, &req, Framing::Length(3));
        assert_eq!(out, b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n");
    }

    #[test]
    fn decimal() {
        let mut out = Vec::new();
        for n in [0, 7, 10, 1234567890123, u64::MAX] {
            out.clear();
            push_u64(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }
}
