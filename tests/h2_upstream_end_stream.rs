//! How weir ends a request body on an h2 upstream stream, frame by frame (a raw h2c
//! origin): a client body whose last DATA frame came flagged END_STREAM goes up the
//! same way, its last DATA frame ending the stream, not followed by an empty DATA frame
//! (a unary gRPC call is then HEADERS and one DATA frame, as nginx's `grpc_pass` and
//! HAProxy send it), and in the same write as the HEADERS: h2 is handed the body's first
//! piece at once, not after a round trip through the connection's task to learn of the
//! server's window.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use util::h2::{
    answer, block, frame, frame_kinds, read_frame, Frame, ACK, DATA, END_HEADERS, END_STREAM,
    HEADERS, SETTINGS,
};
use weir::config::UpstreamProtocol;

/// HPACK: `:status 200`, indexed from the static table (RFC 7541 Appendix A).
const STATUS_200: u8 = 0x88;

/// A one-connection h2c origin: answers stream 1 with `:status 200` (ending it) once
/// the request's stream has ended, and sends back the frames of stream 1 it read, each
/// with the number of the socket read that completed it.
fn origin() -> (SocketAddr, mpsc::Receiver<Vec<(Frame, usize)>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut s = Reads::new(s);
        let mut preface = [0u8; 24];
        s.read_exact(&mut preface).unwrap();
        s.write_all(&frame(SETTINGS, 0, 0, b""));
        let mut frames = Vec::new();
        while let Some(f) = read_frame(&mut s) {
            if f.kind == SETTINGS && f.flags & ACK == 0 {
                s.write_all(&frame(SETTINGS, ACK, 0, b""));
            }
            if f.stream != 1 {
                continue;
            }
            let end = f.flags & END_STREAM != 0;
            frames.push((f, s.reads));
            if end {
                let head = frame(HEADERS, END_STREAM | END_HEADERS, 1, &[STATUS_200]);
                s.write_all(&head);
                break;
            }
        }
        let _ = tx.send(frames);
        // Held open until weir lets go, so the answer is read whole.
        let _ = s.read(&mut [0u8; 64]);
    });
    (addr, rx)
}

/// The origin's socket, counting its reads: frames completed by the same read came in
/// the same write (or writes that arrived together).
struct Reads {
    s: TcpStream,
    buf: Vec<u8>,
    at: usize,
    reads: usize,
}

impl Reads {
    fn new(s: TcpStream) -> Self {
        Reads {
            s,
            buf: Vec::new(),
            at: 0,
            reads: 0,
        }
    }

    fn write_all(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).unwrap();
    }
}

impl Read for Reads {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.buf.len() {
            self.buf.resize(64 * 1024, 0);
            let n = self.s.read(&mut self.buf)?;
            self.buf.truncate(n);
            self.at = 0;
            self.reads += 1;
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// A proxy with one `h2c` listener in front of the h2c `origin`.
fn proxy(origin: SocketAddr) -> util::TestProxy {
    util::h2c_proxy(origin, UpstreamProtocol::H2c, "")
}

/// A gRPC-shaped POST on stream 1: HEADERS, then one DATA frame flagged END_STREAM, in
/// one write (as h2load and gRPC clients send a unary call).
fn call(proxy: SocketAddr, body: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(proxy).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let fields = [
        (":method", "POST"),
        (":scheme", "http"),
        (":authority", "a.test"),
        (":path", "/weir.Test/Unary"),
        ("content-type", "application/grpc"),
    ];
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(SETTINGS, 0, 0, b""));
    out.extend(frame(HEADERS, END_HEADERS, 1, &block(&fields)));
    out.extend(frame(DATA, END_STREAM, 1, body));
    s.write_all(&out).unwrap();
    s
}

#[test]
fn a_body_that_ended_goes_up_ending_with_its_last_data_frame() {
    let (o, seen) = origin();
    let p = proxy(o);
    let message = b"\0\0\0\0\x05hello";
    let mut client = call(p.addr, message);
    assert_eq!(
        answer(&mut client, 1),
        Some(HEADERS),
        "the call is answered"
    );
    let seen = seen.recv_timeout(Duration::from_secs(10)).unwrap();
    let (frames, _): (Vec<Frame>, Vec<usize>) = seen.into_iter().unzip();
    assert_eq!(
        frame_kinds(&frames),
        vec![
            (HEADERS, frames[0].payload.len(), false),
            (DATA, message.len(), true)
        ],
        "HEADERS, then one DATA frame of the body that ends the stream: {frames:?}"
    );
    assert_eq!(frames[1].payload, message);
}

/// Before, the body's first piece waited for h2 to give the just-opened stream a
/// window, which it does only once the connection's task has run: the HEADERS went up
/// alone and the DATA in a later write, after a round trip between the call's task and
/// the connection's. Now both go in one write. One worker thread, so that the
/// connection's task cannot run on another thread between the two hand-overs. (Before,
/// the two writes were microseconds apart and the origin often read them together: it
/// failed in some of its calls, not every one, hence the 20 calls.)
#[test]
fn a_unary_calls_headers_and_data_go_up_in_one_write() {
    for _ in 0..20 {
        let (o, seen) = origin();
        let p = util::h2c_proxy(o, UpstreamProtocol::H2c, "threads = 1");
        let mut client = call(p.addr, b"\0\0\0\0\x05hello");
        assert_eq!(answer(&mut client, 1), Some(HEADERS));
        let seen = seen.recv_timeout(Duration::from_secs(10)).unwrap();
        let reads: Vec<(u8, usize)> = seen.iter().map(|(f, n)| (f.kind, *n)).collect();
        assert!(
            matches!(reads[..], [(HEADERS, a), (DATA, b)] if a == b),
            "HEADERS and DATA completed by the same read: {reads:?}"
        );
    }
}

/// The same for an HTTP/1.1 client's body with a length (HEADERS, its DATA, and the
/// empty DATA frame that ends the stream): all in one write, where before the HEADERS
/// went alone.
#[test]
fn an_http1_posts_headers_and_body_go_up_in_one_write() {
    for _ in 0..20 {
        let (o, seen) = origin();
        let p = util::h2c_proxy(o, UpstreamProtocol::H2c, "threads = 1");
        let mut client = TcpStream::connect(p.addr).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let post = "POST /p HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nhello";
        client.write_all(post.as_bytes()).unwrap();
        let mut status = [0u8; 12];
        client.read_exact(&mut status).unwrap();
        assert_eq!(&status, b"HTTP/1.1 200", "the POST is answered");
        let seen = seen.recv_timeout(Duration::from_secs(10)).unwrap();
        let reads: Vec<(u8, usize)> = seen.iter().map(|(f, n)| (f.kind, *n)).collect();
        assert!(
            matches!(reads[..], [(HEADERS, a), (DATA, b), (DATA, c)] if a == b && b == c),
            "HEADERS and both DATA frames completed by the same read: {reads:?}"
        );
    }
}
