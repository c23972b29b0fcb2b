//! The lab's origin server, built in: `weir backend --name TEXT | --echo | --dir PATH`.
//!
//! It speaks the same HTTP/1.1 code as the proxy (parse, framing, body), so it keeps
//! connections alive, handles chunked uploads, and can be trusted in tests.
//! - `--name TEXT`: every request gets 200 with body `TEXT\n`; handy behind a balancer,
//!   since each backend answers uniquely.
//! - `--echo`: the body is the request head exactly as received, then the request body
//!   (de-chunked): how a learner sees what a proxy really sends.
//! - `--dir PATH`: static files, like `python3 -m http.server`.

mod dir;

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::io::sink;
use futures_lite::FutureExt;

use crate::http::body::{self, write_all_vectored, Copy, Out};
use crate::http::conn::Conn;
use crate::http::framing::{self, Body};
use crate::http::parse::{self, HeadLimits};
use crate::http::write::{self, Framing};
use crate::http::{RequestHead, ResponseHead};
use crate::rt::{self, Runtime, TcpListener, TcpStream};

/// What the backend answers.
#[derive(Clone, Debug)]
pub enum Mode {
    Name(String),
    Echo,
    Dir(PathBuf),
}

const LIMITS: HeadLimits = HeadLimits {
    max_bytes: 64 * 1024,
    max_headers: 256,
};
const TIMEOUT: Duration = Duration::from_secs(60);

/// A bound origin server.
pub struct Backend {
    listener: TcpListener,
    mode: Arc<Mode>,
}

impl Backend {
    pub fn bind(addr: SocketAddr, mode: Mode) -> io::Result<Backend> {
        if let Mode::Dir(p) = &mode {
            if !p.is_dir() {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{} is not a directory", p.display()),
                ));
            }
        }
        Ok(Backend {
            // A burst through weir opens as many connections here at once.
            listener: rt::bind(addr, crate::config::DEFAULT_BACKLOG)?,
            mode: Arc::new(mode),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        rt::local_addr(&self.listener).expect("bound listener has an address")
    }

    /// Accepts and serves connections on `runtime` until the future is dropped.
    pub async fn serve(self, runtime: Runtime) {
        loop {
            let Ok((stream, _)) = rt::accept(&self.listener).await else {
                rt::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let mode = self.mode.clone();
            runtime
                .spawn(async move { connection(stream, &mode).await })
                .detach();
        }
    }

    /// Serves on the current thread (plus `threads - 1`) until SIGTERM / SIGINT.
    pub fn run(self, threads: usize) -> io::Result<()> {
        let mut term = rt::Caught::termination()?;
        let runtime = Runtime::new();
        runtime.clone().block_on(threads, async move {
            self.serve(runtime).or(term.next()).await;
            Ok(())
        })
    }
}

async fn connection(stream: TcpStream, mode: &Mode) {
    let mut conn = Conn::new(&stream, 4096, LIMITS.max_bytes);
    let mut req = RequestHead::default();
    let mut out = Vec::new();
    loop {
        let n = match rt::timeout(TIMEOUT, parse::read_request(&mut conn, LIMITS, &mut req)).await {
            Some(Ok(n)) => n,
            Some(Err(parse::ReadHead::Failed(e))) => {
                let _ = reply(
                    &stream,
                    &mut out,
                    e.status(),
                    "text/plain",
                    b"bad request\n",
                    false,
                    false,
                )
                .await;
                return;
            }
            _ => return,
        };
        let raw_head = match mode {
            Mode::Echo => conn.buffered()[..n].to_vec(),
            _ => Vec::new(),
        };
        conn.consume(n);
        let Ok(body) = framing::request(&req) else {
            let _ = reply(
                &stream,
                &mut out,
                400,
                "text/plain",
                b"bad framing\n",
                false,
                false,
            )
            .await;
            return;
        };
        let keep = if req.protocol.is_http10() {
            req.headers.has_token("connection", "keep-alive")
        } else {
            !req.headers.has_token("connection", "close")
        };
        let ok = match mode {
            Mode::Name(text) => {
                let drained =
                    body::copy(&mut conn, body, &mut sink(), Out::Raw, copy_opts(b"")).await;
                let text = format!("{text}\n");
                drained.is_ok()
                    && reply(
                        &stream,
                        &mut out,
                        200,
                        "text/plain; charset=utf-8",
                        text.as_bytes(),
                        keep,
                        req.is_head(),
                    )
                    .await
                    .is_ok()
            }
            Mode::Echo => echo(&stream, &mut conn, &mut out, &raw_head, body, keep)
                .await
                .is_ok(),
            Mode::Dir(root) => {
                let drained =
                    body::copy(&mut conn, body, &mut sink(), Out::Raw, copy_opts(b"")).await;
                drained.is_ok()
                    && dir::serve(&stream, &mut out, root, &req, keep)
                        .await
                        .is_ok()
            }
        };
        if !ok || !keep {
            return;
        }
    }
}

fn copy_opts(prefix: &[u8]) -> Copy<'_> {
    Copy {
        read_timeout: TIMEOUT,
        write_timeout: TIMEOUT,
        limit: 0,
        prefix,
    }
}

/// Writes a complete response with a fixed body.
pub(crate) async fn reply(
    stream: &TcpStream,
    out: &mut Vec<u8>,
    status: u16,
    content_type: &str,
    body: &[u8],
    keep: bool,
    head_only: bool,
) -> io::Result<()> {
    let mut res = ResponseHead {
        status,
        ..Default::default()
    };
    let _ = res.headers.add("Content-Type", content_type);
    write::local_response_head(
        out,
        &res,
        Framing::Length(body.len() as u64),
        (!keep).then_some("close"),
    );
    let body = if head_only { &[][..] } else { body };
    write_all_vectored(&mut &*stream, &mut [IoSlice::new(out), IoSlice::new(body)]).await
}

/// Echoes the raw head, then the de-chunked body: with a known length as Content-Length,
/// else chunked.
async fn echo(
    stream: &TcpStream,
    conn: &mut Conn<&TcpStream>,
    out: &mut Vec<u8>,
    raw_head: &[u8],
    body: Body,
    keep: bool,
) -> Result<(), ()> {
    let mut res = ResponseHead {
        status: 200,
        ..Default::default()
    };
    let _ = res.headers.add("Content-Type", "text/plain; charset=utf-8");
    let (framing, kind) = match body {
        Body::Length(n) => (Framing::Length(raw_head.len() as u64 + n), Out::Raw),
        Body::Empty => (Framing::Length(raw_head.len() as u64), Out::Raw),
        _ => (Framing::Chunked, Out::Chunked),
    };
    write::local_response_head(out, &res, framing, (!keep).then_some("close"));
    if kind == Out::Chunked {
        let mut size = Vec::new();
        size.extend_from_slice(format!("{:x}\r\n", raw_head.len()).as_bytes());
        out.extend_from_slice(&size);
        out.extend_from_slice(raw_head);
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(raw_head);
    }
    body::copy(conn, body, &mut &*stream, kind, copy_opts(out))
        .await
        .map(drop)
        .map_err(drop)
}
