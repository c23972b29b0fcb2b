//! HTTP/2 to clients (RFC 9113): one task per connection accepts streams, and each
//! stream runs one exchange on its own task, through an [`H2Stream`] session, so routes,
//! middleware, plugins, balancing, retries, logs and metrics work as for HTTP/1.1.
//!
//! On by default on TLS listeners (ALPN `h2, http/1.1`; `h2 = false` turns it off),
//! opt-in on plain ones (`h2c = true`). The `h2` crate's own bounds are set here
//! ([`builder`]): concurrent streams (`http2.max_concurrent_streams`), header list size
//! (`limits.max_header_bytes`), windows, and the rapid-reset bounds (CVE-2023-44487).
//! What the crate does not bound, [`guard`] does (frame floods, slow header blocks); a
//! stream the client resets stops its exchange and upstream request ([`reset`]).
//! Streams across the process are bounded by `limits.max_streams` ([`streams`]).
//!
//! The connection lives until the client closes it, it idles with no open stream for
//! `timeouts.idle` counted from the end of its last stream (then GOAWAY), it is asked
//! to give up its seat while idle at `max_connections` (GOAWAY, as an idle HTTP/1.1
//! connection is closed: see `admission`), or weir shuts down: GOAWAY, and the open
//! streams get `timeouts.drain` to finish. A reload needs nothing here: each stream
//! takes the engine in force when it arrives; the connection's own timeouts are those
//! in force when it began.

mod body;
pub(crate) use body::Detached;
mod compat;
mod frames;
mod guard;
mod head;
mod reset;
mod session;
mod streams;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_lite::FutureExt;
use h2::server::{Connection, SendResponse};
use h2::RecvStream;

use crate::admission::Seat;
use crate::engine::Engine;
use crate::exchange::{self, kept};
use crate::http::conn::Conn;
use crate::in_box::in_box;
use crate::listener_id::ListenerId;
use crate::live::Live;
use crate::metrics::h2::H2Stats;
use crate::rt::{self, Runtime};
use crate::stream::Stream;

use session::H2Stream;
use streams::{Activity, Open};

pub(crate) use streams::StreamBound;

/// The client connection preface (RFC 9113 §3.4), how an `h2c` listener tells HTTP/2
/// with prior knowledge from HTTP/1.
pub(crate) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A stream's receive window: how much of a request body may wait unread per stream.
const STREAM_WINDOW: u32 = 256 * 1024;
/// The connection's receive window, shared by its streams.
const CONNECTION_WINDOW: u32 = 1024 * 1024;
/// Response bytes h2 may queue per stream beyond what the client's window takes.
const SEND_BUFFER: usize = 64 * 1024;
/// Streams a client may open and reset before weir accepts them (rapid reset).
const PENDING_RESETS: usize = 20;
/// Streams weir may reset for a client's errors before it sends GOAWAY.
const ERROR_RESETS: usize = 256;

/// Whether bytes a plain connection opened with are (the start of) the preface.
pub(crate) fn is_preface(read: &[u8]) -> bool {
    read.len() >= 4 && (read.starts_with(PREFACE) || PREFACE.starts_with(read))
}

/// Where a connection came from.
#[derive(Clone, Copy)]
pub(crate) struct From {
    pub peer: SocketAddr,
    pub listener: ListenerId,
    pub tls: bool,
}

/// The h2 server settings from the engine in force.
fn builder(e: &Engine) -> h2::server::Builder {
    let mut b = h2::server::Builder::new();
    let header_list = u32::try_from(e.config.limits.max_header_bytes).unwrap_or(u32::MAX);
    b.max_concurrent_streams(e.config.http2.max_concurrent_streams)
        .max_header_list_size(header_list)
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_send_buffer_size(SEND_BUFFER)
        .max_pending_accept_reset_streams(PENDING_RESETS)
        .max_local_error_reset_streams(Some(ERROR_RESETS));
    b
}

/// A stream the client opened: its request and the handle to answer it.
type Opened = (http::Request<RecvStream>, SendResponse<Bytes>);

/// What woke the connection task.
enum Wake {
    /// A new stream (boxed: it is 264 bytes, the other wakes none), or the end of the
    /// connection (`None`, or a connection error).
    Stream(Option<Result<Box<Opened>, h2::Error>>),
    /// The last open stream ended: the idle clock starts.
    WentIdle,
    /// Asked to give up the seat to a new client (see `admission`).
    Asked,
    /// The guard tripped: a flood, or a header block too slow.
    Trip(guard::Trip),
    Stop,
    Timer,
}

