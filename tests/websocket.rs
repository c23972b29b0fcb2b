//! WebSocket upgrades (RFC 6455 §4, RFC 9110 §7.8): tunnelled only on a real 101
//! handshake; 426 keeps HTTP; a close on one side closes the other; other upgrades
//! are stripped.

mod util;

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;

use tungstenite::{Message, WebSocket};
use util::client::{get, Conn};
use util::origin::{ok, origin, Reply};

/// A WebSocket echo origin: echoes each message, then closes when the client does.
fn echo_origin() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || {
                let Ok(mut ws) = tungstenite::accept(stream) else {
                    return;
                };
                while let Ok(msg) = ws.read() {
                    if msg.is_text() || msg.is_binary() {
                        ws.send(msg).unwrap();
                    }
                }
            });
        }
    });
    addr
}

fn connect(proxy: SocketAddr) -> WebSocket<TcpStream> {
    let stream = TcpStream::connect(proxy).unwrap();
    let (ws, res) = tungstenite::client::client(format!("ws://{proxy}/chat"), stream)
        .expect("handshake through weir");
    assert_eq!(res.status(), 101);
    ws
}

#[test]
fn websocket_messages_echo_through_the_tunnel() {
    let proxy = util::start(util::config(&[echo_origin()]));
    let mut ws = connect(proxy.addr);
    ws.send(Message::text("hello through weir")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("hello through weir"));
    let big = util::pattern(200_000, 9);
    ws.send(Message::binary(big.clone())).unwrap();
    assert_eq!(ws.read().unwrap().into_data().to_vec(), big);
    ws.close(None).unwrap();
}

#[test]
fn origin_closing_the_tunnel_closes_the_client_side() {
    // Accepts the handshake, then drops the connection at once.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            drop(tungstenite::accept(stream));
        }
    });
    let proxy = util::start(util::config(&[addr]));
    let ws = connect(proxy.addr);
    let mut raw = ws.into_inner();
    // A tunnel left half-open would block here; the timeout turns that into a failure.
    raw.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut rest = Vec::new();
    raw.read_to_end(&mut rest)
        .expect("EOF, not a hang or reset");
}

const UPGRADE: &[u8] = b"GET /chat HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

#[test]
fn a_426_answer_keeps_the_connection_in_http() {
    let o = origin(|r| {
        if r.header("upgrade").is_some() {
            Reply::Bytes(b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 4\r\n\r\nnope".to_vec())
        } else {
            ok(b"plain")
        }
    });
    let proxy = util::start(util::config(&[o.addr]));
    let mut c = Conn::open(proxy.addr);
    let r = c.roundtrip(UPGRADE);
    assert_eq!((r.status, r.text().as_str()), (426, "nope"));
    assert_eq!(
        c.roundtrip(&get("/")).text(),
        "plain",
        "still speaking HTTP on the same connection"
    );
    let seen = o.next_request();
    assert_eq!(
        seen.header("upgrade"),
        Some("websocket"),
        "the upgrade was offered to the origin"
    );
}

#[test]
fn a_101_without_a_websocket_accept_is_502_not_a_tunnel() {
    let o = origin(|_| {
        Reply::Bytes(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n".to_vec())
    });
    let proxy = util::start(util::config(&[o.addr]));
    assert_eq!(Conn::open(proxy.addr).roundtrip(UPGRADE).status, 502);
}

#[test]
fn h2c_and_other_upgrades_are_stripped_and_served_as_http11() {
    let o = origin(|_| ok(b"http/1.1 it is"));
    let proxy = util::start(util::config(&[o.addr]));
    let raw = b"GET / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n";
    let r = Conn::open(proxy.addr).roundtrip(raw);
    assert_eq!((r.status, r.text().as_str()), (200, "http/1.1 it is"));
    let seen = o.next_request();
    for gone in ["upgrade", "http2-settings", "connection"] {
        assert!(
            seen.header(gone).is_none(),
            "{gone} reached the origin: {}",
            seen.raw_head
        );
    }
}

#[test]
fn upgrade_with_a_body_or_without_a_key_is_not_tunnelled() {
    let o = origin(|r| ok(r.header("upgrade").unwrap_or("none").as_bytes()));
    let proxy = util::start(util::config(&[o.addr]));
    let no_key = b"GET / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    assert_eq!(Conn::open(proxy.addr).roundtrip(no_key).text(), "none");
    let post = b"POST / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: a2V5a2V5a2V5a2V5a2V5a2V5\r\nContent-Length: 1\r\n\r\nx";
    assert_eq!(Conn::open(proxy.addr).roundtrip(post).text(), "none");
}
