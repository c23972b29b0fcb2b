//! A scripted origin on real sockets: counts accepts, records every request it reads
//! (head bytes exactly as received, body decoded), and answers as the test says.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::client::read_chunked;

/// A request as the origin saw it.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub target: String,
    /// The head exactly as received, request line through the empty line.
    pub raw_head: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the origin does with a request.
pub enum Reply {
    /// Write these bytes and keep the connection for the next request.
    Bytes(Vec<u8>),
    /// Write these bytes, then close.
    BytesThenClose(Vec<u8>),
    /// Close without answering.
    Close,
}

/// `HTTP/1.1 200` with a Content-Length body.
pub fn ok(body: &[u8]) -> Reply {
    let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    r.extend_from_slice(body);
    Reply::Bytes(r)
}

pub struct Origin {
    pub addr: SocketAddr,
    accepts: Arc<AtomicUsize>,
    closes: Arc<AtomicUsize>,
    seen: Receiver<Req>,
}

impl Origin {
    /// Connections accepted so far.
    pub fn accepts(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }

    /// Connections that have ended so far (closed by either side).
    pub fn closes(&self) -> usize {
        self.closes.load(Ordering::SeqCst)
    }

    /// Waits up to 20 s for `closes()` to reach `n`; false if it never did.
    pub fn wait_closes(&self, n: usize) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.closes() < n {
            if Instant::now() > deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
        true
    }

    /// The next request the origin read (waits for it, up to 20 s).
    pub fn next_request(&self) -> Req {
        self.seen
            .recv_timeout(Duration::from_secs(20))
            .expect("origin saw a request")
    }

    /// A request already read, if any (does not wait).
    pub fn try_request(&self) -> Option<Req> {
        self.seen.try_recv().ok()
    }
}

type Handler = dyn Fn(&Req) -> Reply + Send + Sync;

/// Starts an origin on 127.0.0.1:0 answering with `handler`.
pub fn origin(handler: impl Fn(&Req) -> Reply + Send + Sync + 'static) -> Origin {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepts = Arc::new(AtomicUsize::new(0));
    let (tx, seen) = channel();
    let handler: Arc<Handler> = Arc::new(handler);
    let count = accepts.clone();
    let closes = Arc::new(AtomicUsize::new(0));
    let ended = closes.clone();
    let tx = Arc::new(Mutex::new(tx));
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            count.fetch_add(1, Ordering::SeqCst);
            let handler = handler.clone();
            let tx = tx.lock().unwrap().clone();
            let ended = ended.clone();
            thread::spawn(move || {
                serve(stream, &*handler, tx);
                ended.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    Origin {
        addr,
        accepts,
        closes,
        seen,
    }
}

fn serve(stream: TcpStream, handler: &Handler, tx: Sender<Req>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    while let Some(req) = read_request(&mut reader) {
        let reply = handler(&req);
        let _ = tx.send(req);
        match reply {
            Reply::Bytes(b) => {
                if out.write_all(&b).is_err() {
                    return;
                }
            }
            Reply::BytesThenClose(b) => {
                let _ = out.write_all(&b);
                return;
            }
            Reply::Close => return,
        }
    }
}

fn read_request(r: &mut impl BufRead) -> Option<Req> {
    let mut raw = String::new();
    loop {
        let mut l = String::new();
        if r.read_line(&mut l).ok()? == 0 {
            return None;
        }
        raw.push_str(&l);
        if l == "\r\n" || l == "\n" {
            break;
        }
    }
    let mut lines = raw.lines();
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.to_string(), v.trim().to_string()))
        .collect();
    let mut req = Req {
        method,
        target,
        raw_head: raw,
        headers,
        body: Vec::new(),
    };
    if req.header("transfer-encoding").is_some() {
        req.body = read_chunked(r)?;
    } else if let Some(n) = req.header("content-length") {
        let mut body = vec![0; n.parse().ok()?];
        r.read_exact(&mut body).ok()?;
        req.body = body;
    }
    Some(req)
}