/// What the connection task waits for besides a new stream.
enum Watch<'a> {
    /// Streams are open: the last one ending, or a stop.
    Busy(&'a Activity),
    /// No stream open: `timeouts.idle` less the time idle so far, or a stop.
    Idle(Duration),
    /// GOAWAY sent: the drain deadline.
    Closing(Duration),
}

/// A TLS stream nothing has been read from yet, for [`serve`] (no buffer allocated).
pub(crate) fn unread(stream: Stream) -> Conn<Stream> {
    Conn::new(stream, 0, 0)
}

/// Serves one HTTP/2 connection: `conn`'s buffered bytes, then its stream.
pub(crate) async fn serve(
    live: Arc<Live>,
    conn: Conn<Stream>,
    from: From,
    mut seat: Seat,
    runtime: Runtime,
) {
    let e = live.get();
    let t = e.config.timeouts;
    let metrics = e.stats.metrics.clone();
    let guard = guard::Guard::new(&e.config.http2, t.header);
    let alarm = guard.alarm();
    let io = compat::tokio_io(conn, guard);
    let handshake = builder(&e).handshake::<_, Bytes>(io);
    drop(e);
    let Some(Ok(mut conn)) = rt::timeout(t.header, handshake).await else {
        return;
    };
    let _counted = H2Stats::connection(&metrics);
    let activity = Activity::new();
    let mut closing: Option<Instant> = None;
    // One wait for weir's stop for the connection's life, lent to each `next`: made
    // there, it listened anew at every wake of this task (~250 instructions each, a
    // third of them per small request). Never polled once it fired: a stop leads to
    // `closing`, whose wait does not watch for it.
    let mut stop = std::pin::pin!(live.stop().fired());
    loop {
        let watch = match (closing, activity.idle_for()) {
            (Some(by), _) => Watch::Closing(by.saturating_duration_since(Instant::now())),
            (None, None) => Watch::Busy(&activity),
            (None, Some(idle)) => Watch::Idle(t.idle.saturating_sub(idle)),
        };
        match next(&mut conn, stop.as_mut(), &alarm, watch, &mut seat).await {
            Wake::Stream(Some(Ok(opened))) => {
                let (req, mut respond) = *opened;
                let Some(open) = streams::open(&live.streams, &activity, &metrics) else {
                    respond.send_reset(h2::Reason::REFUSED_STREAM);
                    continue;
                };
                // Boxed here: the task's future is over 2 KiB, which the executor's
                // wrappers and async-task's own boxing copied four times over; built
                // in its box, not copied into it (`in_box`).
                let live = live.clone();
                let task = in_box(|| stream_task(live, req, respond, from, open));
                runtime.spawn(task).detach();
            }
            Wake::Stream(_) => break, // closed, or a connection error (h2 sent GOAWAY)
            Wake::WentIdle => {}
            Wake::Trip(trip) => {
                guard::close(&mut conn, trip, from.peer, &metrics).await;
                break;
            }
            Wake::Timer if closing.is_some() => break, // drain time is up
            // No stream is open: GOAWAY naming the last stream seen, and close at once,
            // not after a PING round trip the client may never answer (a stream it
            // sent meanwhile was not processed, which it may retry: RFC 9113 §6.8).
            Wake::Asked => {
                conn.abrupt_shutdown(h2::Reason::NO_ERROR);
                closing = Some(Instant::now() + live.get().config.timeouts.drain);
            }
            Wake::Timer | Wake::Stop => {
                conn.graceful_shutdown();
                closing = Some(Instant::now() + live.get().config.timeouts.drain);
            }
        }
    }
    // The connection's part of a drain ends with its streams, not before: a stream
    // whose client has its whole answer may still be writing its access-log line, and
    // shutdown's final log flush comes once the drain is done. Dropping the connection
    // first ends every stream still waiting on it (h2 tells them the connection is
    // gone), so this waits only for exchanges already finishing.
    drop(conn);
    rt::timeout(live.get().config.timeouts.drain, activity.went_idle()).await;
    drop(seat);
}

