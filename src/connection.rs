//! One client connection: keep-alive, pipelining, head timeouts, graceful close.
//!
//! Requests are read one after another from the same buffer, so pipelined requests are
//! answered in order by construction. The first request's head must arrive within
//! `timeouts.header` of the accept; later ones may idle for `timeouts.idle` before their
//! first byte, then get `timeouts.header` for the rest of the head. While it waits
//! between requests (never before its first), the connection may be asked to give up
//! its seat to a new client at `max_connections` (see `admission`).

use std::future::Future;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use futures_rustls::rustls::ServerConfig;

use crate::admission::Seat;
use crate::downstream::h2;
use crate::downstream::{Downstream, Next, Session};
use crate::engine::Engine;
use crate::error::{Error, Kind};
use crate::exchange::{self, kept, Scratch};
use crate::http::parse::ReadHead;
use crate::http::RequestHead;
use crate::idle_wait::{IdleWait, Timer, Woke};
use crate::in_box::in_box;
use crate::listener_id::ListenerId;
use crate::live::Live;
use crate::metrics::ConnectionGuard;
use crate::open_clients;
use crate::proxy_protocol;
use crate::rt::{self, Backend, Runtime};
use crate::shutdown::{self, Busy};
use crate::stream::Stream;
use crate::upstream::pool::BUFFER;

/// One accepted connection, as the listener's accept loop hands it over.
pub(crate) struct Incoming {
    pub tcp: rt::TcpStream,
    pub peer: SocketAddr,
    pub id: ListenerId,
    /// The listener's TLS config, for a TLS listener.
    pub tls: Option<Arc<ServerConfig>>,
    pub seat: Seat,
    pub held: Held,
}

/// What a connection holds until its task ends, however it ends: the drain's count
/// and the active-connections metric. Dropped while a panic unwinds, it says so (the
/// task is spawned inside `catch_unwind`, so a bug closes one connection, not the
/// process); a guard inside the task, not an `async` wrapper around it, which would
/// keep a second copy of the whole task (bench/profiling.md).
#[allow(dead_code, reason = "held only for their drop")]
pub(crate) struct Held {
    pub busy: Busy,
    pub counted: ConnectionGuard,
    /// Counted open, for the per-thread lists of kept buffers (no bytes).
    pub open: open_clients::Counted,
    pub peer: SocketAddr,
}

impl Drop for Held {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let peer = self.peer;
            // Not eprintln!: a failed write must not panic again while unwinding.
            let mut err = io::stderr();
            let _ = writeln!(
                err,
                "weir: a connection task from {peer} panicked; connection closed"
            );
        }
    }
}

/// The task of one accepted connection: the PROXY protocol header where the listener
/// takes one, then the TLS handshake on a TLS listener, then its requests.
///
/// Every idle keep-alive connection's task is this future, so it is written to hold
/// each value once: a plain function returning an `async move` block that uses its
/// captures in place, where an `async fn` keeps a second copy of each argument it
/// moves into a future and every nested future a third (the spawned block used to
/// hold the stream, the seat, the listener id and the peer three times). A capture is
/// kept for the task's whole life, so the client session is made here, before the
/// block, and holds the socket and the peer itself: capturing the socket and the peer
/// as well cost every idle connection ~100 bytes. The plain path's request loop works
/// on borrows for the same reason.
pub(crate) fn accepted(
    live: Arc<Live>,
    a: Incoming,
    runtime: Runtime,
) -> impl Future<Output = ()> + Send + 'static {
    let Incoming {
        tcp,
        peer,
        id,
        tls,
        seat,
        held,
    } = a;
    let mut start = match tls {
        None => Start::Plain(downstream(&live, tcp.into(), peer, id)),
        Some(config) => Start::Tls(tcp, peer, id, config),
    };
    async move {
        let _ = &held; // dropped with the task
        let proxied = {
            let (tcp, peer, id) = start.socket();
            proxy_protocol::accept(&live, id, tcp, peer)
        };
        let Some(peer) = proxied.await else {
            return; // counted and logged: no request is read
        };
        let client = match start {
            Start::Plain(ref mut client) => client,
            Start::Tls(tcp, _, id, config) => {
                // Boxed: its handshake future holds rustls' state inline (2.7 KiB), which
                // every plain connection's task would carry too.
                let serve = over_tls::serve_tls(live, tcp, (peer, id), config, seat, runtime);
                return Box::pin(serve).await;
            }
        };
        client.peer = peer;
        if let Ended::H2c(id) = requests(&live, client, &seat).await {
            if let Start::Plain(client) = start {
                h2c(live, client, id, seat, runtime).await;
            }
        }
    }
}

