//! An HTTP/2 origin for the h2-upstream tests: the `h2` crate's server on smol (through
//! tokio-util's compat layer, as weir itself runs h2), plain (h2c, prior knowledge) or
//! over TLS with ALPN `h2`. It counts the connections and requests it gets.
//!
//! Answers by path: `/hash` reads the body and answers `<len> <fnv hex>`;
//! `/nolength` answers in two DATA frames with no `content-length`; anything else
//! answers the origin's name with a `content-length`; `/trailers` answers the body it
//! got, then trailers: each request trailer back as `echo-<name>`, and `grpc-status: 5`,
//! `grpc-message: nope` (`/trailers-length`: the same with a `content-length`, so weir
//! holds the last DATA frame for the trailers); `/trailers-only` answers one HEADERS frame that ends the
//! stream, with `grpc-status: 12`; `/hang` never answers and `/head-then-hang` sends
//! only a gRPC response head: both wait for the stream's reset and count it in
//! [`CANCELLED`] when its reason is CANCEL. [`Behaviour`] adds refusing every
//! stream, holding answers until enough requests are in, a GOAWAY after one, and a
//! GOAWAY with a reset connection when the test says.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use bytes::Bytes;
use futures_lite::{AsyncRead, AsyncWrite, FutureExt};
use futures_rustls::rustls::ServerConfig;
use tokio_util::compat::FuturesAsyncReadCompatExt;

pub struct H2Origin {
    pub addr: SocketAddr,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
    /// Streams (requests) received so far.
    pub requests: Arc<AtomicUsize>,
    /// Connections that have ended.
    pub closed: Arc<AtomicUsize>,
    /// Body bytes read from the stream refused by [`Behaviour::RefuseFirstAfterData`].
    pub refused_after: Arc<AtomicUsize>,
    /// The cue of [`Behaviour::ResetOnCue`].
    cue: async_channel::Sender<()>,
}

impl H2Origin {
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    pub fn closed(&self) -> usize {
        self.closed.load(Ordering::SeqCst)
    }

    pub fn refused_after(&self) -> usize {
        self.refused_after.load(Ordering::SeqCst)
    }

    /// Cues [`Behaviour::ResetOnCue`]: the connection open now goes away.
    pub fn go_away_and_reset(&self) {
        self.cue.try_send(()).expect("one cue per origin");
    }
}

/// How the origin answers.
#[derive(Clone, Copy)]
pub enum Behaviour {
    Serve,
    /// Every stream reset with `REFUSED_STREAM`, unread.
    Refuse,
    /// The origin's first stream reset with `REFUSED_STREAM` after its first DATA
    /// frame (counted in [`H2Origin::refused_after`]); the rest served.
    RefuseFirstAfterData,
    /// No answer until this many requests have arrived (over all connections), so
    /// that many are in flight at once.
    Hold(usize),
    /// A graceful GOAWAY on each connection after its first request (answered).
    GoAwayAfterOne,
    /// Each request answered `early` in full after its first DATA frame, before the
    /// request has ended (h2 then resets it with NO_ERROR, RFC 9113 §8.1); once the
    /// client has acknowledged a PING sent after it, [`EARLY_ANSWERS`] counts it.
    Early,
    /// Served, until [`H2Origin::go_away_and_reset`]: then the connection open sends a
    /// GOAWAY naming the last stream it took and closes with a TCP reset (SO_LINGER 0),
    /// as a server stopping does when the client's next frames arrive after its close.
    /// Later connections are served.
    ResetOnCue,
}

/// `/hang` and `/head-then-hang` streams reset by the client side with CANCEL.
pub static CANCELLED: AtomicUsize = AtomicUsize::new(0);

/// Early answers the client side has seen (see [`Behaviour::Early`]).
pub static EARLY_ANSWERS: AtomicUsize = AtomicUsize::new(0);

/// An h2c origin named `name` (runs until the test process ends).
pub fn h2c(name: &'static str, behaviour: Behaviour) -> H2Origin {
    start(name, behaviour, None)
}

/// An h2 origin over TLS (`tls` must offer ALPN `h2`).
pub fn h2_tls(name: &'static str, tls: Arc<ServerConfig>) -> H2Origin {
    start(name, Behaviour::Serve, Some(tls))
}

