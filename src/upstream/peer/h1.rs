//! The HTTP/1.1 peer: one keep-alive connection, one request at a time.

use std::time::Duration;

use crate::error::{Error, Kind};
use crate::http::body::{self, CopyError, Out};
use crate::http::conn::Conn;
use crate::http::decode::{Decoder, Decoding, Source};
use crate::http::framing::Body;
use crate::http::parse::{self, HeadLimits, ReadHead};
use crate::http::splice;
use crate::http::write;
use crate::http::{RequestHead, ResponseHead};
use crate::rt;
use crate::stream::Stream;

use super::super::group::Group;
use super::super::pool::{UpstreamConn, BUFFER, FIRST_READ};

/// One connection to one upstream server, speaking HTTP/1.1.
pub(crate) struct H1 {
    conn: UpstreamConn,
    /// Taken from the pool (it may have been closed by the origin as we picked it).
    pub reused: bool,
    /// The response body's decoding: whether it was read to its end.
    body: Decoder,
    /// A request was just sent and no byte of the answer has been looked for yet.
    awaiting: bool,
}

impl H1 {
    /// A new connection over `stream` (from [`super::dial`]).
    pub fn new(stream: Stream) -> Self {
        H1::over(Conn::new(stream, FIRST_READ, BUFFER), false)
    }

    fn over(conn: UpstreamConn, reused: bool) -> Self {
        H1 {
            conn,
            reused,
            body: Decoder::default(),
            awaiting: false,
        }
    }

    /// A kept connection to server `idx` of `group`, if the pool holds a usable one.
    pub fn checkout(group: &Group, idx: usize, resendable: bool) -> Option<Self> {
        let conn = group.pool.checkout(idx, resendable)?;
        Some(H1::over(conn, true))
    }

    /// Serialises `req` (its body framed as `framing`) into `scratch` and sends it with
    /// `body`, each write within `write_timeout`. Returns the body bytes sent. `batch`
    /// groups the write with others for the same server this turn (see
    /// `rt::end_of_batch`).
    pub async fn send<B: Source>(
        &mut self,
        req: &RequestHead,
        framing: Body,
        body: &mut B,
        scratch: &mut Vec<u8>,
        write_timeout: Duration,
        batch: rt::Batch,
    ) -> Result<u64, CopyError> {
        write::request_head(scratch, req, framing.into());
        let out = match framing {
            Body::Chunked => Out::Chunked,
            _ => Out::Raw,
        };
        rt::end_of_batch(batch).await;
        self.awaiting = true;
        let dst = &mut self.conn.io;
        match splice::worth(framing) {
            true => splice::pipe(body, dst, out, scratch, write_timeout).await,
            false => body::pipe(body, dst, out, scratch, write_timeout).await,
        }
    }

    /// Reads one response head into `res` within `timeout`.
    pub async fn read_head(
        &mut self,
        res: &mut ResponseHead,
        limits: HeadLimits,
        timeout: Duration,
    ) -> Result<(), ReadHead> {
        let first = std::mem::take(&mut self.awaiting);
        let conn = &mut self.conn;
        let head = async {
            if first && conn.buffered().is_empty() {
                conn.io.readable().await; // the answer cannot be there yet
            }
            parse::read_response(conn, limits, res).await
        };
        match rt::timeout(timeout, head).await {
            None => Err(ReadHead::Failed(Error::new(
                Kind::GatewayTimeout,
                "upstream response timed out",
            ))),
            Some(Err(err)) => Err(err),
            Some(Ok(n)) => {
                self.conn.consume(n);
                Ok(())
            }
        }
    }

    /// The response body, framed as `framing`, each read within `timeout`.
    pub fn body(&mut self, framing: Body, timeout: Duration) -> Decoding<'_, Stream> {
        self.body = Decoder::new(framing, 0);
        self.body.over(&mut self.conn, timeout)
    }

    /// Gives the connection back to `group`'s pool for server `idx` (after a clean
    /// exchange only).
    pub fn give_back(self, group: &Group, idx: usize) {
        debug_assert!(self.body.is_done());
        group.pool.checkin(idx, self.conn);
    }

    /// The connection as a byte stream, after a `101 Switching Protocols`.
    pub fn tunnel(&mut self) -> &mut UpstreamConn {
        &mut self.conn
    }
}
