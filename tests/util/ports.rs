//! Loopback addresses with a known fate: one that refuses every connection for as long
//! as the test holds it, and a port that was free a moment ago.
//!
//! # The rule: a port is never freed and then bound by someone else
//!
//! Tests run in parallel (and other test processes beside them), so a port that was
//! free a moment ago can be bound by another test before the program meant to bind it
//! does; the other test then answers in its place, or the program exits "address in
//! use". In order of preference:
//!
//! 1. Bind `127.0.0.1:0` and read the real address back from the program: in-process
//!    `Server::local_addrs` / `TestProxy::addrs`, weir's "listening on http://..." line
//!    (`util::bin::spawn`), a peer that prints its port (tests/grpc/*.py), a listener
//!    the test itself holds and serves from (`util::origin`).
//! 2. Let the socket be bound by the one who keeps it: systemd-socket-activate binds
//!    and passes it to weir (LISTEN_FDS, tests/systemd.rs) and fails the start itself
//!    when the port is taken.
//! 3. Where the address must be fixed and nothing reports a port (nginx, HAProxy,
//!    Prometheus, `weir demo` with stdout unread): [`free_port`] with
//!    `util::listening::start_on_free_port`, which waits until the program's own
//!    process listens on the port and tries another port when it exits first. In
//!    process, retry when `bind` says `AddrInUse` (tests/route_arrival.rs).
//! 4. A listener added on reload, found by address: port 0 on an address of 127/8 no
//!    other test uses, found with `util::listening::listening_on` (tests/tls.rs).
//! 5. An address that must refuse connections: [`Refusing`], never a port bound and
//!    dropped (another test could be listening there by the time weir connects).
//!
//! Still open: a peer killed or stopped mid-test frees its port while weir's config
//! still names it (tests/grpc_load.rs, tests/health.rs); a parallel test that binds it
//! then would answer in its place. Port 0 is picked at random from ~28,000, so this
//! needs another bind in that exact port within the test's last seconds.

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
/// (or cannot report the port `:0` became). Another test may take it in between: use
/// it only as rule 3 above says, never for an address that must stay unanswered.
pub fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}