fn start(name: &'static str, behaviour: Behaviour, tls: Option<Arc<ServerConfig>>) -> H2Origin {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (cue, cued) = async_channel::bounded(1);
    let origin = H2Origin {
        addr: listener.local_addr().unwrap(),
        connections: Arc::default(),
        requests: Arc::default(),
        closed: Arc::default(),
        refused_after: Arc::default(),
        cue,
    };
    let (connections, requests) = (origin.connections.clone(), origin.requests.clone());
    let (closed, refused_after) = (origin.closed.clone(), origin.refused_after.clone());
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            connections.fetch_add(1, Ordering::SeqCst);
            if let Behaviour::ResetOnCue = behaviour {
                let zero = Some(std::time::Duration::ZERO);
                rustix::net::sockopt::set_socket_linger(&stream, zero).unwrap();
            }
            let (requests, tls, closed) = (requests.clone(), tls.clone(), closed.clone());
            let counts = Counts {
                requests,
                refused_after: refused_after.clone(),
                cued: cued.clone(),
            };
            thread::spawn(move || {
                smol::block_on(connection(stream, name, behaviour, counts, tls));
                closed.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    origin
}

/// What an origin counts, shared by its connections.
struct Counts {
    requests: Arc<AtomicUsize>,
    refused_after: Arc<AtomicUsize>,
    cued: async_channel::Receiver<()>,
}

async fn connection(
    stream: TcpStream,
    name: &'static str,
    behaviour: Behaviour,
    counts: Counts,
    tls: Option<Arc<ServerConfig>>,
) {
    let stream = smol::Async::new(stream).unwrap();
    match tls {
        None => serve(stream, name, behaviour, counts).await,
        Some(tls) => {
            let Ok(stream) = futures_rustls::TlsAcceptor::from(tls).accept(stream).await else {
                return;
            };
            serve(stream, name, behaviour, counts).await
        }
    }
}

async fn serve<S>(stream: S, name: &'static str, behaviour: Behaviour, counts: Counts)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Ok(mut conn) = h2::server::handshake(stream.compat()).await else {
        return;
    };
    let ping = std::rc::Rc::new(smol::lock::Mutex::new(conn.ping_pong()));
    let ex = smol::LocalExecutor::new();
    let Counts {
        requests,
        refused_after,
        cued,
    } = counts;
    ex.run(async {
        loop {
            // `None`: the test's cue came first. (An origin dropped closes the channel:
            // that is no cue.)
            let next = async { Some(conn.accept().await) }
                .or(async {
                    match cued.recv().await {
                        Ok(()) => None,
                        Err(_) => std::future::pending().await,
                    }
                })
                .await;
            let Some(Some(Ok((req, mut respond)))) = next else {
                if next.is_none() {
                    go_away_and_close(&mut conn).await;
                }
                return;
            };
            let first = requests.fetch_add(1, Ordering::SeqCst) == 0;
            match behaviour {
                Behaviour::Refuse => {
                    respond.send_reset(h2::Reason::REFUSED_STREAM);
                    continue;
                }
                Behaviour::RefuseFirstAfterData if first => {
                    ex.spawn(refuse_after_data(req, respond, refused_after.clone()))
                        .detach();
                }
                Behaviour::Hold(n) => {
                    let requests = requests.clone();
                    let held = async move {
                        until(|| requests.load(Ordering::SeqCst) >= n).await;
                        answer(req, respond, name).await
                    };
                    ex.spawn(held).detach();
                }
                Behaviour::GoAwayAfterOne => {
                    conn.graceful_shutdown();
                    ex.spawn(answer(req, respond, name)).detach();
                }
                Behaviour::Serve | Behaviour::RefuseFirstAfterData | Behaviour::ResetOnCue => {
                    ex.spawn(answer(req, respond, name)).detach()
                }
                Behaviour::Early => ex.spawn(early(req, respond, ping.clone())).detach(),
            }
        }
    })
    .await;
}

/// Sends a GOAWAY naming the last stream taken and ends the connection (see
/// [`Behaviour::ResetOnCue`]; the socket's linger makes its close a reset).
async fn go_away_and_close<T, B>(conn: &mut h2::server::Connection<T, B>)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    B: bytes::Buf,
{
    conn.abrupt_shutdown(h2::Reason::NO_ERROR);
    while conn.accept().await.is_some() {}
}

/// Waits (up to 10 s, checking every millisecond) until `done`.
async fn until(done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done() && std::time::Instant::now() < deadline {
        smol::Timer::after(std::time::Duration::from_millis(1)).await;
    }
}

async fn answer(
    req: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    name: &'static str,
) {
    let path = req.uri().path().to_string();
    let mut body = req.into_body();
    let mut received = Vec::new();
    while let Some(Ok(data)) = body.data().await {
        let _ = body.flow_control().release_capacity(data.len());
        received.extend_from_slice(&data);
    }
    let got_trailers = body.trailers().await.ok().flatten().unwrap_or_default();
    match path.as_str() {
        "/trailers" => return with_trailers(respond, received, got_trailers, false),
        "/trailers-length" => return with_trailers(respond, received, got_trailers, true),
        "/hang" => return hang(respond, false).await,
        "/head-then-hang" => return hang(respond, true).await,
        "/trailers-only" => {
            let head = http::Response::builder()
                .status(200)
                .header("content-type", "application/grpc")
                .header("grpc-status", "12")
                .body(());
            let _ = respond.send_response(head.unwrap(), true);
            return;
        }
        _ => {}
    }
    let reply = |text: String, length: bool| {
        let mut res = http::Response::builder()
            .status(200)
            .header("x-origin", name);
        if length {
            res = res.header("content-length", text.len());
        }
        (res.body(()).unwrap(), text)
    };
    let (head, text) = match path.as_str() {
        "/hash" => reply(
            format!("{} {:x}", received.len(), super::fnv(&received)),
            true,
        ),
        "/nolength" => reply(format!("{name} without a length"), false),
        _ => reply(name.to_string(), true),
    };
    let Ok(mut out) = respond.send_response(head, false) else {
        return;
    };
    let (a, b) = text.as_bytes().split_at(text.len() / 2);
    let _ = out.send_data(Bytes::copy_from_slice(a), false);
    let _ = out.send_data(Bytes::copy_from_slice(b), true);
}

/// Answers nothing (or only a gRPC head, if `head`) until the stream is reset; counts
/// a reset with CANCEL in [`CANCELLED`].
async fn hang(mut respond: h2::server::SendResponse<Bytes>, head: bool) {
    use std::future::poll_fn;
    let reason = if head {
        let res = http::Response::builder()
            .status(200)
            .header("content-type", "application/grpc")
            .body(());
        let Ok(mut out) = respond.send_response(res.unwrap(), false) else {
            return;
        };
        poll_fn(|cx| out.poll_reset(cx)).await
    } else {
        poll_fn(|cx| respond.poll_reset(cx)).await
    };
    if let Ok(h2::Reason::CANCEL) = reason {
        CANCELLED.fetch_add(1, Ordering::SeqCst);
    }
}

/// Answers `body` (with its `content-length` if `length`), then trailers: each of `got`
/// back as `echo-<name>`, and a gRPC status.
fn with_trailers(
    mut respond: h2::server::SendResponse<Bytes>,
    body: Vec<u8>,
    got: http::HeaderMap,
    length: bool,
) {
    let mut head = http::Response::builder().status(200);
    if length {
        head = head.header("content-length", body.len());
    }
    let head = head.body(()).unwrap();
    let Ok(mut out) = respond.send_response(head, false) else {
        return;
    };
    let mut trailers = http::HeaderMap::new();
    for (name, value) in &got {
        let echo = http::HeaderName::from_bytes(format!("echo-{name}").as_bytes()).unwrap();
        trailers.append(echo, value.clone());
    }
    trailers.insert("grpc-status", http::HeaderValue::from_static("5"));
    trailers.insert("grpc-message", http::HeaderValue::from_static("nope"));
    let _ = out.send_data(Bytes::from(body), false);
    let _ = out.send_trailers(trailers);
}

/// See [`Behaviour::RefuseFirstAfterData`].
async fn refuse_after_data(
    req: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    refused_after: Arc<AtomicUsize>,
) {
    let mut body = req.into_body();
    if let Some(Ok(data)) = body.data().await {
        refused_after.store(data.len(), Ordering::SeqCst);
    }
    respond.send_reset(h2::Reason::REFUSED_STREAM);
}

/// See [`Behaviour::Early`].
async fn early(
    req: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    ping: std::rc::Rc<smol::lock::Mutex<Option<h2::PingPong>>>,
) {
    let mut body = req.into_body();
    let _first = body.data().await;
    let head = http::Response::builder()
        .status(200)
        .header("content-length", 5)
        .body(())
        .unwrap();
    let Ok(mut out) = respond.send_response(head, false) else {
        return;
    };
    let _ = out.send_data(Bytes::from_static(b"early"), true);
    drop(body);
    // Frames arrive in order: once the PING is acknowledged, the client has taken in
    // the answer and the reset.
    if let Some(ping) = ping.lock().await.as_mut() {
        let _ = ping.ping(h2::Ping::opaque()).await;
    }
    EARLY_ANSWERS.fetch_add(1, Ordering::SeqCst);
}
