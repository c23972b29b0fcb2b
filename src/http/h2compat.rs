//! The one place the `h2` crate meets smol, and the one module that names tokio: a
//! futures-io stream seen through tokio's `AsyncRead`/`AsyncWrite` traits by
//! `tokio-util`'s compat layer. Only tokio's I/O traits are compiled in (no runtime, no
//! reactor): smol drives every future. Both sides use it: clients in `downstream::h2`
//! (through its guarded reader) and servers in `upstream::h2pool` and the h2 health
//! probe.

use futures_lite::{AsyncRead, AsyncWrite};
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt};

use crate::stream::Stream;

/// A futures-io stream as the `h2` crate takes it.
pub(crate) type Io<T> = Compat<T>;

/// `io` for h2.
pub(crate) fn tokio_io<T: AsyncRead + AsyncWrite>(io: T) -> Io<T> {
    io.compat()
}

/// A fresh upstream `stream` (nothing read from it yet) for h2.
pub(crate) fn fresh(stream: Stream) -> Io<Stream> {
    tokio_io(stream)
}
