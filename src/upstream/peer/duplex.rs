//! Full duplex for an h2 stream: the request body goes upstream while the response
//! head and body come back, as gRPC's bidirectional calls need (a client that waits
//! for an answer before its next message would otherwise stall until a timeout).
//!
//! There is no task of its own: whoever waits on the response (the head, each DATA
//! frame) also moves the request body along ([`Duplex::alongside`]), so the one task
//! of the exchange drives both directions, each under h2 flow control, with at most
//! one piece held per direction and nothing polled when neither side can move.
//!
//! **Timeouts.** While the body is still going up, a wait ends when nothing moved in
//! either direction for `timeouts.upstream_read` (the answer) or `timeouts.client_body`
//! (the client's next piece): every piece moved either way starts both clocks again,
//! so a call whose client waits for a reply before it sends again is never cut short
//! while something moves. Once the body is sent, `upstream_read` alone applies, as
//! before.
//!
//! **Failures.** A client that fails mid-body (reset, a body over
//! `limits.max_body_bytes`, a malformed frame) cancels the upstream stream
//! (RST_STREAM CANCEL) and is reported as the client's fault. An upstream that stops
//! taking the body (it answered and closed its side, or reset the stream) only stops
//! the upload: the response tells the rest.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use futures_lite::future::poll_once;
use futures_lite::FutureExt;
use h2::{Reason, SendStream};

use crate::downstream::h2::Detached;
use crate::http::body::CopyError;
use crate::http::decode::Source;
use crate::http::h2end;
use crate::http::replay::Replay;
use crate::rt;

/// Waits for `wait` within `timeout`, moving the request body along meanwhile when
/// the stream has one going up (`duplex`).
pub(super) async fn wait<F: Future + Unpin>(
    duplex: Option<&mut Duplex>,
    wait: &mut F,
    timeout: Duration,
    used: &mut u64,
) -> Result<Option<F::Output>, CopyError> {
    match duplex {
        Some(duplex) => duplex.alongside(wait, timeout, used).await,
        None => Ok(rt::timeout(timeout, wait).await),
    }
}

/// The request body of a full-duplex stream, and where its upload stands.
pub(super) struct Duplex {
    /// The client's body: kept (even once sent) so a stream the server did not process
    /// can give it back for another attempt, with its retry buffer.
    body: Option<Replay<Detached>>,
    /// The stream's sending half, while the body is still going up.
    out: Option<SendStream<Bytes>>,
    /// Each piece's wait for the server's window.
    timeout: Duration,
    /// How the client's side failed, if it did (the upstream stream is cancelled).
    pub failed: Option<CopyError>,
}

/// What one turn of [`Duplex::alongside`] saw.
enum Turn<T> {
    Answer(T),
    Sent(Result<(), CopyError>),
}

impl Duplex {
    /// Holds `body` for the stream about to open.
    pub fn new(body: Replay<Detached>, timeout: Duration) -> Self {
        Duplex {
            body: Some(body),
            out: None,
            timeout,
            failed: None,
        }
    }

    /// The stream opened: its body goes out on `out` from now on.
    pub fn start(&mut self, out: SendStream<Bytes>) {
        self.out = Some(out);
    }

    /// The client's body back, for another attempt (or to drop).
    pub fn reclaim(&mut self) -> Option<Replay<Detached>> {
        self.out = None;
        self.body.take()
    }

    /// The response is over: the rest of the body has no one to go to.
    pub fn stop(&mut self) {
        self.out = None;
    }

    /// Waits for `wait` while sending the request body, within `timeout` of the last
    /// piece moved: `Ok(None)` on a timeout, `Err` when the client's side failed.
    ///
    /// A piece the client has already sent goes first, on its own (`poll_once`): a
    /// unary call's one message came with its HEADERS and is there at the first turn,
    /// when the answer cannot be; waiting for both at once polled the answer (a lock
    /// on the connection's streams) and built the pair and its deadline for nothing.
    async fn alongside<F: Future + Unpin>(
        &mut self,
        wait: &mut F,
        timeout: Duration,
        used: &mut u64,
    ) -> Result<Option<F::Output>, CopyError> {
        loop {
            if self.out.is_none() {
                return Ok(rt::timeout(timeout, &mut *wait).await);
            }
            let turn = match poll_once(self.step(used)).await {
                Some(sent) => Turn::Sent(sent),
                None => {
                    let answer = async { Turn::Answer((&mut *wait).await) };
                    let sent = async { Turn::Sent(self.step(used).await) };
                    match rt::timeout(timeout, answer.or(sent)).await {
                        None => return Ok(None),
                        Some(turn) => turn,
                    }
                }
            };
            match turn {
                Turn::Answer(got) => return Ok(Some(got)),
                Turn::Sent(Ok(())) => {}
                Turn::Sent(Err(CopyError::Write(_))) => self.out = None,
                Turn::Sent(Err(err)) => {
                    if let Some(mut out) = self.out.take() {
                        out.send_reset(Reason::CANCEL);
                    }
                    self.failed = Some(err);
                    let err = std::io::Error::other("the client's request body failed");
                    return Err(CopyError::Read(crate::http::body::ReadError::Io(err)));
                }
            }
        }
    }

    /// One piece of the body upstream, or its end. Safe to drop at any await: a piece
    /// is consumed in the same poll that sent it. The client's last piece, when known
    /// as such, ends the stream itself: an empty DATA frame after it was one frame more
    /// per unary gRPC call to queue, write, and for the server to read.
    async fn step(&mut self, used: &mut u64) -> Result<(), CopyError> {
        let (Some(body), Some(out)) = (self.body.as_mut(), self.out.as_mut()) else {
            return std::future::pending().await;
        };
        let piece = body.piece().await?;
        if piece.is_empty() {
            h2end::finish(out, body.trailers())?;
            self.out = None;
            return Ok(());
        }
        let len = piece.len();
        let room = match *used == 0 && len <= UNWAITED {
            true => len,
            false => h2end::room(out, len, self.timeout).await?,
        };
        let ends = room == len && body.last_piece();
        if room > 0 {
            let data = take(body, room).await?;
            out.send_data(data, ends).map_err(h2end::write_error)?;
        }
        *used += room as u64;
        if ends {
            self.out = None;
        }
        Ok(())
    }
}

/// The most of a stream's first body piece handed to h2 without waiting for the
/// server's window (h2's default frame size).
///
/// Why not wait: a stream h2 has just been given is not open yet at h2's level (it
/// waits in h2's queue of streams to open until the connection's task runs), and h2
/// gives it no window before then. Waiting for room cost every unary gRPC call a round
/// trip between its task and the connection's: the connection task wrote the HEADERS
/// alone and woke the call to say there was room, and the call handed the DATA and
/// woke the connection task again. Handed over at once, the piece is written right
/// after the HEADERS, in the same write, as soon as the server's window has room for it
/// (h2 never sends past the window). h2 holds it instead of weir: still one piece per
/// stream; every later piece waits for room as before. [`super::h2stream`] sends a
/// body that is not full duplex the same way.
pub(super) const UNWAITED: usize = 16 * 1024;

/// The first `room` bytes of `body`'s piece (asked for and non-empty just before),
/// used: the client's own `Bytes` where it lends them, else a copy.
async fn take(body: &mut Replay<Detached>, room: usize) -> Result<Bytes, CopyError> {
    if let Some(data) = body.lend(room) {
        return Ok(data);
    }
    let data = Bytes::copy_from_slice(&body.piece().await?[..room]);
    body.consume(room);
    Ok(data)
}
