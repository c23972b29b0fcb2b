//! An h2 server that stops sends a GOAWAY naming the last stream it took, then closes;
//! frames weir sends after that close come back as a TCP reset. A request that comes
//! in the same turn as the reset must go on a new connection, not fail (502): the
//! GOAWAY says its stream was not processed. grpc-core and nginx stop this way.
//!
//! The turn is made on purpose: weir (the binary, one thread) is stopped with SIGSTOP
//! while the origin goes away with a reset and the client's request arrives, then
//! resumed, and finds both at once. The narrower race, a write that meets the reset
//! before h2 has read the GOAWAY, cannot be timed from outside; the unit tests of
//! src/http/read_past_reset.rs cover it on a real socket.

mod util;

use util::bin::{signal, spawn, write_config};
use util::client::{get, Conn};
use util::h2origin::{self, Behaviour};
use util::wait::{wait_until, WAIT};

#[test]
fn a_request_arriving_as_the_server_resets_after_its_goaway_goes_on_a_new_connection() {
    let origin = h2origin::h2c("o", Behaviour::ResetOnCue);
    let text = format!(
        "listen = \"127.0.0.1:0\"\nthreads = 1\n[upstream]\nservers = [\"{}\"]\n\
         protocol = \"h2c\"\n",
        origin.addr
    );
    let config = write_config("h2_upstream_goaway_reset", &text);
    let weir = spawn(&["serve", "--config", &config], "stderr", "listening on").holding(config);
    let mut client = Conn::open(weir.addr);
    let first = client.roundtrip(&get("/first"));
    assert_eq!((first.status, first.text()), (200, "o".to_string()));

    signal(&weir.child, "STOP");
    origin.go_away_and_reset();
    wait_until(WAIT, "the origin closed", || origin.closed() == 1);
    client.send(&get("/second"));
    signal(&weir.child, "CONT");

    let second = client.read(false).expect("an answer");
    assert_eq!((second.status, second.text()), (200, "o".to_string()));
    // The stream went again on a new connection, and the origin took it once.
    assert_eq!((origin.connections(), origin.requests()), (2, 2));
}
