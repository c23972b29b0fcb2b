//! How an HTTP/2 body ends, the same on both sides of weir: the trailer fields after
//! the last DATA frame are read ([`read_trailers`]) and passed on by whoever sends the
//! body next ([`finish`]), as the HEADERS frame that ends the stream. gRPC puts its
//! status there (`grpc-status`, `grpc-message`, custom metadata), so a proxy that drops
//! them breaks every call.

use std::future::poll_fn;
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
    finish_with(out, Bytes::new(), trailers)
}

/// Ends the stream `out` with `last`, the body's last bytes held back for it: they
/// carry END_STREAM themselves, or go before the `trailers` that end it.
pub(crate) fn finish_with(
    out: &mut SendStream<Bytes>,
    last: Bytes,
    trailers: Option<http::HeaderMap>,
) -> Result<(), CopyError> {
    let ended = match trailers {
        Some(trailers) if last.is_empty() => out.send_trailers(trailers),
        Some(trailers) => out
            .send_data(last, false)
            .and_then(|()| out.send_trailers(trailers)),
        None => out.send_data(last, true),
    };
    ended.map_err(|e| CopyError::Write(io_error(e)))
}

/// Sends up to `piece.len()` bytes of `piece` as one DATA frame once the peer's window
/// has room, waiting at most `timeout` for it: the bytes sent (0 when h2 gave no room
/// this time; ask again). Both sides send bodies this way, so a slow reader stops the
/// writer with at most one piece buffered per stream.
pub(crate) async fn send_piece(
    out: &mut SendStream<Bytes>,
    piece: &[u8],
    timeout: Duration,
) -> Result<usize, CopyError> {
    let room = room(out, piece.len(), timeout).await?;
    if room > 0 {
        let data = Bytes::copy_from_slice(&piece[..room]);
        out.send_data(data, false).map_err(write_error)?;
    }
    Ok(room)
}

/// How many of `want` bytes the peer's window has room for now, waiting at most
/// `timeout` for it to open (0: h2 gave no room this time; ask again).
pub(crate) async fn room(
    out: &mut SendStream<Bytes>,
    want: usize,
    timeout: Duration,
) -> Result<usize, CopyError> {
    out.reserve_capacity(want);
    match rt::timeout(timeout, poll_fn(|cx| out.poll_capacity(cx))).await {
        None => Err(CopyError::Write(io::ErrorKind::TimedOut.into())),
        Some(None) => Err(CopyError::Write(io::ErrorKind::BrokenPipe.into())),
        Some(Some(Err(e))) => Err(write_error(e)),
        Some(Some(Ok(room))) => Ok(room.min(want)),
    }
}

/// An h2 error on the sending side, as weir's copy reports it.
pub(crate) fn write_error(e: h2::Error) -> CopyError {
    CopyError::Write(io_error(e))
}

/// An h2 error as the I/O error weir's copy reports.
pub(crate) fn io_error(e: h2::Error) -> io::Error {
    match e.is_io() {
        true => e.into_io().unwrap_or_else(|| io::ErrorKind::Other.into()),
        false => io::Error::other(e),
    }
}