/// What a connection's task starts from, made before its future so that the future
/// holds it once: a plain listener's client session (which holds the socket and the
/// peer and the listener id), or a TLS listener's socket, peer and listener id before
/// the handshake.
enum Start {
    Plain(Downstream),
    Tls(rt::TcpStream, SocketAddr, ListenerId, Arc<ServerConfig>),
}

impl Start {
    /// The socket, for a PROXY protocol header (it comes before any TLS), the peer and
    /// the listener.
    fn socket(&mut self) -> (&mut rt::TcpStream, SocketAddr, Option<ListenerId>) {
        match self {
            Start::Plain(client) => {
                let (peer, id) = (client.peer, client.listener);
                (client.tcp_mut(), peer, id)
            }
            Start::Tls(tcp, peer, id, _) => (tcp, *peer, Some(*id)),
        }
    }
}

/// Serves one connection (after its TLS handshake), from `peer` on listener `id`,
/// until it closes, idles out, or weir shuts down.
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn keeps a second copy of each argument (see `accepted`)"
)]
fn serve(
    live: Arc<Live>,
    stream: Stream,
    (peer, id): (SocketAddr, ListenerId),
    seat: Seat,
    runtime: Runtime,
) -> impl Future<Output = ()> + Send {
    async move {
        let mut client = downstream(&live, stream, peer, id);
        if let Ended::H2c(id) = requests(&live, &mut client, &seat).await {
            h2c(live, client, id, seat, runtime).await;
        }
    }
}

/// The client side of a connection from `peer` on listener `id`.
fn downstream(live: &Live, stream: Stream, peer: SocketAddr, id: ListenerId) -> Downstream {
    let max = live.get().limits.max_bytes.max(BUFFER);
    Downstream::new(stream, peer, max)
        .on(id)
        .stopping(live.stop().clone())
}

/// How a connection's run of HTTP/1.x requests ended.
enum Ended {
    /// Closed, idled out, or drained: the connection is done.
    Closed,
    /// It opened with the HTTP/2 preface on listener `.0`, which has `h2c = true`.
    H2c(ListenerId),
}

/// Hands a plain connection that opened with the HTTP/2 preface to the h2 server.
/// Boxed: the h2 server's state is several KiB, and every HTTP/1.x connection's task
/// would carry it inline (4.8 KiB a task, against 1.0).
fn h2c(
    live: Arc<Live>,
    client: Downstream,
    listener: ListenerId,
    seat: Seat,
    runtime: Runtime,
) -> Pin<Box<impl Future<Output = ()> + Send>> {
    let from = h2::From {
        peer: client.peer,
        listener,
        tls: false,
    };
    in_box(|| h2::serve(live, client.into_conn(), from, seat, runtime))
}

