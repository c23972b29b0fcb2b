//! Loopback addresses with a known fate: one that refuses every connection for as long
//! as the test holds it, and a port that was free a moment ago.

use std::net::{SocketAddr, TcpListener, TcpStream};

/// An address on 127.0.0.1 that refuses connections (RST, `ECONNREFUSED`) for as long
/// as this value lives. A port bound and then freed can be taken by another test in
/// the meantime (the suite runs tests in parallel), which then answers instead; std
/// cannot bind a socket without listening, so this holds the client end of a loopback
/// connection instead: its port is bound, nothing listens on it, and no other socket
/// can bind it while it stays open (it was not bound with `SO_REUSEADDR`, and a port
/// asked for as `:0` is never one in use).
pub struct Refusing {
    pub addr: SocketAddr,
    _client: TcpStream,
    _server: TcpStream,
}

impl Refusing {
    pub fn new() -> Refusing {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        Refusing {
            addr: client.local_addr().unwrap(),
            _client: client,
            _server: server,
        }
    }
}

/// A port free a moment ago, for a program that needs its address before it binds
/// (or cannot report the port `:0` became). Another test may take it in between; use
/// it only where the program binds it at once, and [`Refusing`] for an address that
/// must stay unanswered.
pub fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}
