//! How an HTTP/2 body ends, the same on both sides of weir: the trailer fields after
//! the last DATA frame are read ([`read_trailers`]) and passed on by whoever sends the
//! body next ([`finish`]), as the HEADERS frame that ends the stream. gRPC puts its
//! status there (`grpc-status`, `grpc-message`, custom metadata), so a proxy that drops
//! them breaks every call.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use h2::{RecvStream, SendStream};

use super::body::{CopyError, ReadError};
use crate::rt;

/// The trailer fields after the last DATA frame of `recv`, if it ended with any.
pub(crate) async fn read_trailers(
    recv: &mut RecvStream,
    timeout: Duration,
) -> Result<Option<http::HeaderMap>, CopyError> {
    match rt::timeout(timeout, recv.trailers()).await {
        None => Err(CopyError::Read(ReadError::TimedOut)),
        Some(Err(e)) => Err(CopyError::Read(ReadError::Io(io_error(e)))),
        Some(Ok(trailers)) => Ok(trailers),
    }
}

/// Ends the stream `out`: with `trailers` when the body had them, else an empty DATA
/// frame flagged END_STREAM.
pub(crate) fn finish(
    out: &mut SendStream<Bytes>,
    trailers: Option<http::HeaderMap>,
) -> Result<(), CopyError> {
    let ended = match trailers {
        Some(trailers) => out.send_trailers(trailers),
        None => out.send_data(Bytes::new(), true),
    };
    ended.map_err(|e| CopyError::Write(io_error(e)))
}

/// An h2 error as the I/O error weir's copy reports.
pub(crate) fn io_error(e: h2::Error) -> io::Error {
    match e.is_io() {
        true => e.into_io().unwrap_or_else(|| io::ErrorKind::Other.into()),
        false => io::Error::other(e),
    }
}
