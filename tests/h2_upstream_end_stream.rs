//! How weir ends a request body on an h2 upstream stream, frame by frame (a raw h2c
//! origin): a client body whose last DATA frame came flagged END_STREAM goes up the
//! same way, its last DATA frame ending the stream, not followed by an empty DATA frame
//! (a unary gRPC call is then HEADERS and one DATA frame, as nginx's `grpc_pass` and
//! HAProxy send it).

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
/// the request's stream has ended, and sends back the frames of stream 1 it read.
fn origin() -> (SocketAddr, mpsc::Receiver<Vec<Frame>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut preface = [0u8; 24];
        s.read_exact(&mut preface).unwrap();
        s.write_all(&frame(SETTINGS, 0, 0, b"")).unwrap();
        let mut frames = Vec::new();
        while let Some(f) = read_frame(&mut s) {
            if f.kind == SETTINGS && f.flags & ACK == 0 {
                s.write_all(&frame(SETTINGS, ACK, 0, b"")).unwrap();
            }
            if f.stream != 1 {
                continue;
            }
            let end = f.flags & END_STREAM != 0;
            frames.push(f);
            if end {
                let head = frame(HEADERS, END_STREAM | END_HEADERS, 1, &[STATUS_200]);
                s.write_all(&head).unwrap();
                break;
            }
        }
        let _ = tx.send(frames);
        // Held open until weir lets go, so the answer is read whole.
        let _ = s.read(&mut [0u8; 64]);
    });
    (addr, rx)
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
    let frames = seen.recv_timeout(Duration::from_secs(10)).unwrap();
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