/// Serves `client`'s requests one after another until it closes, idles out, or weir
/// shuts down; or finds that it speaks HTTP/2 (`h2c = true` on its plain listener).
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn keeps a second copy of each argument (see `accepted`)"
)]
fn requests<'a>(
    live: &'a Arc<Live>,
    client: &'a mut Downstream,
    seat: &'a Seat,
) -> impl Future<Output = Ended> + Send + 'a {
    async move {
        // Taken when a request's first bytes arrive, given back when the connection idles.
        let mut held: Option<Box<Scratch>> = None;
        // The idle waits' timer, kept from one to the next: moved on each time rather
        // than filed and cancelled (`IdleWait`).
        let mut timer = rt::Chosen::timer(std::time::Duration::ZERO);
        let mut first = true;
        let next = loop {
            if client.buffered().is_empty() {
                park(&mut held, client);
                if !idle(live, client, seat, &mut timer, first).await {
                    break Next::Close;
                }
            }
            if first {
                if let Some(id) = speaks_h2c(live, client) {
                    return Ended::H2c(id);
                }
            }
            first = false;
            // Each request runs on the engine in force when it starts (see `live`): taken
            // once its first bytes are here, not before the wait, or a connection idle
            // across a reload would serve its next request on the retired engine.
            // In a block: what is left of the head and its error must not be held
            // across the answer's await, or every idle task would have room for them.
            let (e, err) = {
                let e = live.get();
                client.allow(e.limits.max_bytes);
                let s = resume(&mut held, client);
                // The head is nearly always whole in the bytes the idle wait read: parsed
                // from them, with no future. Only a head that arrives in pieces waits,
                // boxed (see `read_head`).
                let (e, head) = match client.buffered_request(e.limits, &mut s.req) {
                    Some(head) => (e, Some(head)),
                    None => Box::pin(read_head(e, client, &mut s.req)).await,
                };
                let err = match head {
                    Some(Ok(())) => None,
                    Some(Err(ReadHead::Closed)) => break Next::Close,
                    Some(Err(ReadHead::Failed(err))) if err.kind == Kind::ClientGone => {
                        break Next::Close
                    }
                    Some(Err(ReadHead::Failed(err))) => Some(err),
                    None => Some(Error::new(Kind::HeaderTimeout, "request head timed out")),
                };
                (e, err)
            };
            let failed = err.is_some();
            let s = resume(&mut held, client);
            answer(&e, client, s, err).await;
            if failed {
                break Next::CloseAfterError;
            }
            match client.next() {
                // Kept even when a drain began during the exchange: the client was told
                // it could send another request (the session says `Connection: close`
                // only from the drain on), and may be sending it now. The idle wait
                // gives it the drain's grace.
                Next::KeepAlive => continue,
                other => break other,
            }
        };
        close(&mut held, client);
        if next == Next::CloseAfterError {
            client.linger().await;
        }
        Ended::Closed
    }
}

/// The answer to a request: its exchange, or the error reply to a head that failed.
/// Boxed: a future holds room for its largest await point, and an exchange in flight
/// is most of this task's. Built in its box, not beside it (boxing the head's read with
/// it made a 4 KiB copy a request: bench/profiling.md, round five). One future for
/// both, so the task awaits it at one point, holding neither the head nor its error.
fn answer<'a>(
    e: &'a Engine,
    client: &'a mut Downstream,
    s: &'a mut Scratch,
    err: Option<Error>,
) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
    // Built in their boxes (`in_box`): `Box::pin` built an exchange beside its box and
    // copied it in (4 KiB, ~420 instructions a request).
    match err {
        None => in_box(|| exchange::exchange(e, client, s)),
        Some(err) => in_box(|| exchange::reject(e, client, s, err)),
    }
}

/// Reads a request head that did not come whole with the idle wait's bytes, within
/// `timeouts.header`. Boxed by its caller, and rare: a future holds room for its
/// largest await point, and this read, with the engine and the scratch held across it,
/// was 72 bytes of every idle connection's task (bench/profiling.md, round six). The
/// engine is handed back, so the task does not hold it across the wait.
async fn read_head(
    e: Arc<Engine>,
    client: &mut Downstream,
    req: &mut RequestHead,
) -> (Arc<Engine>, Option<Result<(), ReadHead>>) {
    let header = e.config.timeouts.header;
    let head = rt::timeout(header, client.read_request(e.limits, req)).await;
    (e, head)
}

