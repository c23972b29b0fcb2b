//! weir's own failures told to a gRPC client in gRPC's terms.
//!
//! A gRPC client reads a call's outcome from `grpc-status`, not from the HTTP status: a
//! text `502` makes it report `UNKNOWN` or `INTERNAL` with "Received http2 header with
//! status: 502", which hides what happened. So when a request with `content-type:
//! application/grpc*` fails in weir itself (no route, no server up, a connect that
//! failed, a timeout, a body too large), the answer is what Envoy sends: HTTP 200 with a
//! *trailers-only* response, one HEADERS frame ending the stream, carrying
//! `content-type: application/grpc`, the mapped `grpc-status` and a `grpc-message`
//! naming weir and the reason.
//!
//! The mapping, by what failed ([`Kind`]); Envoy maps by HTTP status and sends
//! `UNAVAILABLE` for any 502, 503 and 504, which loses the timeout:
//!
//! | weir's failure | HTTP (others) | gRPC |
//! |---|---|---|
//! | no route | 404 | `UNIMPLEMENTED` (12) |
//! | no server up, connect refused or reset, a local shortage | 502, 503 | `UNAVAILABLE` (14) |
//! | upstream timed out (connect, handshake or response) | 504 | `DEADLINE_EXCEEDED` (4) |
//! | request body or head too large | 413, 414, 431 | `RESOURCE_EXHAUSTED` (8) |
//! | a malformed request, a middleware that failed | 400, 417, 500, 501, 505 | `INTERNAL` (13) |
//!
//! A response an upstream sent is relayed as it is, whatever its status: only weir's
//! own replies are rewritten.

use std::fmt::Write;
use std::future::Future;

use crate::error::{Error, Kind};
use crate::http::body::CopyError;
use crate::http::decode::Source;
use crate::http::{RequestHead, ResponseHead};

/// Whether `req` is a gRPC call (`application/grpc`, `application/grpc+proto`, ...).
pub(super) fn is_grpc(req: &RequestHead) -> bool {
    req.headers.get("content-type").is_some_and(|ct| {
        let prefix = b"application/grpc";
        ct.len() >= prefix.len() && ct[..prefix.len()].eq_ignore_ascii_case(prefix)
    })
}

/// The gRPC status code for one of weir's failures (see the module docs).
pub(crate) fn status(kind: Kind) -> u8 {
    match kind {
        Kind::NoRoute => 12,
        Kind::BadGateway | Kind::NoUpstream | Kind::LocalShortage => 14,
        Kind::GatewayTimeout | Kind::HeaderTimeout => 4,
        Kind::BodyTooLarge | Kind::UriTooLong | Kind::HeadersTooLarge => 8,
        Kind::BadRequest
        | Kind::UnknownCoding
        | Kind::ExpectationFailed
        | Kind::VersionNotSupported
        | Kind::ClientGone
        | Kind::Internal => 13,
    }
}

/// The trailers-only answer for `err` into `res` (cleared first).
pub(super) fn trailers_only(err: &Error, res: &mut ResponseHead) {
    res.clear();
    res.status = 200;
    let mut message = format!("weir: {}", err.why);
    if let Some(io) = &err.io {
        let _ = write!(message, ": {io}");
    }
    let headers = &mut res.headers;
    let _ = headers.add("content-type", "application/grpc");
    let _ = headers.add("grpc-status", status(err.kind).to_string());
    let _ = headers.add("grpc-message", percent_encode(&message));
}

/// The code in a `grpc-status` value, if it is one.
pub(super) fn status_in(value: Option<&[u8]>) -> Option<u8> {
    std::str::from_utf8(value?).ok()?.trim().parse().ok()
}

/// A response body passed through unchanged, noting the `grpc-status` in its trailers
/// as they go by (for the access log and metrics).
pub(super) struct Watch<B> {
    body: B,
    pub status: Option<u8>,
}

impl<B> Watch<B> {
    pub fn new(body: B) -> Self {
        Watch { body, status: None }
    }

    pub fn inner(&self) -> &B {
        &self.body
    }
}

impl<B: Source> Source for Watch<B> {
    /// The body's own future, not one that awaits it: a layer of `async` costs every
    /// poll of every piece (bench/profiling.md, "Small keep-alive requests, round
    /// seven").
    fn piece(&mut self) -> impl Future<Output = Result<&[u8], CopyError>> {
        self.body.piece()
    }

    fn consume(&mut self, n: usize) {
        self.body.consume(n);
    }

    fn lend(&mut self, n: usize) -> Option<bytes::Bytes> {
        self.body.lend(n)
    }

    /// No trailers come with a body on a socket: nothing to watch.
    fn unread(&mut self, min: u64) -> Option<crate::http::decode::Unread<'_>> {
        self.body.unread(min)
    }

    fn spliced(&mut self, n: u64) {
        self.body.spliced(n);
    }

    fn trailers(&mut self) -> Option<http::HeaderMap> {
        let trailers = self.body.trailers();
        let code = trailers.as_ref().and_then(|t| t.get("grpc-status"));
        if let Some(code) = status_in(code.map(|v| v.as_bytes())) {
            self.status = Some(code);
        }
        trailers
    }
}

/// `grpc-message` is percent-encoded UTF-8: every byte outside printable ASCII, and
/// `%` itself, as `%XX` (the gRPC HTTP/2 protocol spec).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_calls_are_told_by_content_type() {
        let mut req = RequestHead::default();
        assert!(!is_grpc(&req));
        for (ct, grpc) in [
            ("application/grpc", true),
            ("application/grpc+proto", true),
            ("Application/GRPC", true),
            ("application/json", false),
            ("application/grp", false),
        ] {
            req.headers.set("content-type", ct).unwrap();
            assert_eq!(is_grpc(&req), grpc, "{ct}");
        }
    }

    #[test]
    fn a_failure_becomes_a_trailers_only_answer() {
        let err = Error::io(
            Kind::BadGateway,
            "upstream connect failed",
            std::io::ErrorKind::ConnectionRefused.into(),
        );
        let mut res = ResponseHead::default();
        trailers_only(&err, &mut res);
        assert_eq!(res.status, 200);
        assert_eq!(res.headers.get("grpc-status"), Some(&b"14"[..]));
        assert_eq!(
            res.headers.get("grpc-message"),
            Some(&b"weir: upstream connect failed: connection refused"[..])
        );
        assert_eq!(
            res.headers.get("content-type"),
            Some(&b"application/grpc"[..])
        );
    }

    #[test]
    fn a_grpc_status_value_is_read_as_its_code() {
        assert_eq!(status_in(Some(b"14")), Some(14));
        assert_eq!(status_in(Some(b"0")), Some(0));
        assert_eq!(status_in(Some(b"x")), None);
        assert_eq!(status_in(None), None);
    }

    #[test]
    fn the_message_is_percent_encoded() {
        assert_eq!(percent_encode("a b%c\n\u{e9}"), "a b%25c%0A%C3%A9");
    }

    #[test]
    fn each_failure_maps_to_its_grpc_status() {
        assert_eq!(status(Kind::NoRoute), 12);
        assert_eq!(status(Kind::NoUpstream), 14);
        assert_eq!(status(Kind::GatewayTimeout), 4);
        assert_eq!(status(Kind::BodyTooLarge), 8);
        assert_eq!(status(Kind::Internal), 13);
    }
}
