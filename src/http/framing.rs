//! Where a message body ends, decided once per message (RFC 9112 §6).
//!
//! The decision is made from the parsed head before anything is forwarded, and the
//! forwarded message is re-framed from it: weir never copies a Content-Length or
//! Transfer-Encoding line through, so the origin cannot read the body differently.
//! Anything ambiguous is refused rather than guessed.

use super::head::{RequestHead, ResponseHead};
use super::headers::Headers;
use crate::error::{Error, Kind};

/// How a body is delimited on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    /// No body at all.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Until the sender closes the connection (responses only).
    UntilClose,
}

impl Body {
    pub fn is_empty(self) -> bool {
        matches!(self, Body::Empty | Body::Length(0))
    }
}

/// The one Content-Length of a message: every value (comma lists included) must be the
/// same plain decimal number that fits in u64 (RFC 9110 §8.6, RFC 9112 §6.3 ¶5).
fn content_length(headers: &Headers) -> Result<Option<u64>, &'static str> {
    let mut found: Option<u64> = None;
    for value in headers.get_all("content-length") {
        for part in value.split(|&c| c == b',') {
            let part = super::ows::trim(part);
            if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
                return Err("Content-Length is not a number");
            }
            // Digits only, checked above: folded directly (no UTF-8 check, no `parse`).
            let n = part
                .iter()
                .try_fold(0u64, |n, &d| {
                    n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
                })
                .ok_or("Content-Length overflows")?;
            if found.is_some_and(|f| f != n) {
                return Err("conflicting Content-Length values");
            }
            found = Some(n);
        }
    }
    Ok(found)
}

/// The transfer codings, in order; `None` when there is no Transfer-Encoding header.
/// Ok(true) means the list is exactly `chunked` (the only coding weir implements).
fn transfer_encoding(headers: &Headers) -> Option<Result<(), Kind>> {
    if !headers.contains("transfer-encoding") {
        return None;
    }
    let codings: Vec<&[u8]> = headers
        .get_all("transfer-encoding")
        .flat_map(|v| v.split(|&c| c == b','))
        .map(super::ows::trim)
        .filter(|c| !c.is_empty())
        .collect();
    let is_chunked = |c: &[u8]| c.eq_ignore_ascii_case(b"chunked");
    let chunked = codings.iter().filter(|c| is_chunked(c)).count();
    Some(match codings.last() {
        None => Err(Kind::BadRequest),
        Some(last) if !is_chunked(last) => Err(Kind::BadRequest),
        Some(_) if chunked > 1 => Err(Kind::BadRequest),
        Some(_) if codings.len() > 1 => Err(Kind::UnknownCoding),
        Some(_) => Ok(()),
    })
}

/// The framing of a request body (RFC 9112 §6.1–6.3).
pub fn request(head: &RequestHead) -> Result<Body, Error> {
    let length = content_length(&head.headers).map_err(|why| Error::new(Kind::BadRequest, why))?;
    match transfer_encoding(&head.headers) {
        Some(_) if head.protocol.is_http10() => Err(Error::new(
            Kind::BadRequest,
            "Transfer-Encoding in an HTTP/1.0 request",
        )),
        Some(_) if length.is_some() => Err(Error::new(
            Kind::BadRequest,
            "both Content-Length and Transfer-Encoding",
        )),
        Some(Err(Kind::UnknownCoding)) => Err(Error::new(
            Kind::UnknownCoding,
            "transfer coding not implemented",
        )),
        Some(Err(kind)) => Err(Error::new(kind, "bad Transfer-Encoding")),
        Some(Ok(())) => Ok(Body::Chunked),
        None => Ok(length.map_or(Body::Empty, Body::Length)),
    }
}

/// The framing of a response body, given whether the request was HEAD
/// (RFC 9112 §6.3 ¶1–7).
pub fn response(request_was_head: bool, head: &ResponseHead) -> Result<Body, Error> {
    let bad = |why| Error::new(Kind::BadGateway, why);
    if request_was_head || head.status < 200 || head.status == 204 || head.status == 304 {
        return Ok(Body::Empty);
    }
    let length = content_length(&head.headers).map_err(bad)?;
    match transfer_encoding(&head.headers) {
        Some(_) if length.is_some() => Err(bad("both Content-Length and Transfer-Encoding")),
        Some(Ok(())) => Ok(Body::Chunked),
        Some(Err(_)) => Err(bad("unsupported Transfer-Encoding")),
        None => Ok(match length {
            Some(n) => Body::Length(n),
            None => Body::UntilClose,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(minor: u8, headers: &[(&str, &str)]) -> RequestHead {
        let mut h = RequestHead {
            method: "POST".into(),
            target: "/".into(),
            protocol: crate::http::Protocol::from_h1_minor(minor),
            ..Default::default()
        };
        for (n, v) in headers {
            h.headers.add(n, v).unwrap();
        }
        h
    }

    #[test]
    fn rfc9112_6_3_request_rules() {
        assert_eq!(request(&req(1, &[])).unwrap(), Body::Empty);
        assert_eq!(
            request(&req(1, &[("Content-Length", "5")])).unwrap(),
            Body::Length(5)
        );
        assert_eq!(
            request(&req(
                1,
                &[("Content-Length", "5, 5"), ("content-length", "5")]
            ))
            .unwrap(),
            Body::Length(5)
        );
        assert_eq!(
            request(&req(1, &[("Transfer-Encoding", "chunked")])).unwrap(),
            Body::Chunked
        );
        let status = |h: &[(&str, &str)], minor| request(&req(minor, h)).unwrap_err().status();
        assert_eq!(
            status(&[("Content-Length", "5"), ("Content-Length", "6")], 1),
            400
        );
        assert_eq!(status(&[("Content-Length", "+5")], 1), 400);
        assert_eq!(
            status(&[("Content-Length", "99999999999999999999999")], 1),
            400
        );
        assert_eq!(
            status(
                &[("Content-Length", "5"), ("Transfer-Encoding", "chunked")],
                1
            ),
            400
        );
        assert_eq!(status(&[("Transfer-Encoding", "chunked")], 0), 400);
        assert_eq!(status(&[("Transfer-Encoding", "chunked, gzip")], 1), 400);
        assert_eq!(status(&[("Transfer-Encoding", "chunked, chunked")], 1), 400);
        assert_eq!(status(&[("Transfer-Encoding", "gzip, chunked")], 1), 501);
    }

    #[test]
    fn responses_without_bodies() {
        let mut head = ResponseHead {
            status: 304,
            ..Default::default()
        };
        head.headers.add("Content-Length", "10").unwrap();
        assert_eq!(response(false, &head).unwrap(), Body::Empty);
        head.status = 200;
        assert_eq!(response(true, &head).unwrap(), Body::Empty);
        assert_eq!(response(false, &head).unwrap(), Body::Length(10));
        head.headers.clear();
        assert_eq!(response(false, &head).unwrap(), Body::UntilClose);
    }
}