/// Waits for the client's next request: true when its bytes are here (or on their
/// way), false when the connection is to close (EOF, an error, the idle deadline, the
/// end of a drain's grace, or its seat given up).
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn keeps a second copy of each argument (see `accepted`)"
)]
fn idle<'a>(
    live: &'a Live,
    client: &'a mut Downstream,
    seat: &'a Seat,
    timer: &'a mut Timer,
    first: bool,
) -> impl Future<Output = bool> + 'a {
    async move {
        // A drain closes idle keep-alive connections, but not one still waiting for its
        // first request: it was accepted before the listener closed (in an upgrade,
        // while the new process already served), its client has sent or is sending that
        // request, and dropping it unanswered would fail it. It waits up to
        // `timeouts.header`, within the drain. Nor is such a connection ever asked to
        // give up its seat (see `admission`). The drain wakes listed waits only, so the
        // two go together (see `idle_wait`).
        let listed = match first {
            true => None,
            false => match seat.listed() {
                Some(listed) => Some(listed),
                None => return answer_ask(client, seat), // a new client is owed a seat
            },
        };
        // The turn's time (`rt::now`): one clock read per reactor turn, not one per wait.
        let began = rt::now();
        // In a block: the wait's outcome must not be held across the drain's grace,
        // or every idle task would have room for it.
        let waited = {
            let woke = {
                // The limit is computed in the call, not bound: a binding would be kept
                // across the wait, beside the copy the wait holds.
                let data = std::pin::pin!(client.wait_for_request());
                let listing = listed.as_ref().map(|l| (live.stop(), l));
                IdleWait::new(data, listing, timer, wait_limit(live, first)).await
            };
            if let Some(listed) = listed {
                listed.end(matches!(woke, Woke::Asked));
            }
            match woke {
                Woke::Data(Ok(n)) => return n > 0,
                // Draining, but the next request is already here: answer it (with
                // `Connection: close`) rather than close on it.
                Woke::Stop if !client.is_quiet() => return true,
                Woke::Stop => rt::now().saturating_duration_since(began),
                Woke::Asked => return answer_ask(client, seat),
                Woke::Data(Err(_)) | Woke::TimedOut => return false,
            }
        };
        // Draining and quiet. Boxed: once per connection, at a drain, where a second
        // wait inline made every idle task larger.
        Box::pin(drain_grace(live, client, waited)).await
    }
}

/// Draining and quiet after `waited` idle: closing now would race a request the
/// client sends in this instant (it would see the close and, unless it retries, fail).
/// Its next request within the grace is answered with `Connection: close`.
async fn drain_grace(live: &Live, client: &mut Downstream, waited: std::time::Duration) -> bool {
    let t = live.get().config.timeouts;
    let grace = shutdown::idle_grace(t.drain, t.idle, waited);
    let data = std::pin::pin!(client.wait_for_request());
    let mut timer = rt::Chosen::timer(grace);
    let woke = IdleWait::new(data, None, &mut timer, grace).await;
    matches!(woke, Woke::Data(Ok(n)) if n > 0)
}

/// How long a connection may wait for its next request: its first one's head must
/// arrive within `timeouts.header`, later ones may idle for `timeouts.idle`.
fn wait_limit(live: &Live, first: bool) -> std::time::Duration {
    let t = live.get().config.timeouts;
    if first {
        t.header
    } else {
        t.idle
    }
}

/// Asked to make room for a new client: close, unless a request is already on its way
/// (then it is read, and the next longest-idle connection is asked instead).
fn answer_ask(client: &Downstream, seat: &Seat) -> bool {
    if client.is_quiet() {
        seat.give_up();
        false
    } else {
        seat.pass_on();
        true
    }
}

/// Between requests: the scratch and the session's request state (its reply buffer)
/// go to the thread's list, so an idle connection holds neither (see `exchange::kept`).
fn park(held: &mut Option<Box<Scratch>>, client: &mut Downstream) {
    if let Some(mut s) = held.take() {
        s.h1 = client.park();
        kept::give(s);
    }
}

/// The connection closes: its scratch, if it holds one, with the session's request
/// state, goes to [`kept::closing`] (kept for the thread's next connection only while
/// few are).
fn close(held: &mut Option<Box<Scratch>>, client: &mut Downstream) {
    let s = held.take().map(|mut s| {
        s.h1 = client.park();
        s
    });
    kept::closing(s);
}

/// A request is arriving: its scratch, and the session's request state with it.
fn resume<'a>(held: &'a mut Option<Box<Scratch>>, client: &mut Downstream) -> &'a mut Scratch {
    held.get_or_insert_with(|| {
        let mut s = kept::take();
        client.resume(s.h1.take());
        s
    })
}

/// The plain listener `client` came in on, if it opened with the HTTP/2 preface and that
/// listener takes HTTP/2 with prior knowledge (`h2c = true`).
fn speaks_h2c(live: &Live, client: &Downstream) -> Option<ListenerId> {
    let id = client.listener.filter(|id| !id.tls)?;
    if !h2::is_preface(client.buffered()) {
        return None;
    }
    let e = live.get();
    let takes = e.listener(id).is_some_and(|i| e.config.listen[i].h2c);
    takes.then_some(id)
}

mod over_tls;

#[cfg(test)]
mod tests;
