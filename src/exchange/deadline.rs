//! gRPC deadlines, enforced by weir: a call whose `grpc-timeout` runs out before it
//! ends is ended by weir, whatever the client and the server do.
//!
//! A client that gives up sends RST_STREAM and weir cancels the upstream stream with
//! it; but a client that never resets (a broken one, or one that trusts the proxy) and
//! a server that never answers would hold a stream slot until `timeouts.upstream_read`.
//! So the deadline is counted from the request's arrival, and when it expires:
//!
//! - the upstream request is dropped: an h2 stream is reset with RST_STREAM CANCEL
//!   and its slot freed, an HTTP/1.1 connection closed (never pooled);
//! - the client gets `DEADLINE_EXCEEDED` "weir: deadline exceeded (grpc-timeout)":
//!   as a trailers-only answer if nothing was sent yet; as trailers after the body
//!   relayed so far if the client speaks HTTP/2; else (an HTTP/1.1 client, or a
//!   response whose length was declared) the client's stream or connection is
//!   closed, the only honest signal left.
//!
//! `grpc-timeout` itself goes upstream unchanged (the server enforces it too, as gRPC
//! servers do); it is not reduced by the time weir spent, which is the connect and
//! queueing time alone, and small against the deadlines gRPC clients set.
//!
//! The value is gRPC's (PROTOCOL-HTTP2.md): 1 to 8 digits and a unit, `H` hours, `M`
//! minutes, `S` seconds, `m` milliseconds, `u` microseconds, `n` nanoseconds. A
//! malformed one is ignored (passed on, not enforced), as gRPC servers ignore it.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_lite::FutureExt;

use crate::either::Either;
use crate::error::{Error, Kind};
use crate::http::body::{CopyError, ReadError};
use crate::http::decode::Source;
use crate::http::RequestHead;
use crate::rt;

use super::{grpc, End};

/// What weir says when a deadline expires.
const WHY: &str = "deadline exceeded (grpc-timeout)";

/// When a gRPC call `req`, which arrived at `started`, must end: its `grpc-timeout`.
pub(super) fn of(req: &RequestHead, started: Instant) -> Option<Instant> {
    if !grpc::is_grpc(req) {
        return None;
    }
    let timeout = parse(req.headers.get("grpc-timeout")?)?;
    started.checked_add(timeout)
}

/// A `grpc-timeout` value, if well formed.
fn parse(value: &[u8]) -> Option<Duration> {
    let (&unit, digits) = value.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The error a call whose deadline expired ends with.
pub(super) fn exceeded() -> Error {
    Error::new(Kind::GatewayTimeout, WHY)
}

/// Runs `phase` until `at`: an expired deadline ends the exchange with
/// `DEADLINE_EXCEEDED` (whatever `phase` held, an upstream stream say, is dropped by
/// its owner). `phase` comes pinned by reference: an async fn keeps its arguments and
/// each future it awaits apart, so taking the phase by value stored it three times.
pub(super) async fn within<T, F: Future<Output = Result<T, End>>>(
    at: Option<Instant>,
    phase: Pin<&mut F>,
) -> Result<T, End> {
    let Some(at) = at else {
        return phase.await;
    };
    let left = at.saturating_duration_since(Instant::now());
    rt::timeout(left, phase)
        .await
        .unwrap_or_else(|| Err(End::error(exceeded())))
}

/// A response body relayed until the call's deadline: then it ends with
/// `DEADLINE_EXCEEDED` trailers when `trailers` (an HTTP/2 client, no declared
/// length), else as a failed read (the client's stream or connection is closed).
pub(super) struct Expiring<B> {
    body: B,
    at: Option<Instant>,
    trailers: bool,
    pub expired: bool,
}

impl<B> Expiring<B> {
    pub fn new(body: B, at: Option<Instant>, trailers: bool) -> Self {
        Expiring {
            body,
            at,
            trailers,
            expired: false,
        }
    }
}

impl<B: Source> Expiring<B> {
    /// [`Source::piece`] with a deadline, or after it expired.
    async fn piece_until(&mut self) -> Result<&[u8], CopyError> {
        if !self.expired {
            let Some(at) = self.at else {
                return self.body.piece().await;
            };
            let expired = &mut self.expired;
            let expiry = async {
                rt::sleep(at.saturating_duration_since(Instant::now())).await;
                *expired = true;
                Ok(&[][..])
            };
            let piece = self.body.piece().or(expiry).await;
            if !self.expired {
                return piece;
            }
        }
        match self.trailers {
            true => Ok(&[]),
            false => Err(CopyError::Read(ReadError::TimedOut)),
        }
    }
}

impl<B: Source> Source for Expiring<B> {
    /// Without a deadline (nearly every request), the body's own future: no `async`
    /// layer between it and the relay (see [`Either`]).
    fn piece(&mut self) -> impl Future<Output = Result<&[u8], CopyError>> {
        match self.at {
            None => Either::Left {
                f: self.body.piece(),
            },
            Some(_) => Either::Right {
                f: self.piece_until(),
            },
        }
    }

    fn consume(&mut self, n: usize) {
        if !self.expired {
            self.body.consume(n);
        }
    }

    fn lend(&mut self, n: usize) -> Option<bytes::Bytes> {
        match self.expired {
            true => None,
            false => self.body.lend(n),
        }
    }

    /// Only without a deadline: a splice cannot be cut short when the deadline comes,
    /// so a body with one is read piece by piece.
    fn unread(&mut self, min: u64) -> Option<crate::http::decode::Unread<'_>> {
        match self.at {
            None => self.body.unread(min),
            Some(_) => None,
        }
    }

    fn spliced(&mut self, n: u64) {
        self.body.spliced(n);
    }

    fn trailers(&mut self) -> Option<http::HeaderMap> {
        if !self.expired {
            return self.body.trailers();
        }
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static("4"));
        let message = http::HeaderValue::from_static("weir: deadline exceeded (grpc-timeout)");
        trailers.insert("grpc-message", message);
        Some(trailers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_values_parse_by_the_spec() {
        let ok = [
            ("1H", Duration::from_secs(3600)),
            ("2M", Duration::from_secs(120)),
            ("30S", Duration::from_secs(30)),
            ("500m", Duration::from_millis(500)),
            ("99999999u", Duration::from_micros(99_999_999)),
            ("7n", Duration::from_nanos(7)),
        ];
        for (text, want) in ok {
            assert_eq!(parse(text.as_bytes()), Some(want), "{text}");
        }
        for bad in [
            "",
            "m",
            "100",
            "123456789m",
            "1.5S",
            "-1S",
            "10x",
            "1 S",
            "+1S",
        ] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad:?}");
        }
    }
}