/// Drives the connection until a stream arrives, the guard trips, or what `watch`
/// names happens. While idle, the wait is offered to `admission` as an HTTP/1.1
/// connection's is: asked to make room, it ends with [`Wake::Asked`] (a stream that
/// won the race is served and the ask passes on).
async fn next(
    conn: &mut Connection<compat::Io, Bytes>,
    stop: Pin<&mut impl Future<Output = ()>>,
    alarm: &guard::Alarm,
    watch: Watch<'_>,
    seat: &mut Seat,
) -> Wake {
    // The guard wakes this task when it trips; nothing else needs waking here.
    let tripped = std::future::poll_fn(|_| match alarm.tripped() {
        Some(trip) => std::task::Poll::Ready(Wake::Trip(trip)),
        None => std::task::Poll::Pending,
    });
    let stream = async { Wake::Stream(conn.accept().await.map(|r| r.map(Box::new))) };
    let stop = async {
        stop.await;
        Wake::Stop
    };
    let stream = tripped.or(stream);
    match watch {
        Watch::Busy(activity) => {
            let idle = async {
                activity.went_idle().await;
                Wake::WentIdle
            };
            stream.or(stop).or(idle).await
        }
        Watch::Idle(wait) => {
            let waiting = std::pin::pin!(rt::timeout(wait, stream.or(stop)));
            match seat.idle(waiting).await {
                Some(woke) => woke.unwrap_or(Wake::Timer),
                None => {
                    seat.give_up();
                    Wake::Asked
                }
            }
        }
        Watch::Closing(wait) => rt::timeout(wait, stream).await.unwrap_or(Wake::Timer),
    }
}

/// One stream's exchange, on the engine in force when it arrived. Its scratch (heads,
/// header storage, path) comes from the thread's kept ones and goes back after, as an
/// HTTP/1.1 request's does (`exchange::kept`): a fresh one per stream grew its vectors
/// from nothing on every stream (allocations and copies each time).
///
/// A plain function returning an `async move` block that uses its captures in place
/// (as `connection::accepted`): an `async fn` kept the request it took whole for the
/// task's life beside the parts it was split into, 260 bytes more in every stream's box.
fn stream_task(
    live: Arc<Live>,
    req: http::Request<RecvStream>,
    respond: SendResponse<Bytes>,
    from: From,
    open: Open,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let (parts, recv) = req.into_parts();
    let answer = reset::Answer::new(respond);
    let mut client = H2Stream {
        peer: from.peer,
        listener: from.listener,
        tls: from.tls,
        body: Some(body::RequestBody::new(recv)),
        respond: answer.clone(),
        continue_100: false,
    };
    async move {
        let e = live.get();
        let mut s = kept::take();
        // The exchange goes in a box of its own, built there (`in_box`): the task's
        // future stays small, so the stream's box is cheap to fill and comes from the
        // allocator's small-size path. Built in the task's box with it, rustc still
        // wrote all of its 5 KiB on the stack first and copied it in (~480
        // instructions a stream).
        let run = async {
            match head::request(&parts, &mut s.req) {
                // A reset stops the exchange, and with it the upstream request.
                Ok(()) => {
                    let gone = reset::reset(&answer);
                    let exchange =
                        in_box(|| exchange::exchange_until(&e, &mut client, &mut s, gone));
                    exchange.await
                }
                Err(err) => {
                    let reject = in_box(|| exchange::reject(&e, &mut client, &mut s, err));
                    reject.await
                }
            }
        };
        if std::panic::AssertUnwindSafe(run)
            .catch_unwind()
            .await
            .is_err()
        {
            eprintln!(
                "weir: an HTTP/2 stream from {} panicked; stream reset",
                client.peer
            );
        }
        kept::give(s);
        drop(open);
    }
}

#[cfg(test)]
mod task_size {
    /// Every HTTP/2 stream's task is this future, boxed when the stream opens: each of
    /// its bytes may be copied then (callgrind counted a 15 KB copy per stream, 15,000
    /// of 54,000 instructions per small request, when the deadline wrapper held three
    /// copies of the forward phase; 4.8 KB when the exchange was still inline). The
    /// exchange is boxed apart since, so the task stays under mimalloc's small-object
    /// size (1 KiB), whose allocation path is the short one.
    #[test]
    fn the_stream_task_future_stays_small() {
        fn size<A, B, C, D, E, F: std::future::Future>(
            _: impl FnOnce(A, B, C, D, E) -> F,
        ) -> usize {
            std::mem::size_of::<F>()
        }
        let task = size(super::stream_task);
        eprintln!("HTTP/2 stream task future: {task} bytes");
        assert!(task <= 1024, "{task} bytes");
    }
}
