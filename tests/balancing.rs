//! Round-robin through the real proxy: order and smooth weights.

mod util;

use util::client::{get, Conn};

#[test]
fn round_robin_visits_backends_in_order() {
    let backends = util::named_backends(3);
    let proxy = util::start(util::config(&backends));
    // One connection, keep-alive: the balancer still rotates per request.
    let mut c = Conn::open(proxy.addr);
    let answers: Vec<String> = (0..7).map(|_| c.roundtrip(&get("/")).text()).collect();
    let expected: Vec<String> = [1, 2, 3, 1, 2, 3, 1]
        .iter()
        .map(|i| format!("backend {i}\n"))
        .collect();
    assert_eq!(answers, expected);
}

#[test]
fn weights_are_smooth_not_bursty() {
    let backends = util::named_backends(2);
    let mut config = util::config(&backends);
    config.upstreams[0].weight = 3;
    let proxy = util::start(config);
    let picks: String = (0..8)
        .map(|_| {
            let body = util::client::once(proxy.addr, &get("/")).text();
            if body == "backend 1\n" {
                'A'
            } else {
                'B'
            }
        })
        .collect();
    // nginx's smooth weighted round-robin: 3:1 is A A B A, never A A A B.
    assert_eq!(picks, "AABAAABA");
}
