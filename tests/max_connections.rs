//! `limits.max_connections` with the real binary: at the limit new clients wait in the
//! listen backlog and the client that has idled longest between requests gives up its
//! seat to one (as nginx reuses idle keep-alive connections); a client mid-request, or
//! one whose first request is not answered yet, is never cut, so a burst far past the
//! limit is served in full; reaching the limit and leaving it are logged once per
//! episode.

mod util;

use std::fs;

use util::bin::{spawn, temp_dir, Running};
use util::client::{burst, get, Conn};
use util::origin::{ok, origin, Origin};
use weir::backend::Mode;

const REACHED: &str = "limits.max_connections (MAX) reached";
const LEFT: &str = "below limits.max_connections (MAX) again";

/// weir on one thread with `max_connections = max`, in front of `o`.
fn weir_with_limit(o: &Origin, max: usize, name: &str) -> Running {
    weir_in_front_of(o.addr, max, name)
}

/// weir on one thread with `max_connections = max`, in front of `up`.
fn weir_in_front_of(up: std::net::SocketAddr, max: usize, name: &str) -> Running {
    let dir = temp_dir(name);
    let path = dir.join("weir.toml");
    let text = format!(
        "listen = \"127.0.0.1:0\"\nthreads = 1\n[limits]\nmax_connections = {max}\n\
         [upstream]\nservers = [\"{up}\"]\n[[middleware]]\nbuiltin = \"balancer\"\n"
    );
    fs::write(&path, text).unwrap();
    spawn(
        &["serve", "--config", path.to_str().unwrap()],
        "stderr",
        "listening on",
    )
    .holding(dir)
}

/// A client that has had one request answered and now idles between requests.
fn idle_client(weir: &Running) -> Conn {
    let mut c = Conn::open(weir.addr);
    assert_eq!(c.roundtrip(&get("/")).text(), "hi");
    c
}

fn count(weir: &Running, text: &str) -> usize {
    weir.later
        .snapshot()
        .iter()
        .filter(|l| l.contains(text))
        .count()
}

#[test]
fn at_the_limit_the_longest_idle_client_makes_room_and_the_episode_is_logged_once() {
    let o = origin(|_| ok(b"hi"));
    let weir = weir_with_limit(&o, 50, "maxconn-idle");
    let (reached, left) = (REACHED.replace("MAX", "50"), LEFT.replace("MAX", "50"));
    let mut idle: Vec<Conn> = (0..50).map(|_| idle_client(&weir)).collect();
    // Fifty idle keep-alive clients hold every seat; new clients are still served, and
    // the ones that idled longest, in order, are the ones that made room.
    let mut newer: Vec<Conn> = (0..5).map(|_| idle_client(&weir)).collect();
    for (i, c) in idle.iter_mut().take(5).enumerate() {
        assert!(c.is_closed(), "client {i} (idle longest) was not closed");
    }
    let long = std::time::Duration::from_secs(20);
    assert!(weir.later.wait_for(&reached, long).is_some());
    assert_eq!(count(&weir, &reached), 1, "{:?}", weir.later.snapshot());
    // Everyone leaves: the episode ends, once.
    idle.clear();
    newer.clear();
    let line = weir.later.wait_for(&left, long);
    let line = line.unwrap_or_else(|| panic!("no end of episode: {:?}", weir.later.snapshot()));
    assert!(line.contains("5 idle connection(s) were closed"), "{line}");
    // A second episode is a second pair of lines.
    let _full: Vec<Conn> = (0..51).map(|_| idle_client(&weir)).collect();
    assert!(weir.later.wait_until(long, |lines| lines
        .iter()
        .filter(|l| l.contains(&reached))
        .count()
        == 2));
    assert_eq!(count(&weir, &left), 1);
}

#[test]
fn at_the_limit_a_client_mid_request_is_never_cut() {
    let o = origin(|_| ok(b"hi"));
    let weir = weir_with_limit(&o, 3, "maxconn-mid");
    // Half a head, sent first: the oldest connection, but not an idle one.
    let mut mid = Conn::open(weir.addr);
    mid.send(b"GET / HTTP/1.1\r\nHo");
    let mut first: Vec<Conn> = (0..2).map(|_| idle_client(&weir)).collect();
    // Six newcomers, each making room by closing an idle client (the two above, then
    // each other), never the one mid-request.
    let _later: Vec<Conn> = (0..6).map(|_| idle_client(&weir)).collect();
    for c in &mut first {
        assert!(c.is_closed());
    }
    mid.send(b"st: test\r\n\r\n");
    assert_eq!(
        mid.read(false)
            .expect("the request mid-way is answered")
            .text(),
        "hi"
    );
}

#[test]
fn a_burst_of_1000_clients_at_a_limit_of_50_is_served_in_full() {
    const CLIENTS: usize = 1000;
    let cap = weir::rt::somaxconn().unwrap_or(u32::MAX) as usize;
    assert!(
        cap > CLIENTS,
        "the waiting clients must fit in the listen backlog: net.core.somaxconn is {cap}"
    );
    let limit = weir::rt::raise_fd_limit().expect("open-file limits");
    assert!(limit.soft as usize > 2 * CLIENTS, "{limit:?}");
    let weir = weir_in_front_of(
        util::backend(Mode::Name("fine".into())),
        50,
        "maxconn-burst",
    );
    // Every client connects and sends one request before any reads: 50 get seats, 950
    // wait in the backlog, and each answered client, idle now, makes room for one.
    let _clients = burst(weir.addr, CLIENTS, "fine\n");
    // weir wrote the line before it served the 51st client, but the thread that reads
    // its stderr for this test may not have read it yet: wait for it, then count.
    let reached = REACHED.replace("MAX", "50");
    let long = std::time::Duration::from_secs(20);
    assert!(
        weir.later.wait_for(&reached, long).is_some(),
        "{:?}",
        weir.later.snapshot()
    );
    assert_eq!(count(&weir, &reached), 1, "{:?}", weir.later.snapshot());
}
