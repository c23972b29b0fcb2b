//! What a plugin costs per request, next to a built-in doing the same work: both set one
//! request header, and each request runs every phase of the chain in-process (no
//! sockets, so the number is the middleware's alone).
//!
//! Run: `cargo build --release -p add-header && cargo run --release --example plugin_cost`

use std::hint::black_box;
use std::time::Instant;

use weir::http::ResponseHead;
use weir::middleware::build;
use weir::{Config, Ctx, RequestHead, Summary, Upstreams};

const N: u32 = 1_000_000;

fn chain_for(middleware: &str) -> weir::Chain {
    let text = format!("[upstream]\nservers = [\"127.0.0.1:9\"]\n{middleware}");
    let config = Config::parse(&text, "bench.toml").expect("valid config");
    build::chain(&config, &[]).expect("chain builds")
}

/// Nanoseconds per request through every phase of `chain`.
fn per_request(chain: &weir::Chain) -> f64 {
    let upstreams = Upstreams::new(vec![weir::Upstream {
        addr: "127.0.0.1:9".parse().unwrap(),
        weight: 1,
    }]);
    let mut req = RequestHead::default();
    let mut res = ResponseHead::default();
    let start = Instant::now();
    for _ in 0..N {
        req.clear();
        req.method.push_str("GET");
        req.target.push_str("/index.html");
        let _ = req.headers.add("Host", "example");
        let mut cx = Ctx::new("127.0.0.1:5000".parse().unwrap());
        let _ = black_box(chain.on_request(&mut cx, &mut req));
        let _ = black_box(chain.select_upstream(&mut cx, &req, &upstreams));
        res.clear();
        res.status = 200;
        chain.on_response(&mut cx, &mut res, chain.len());
        let summary = Summary {
            request: &req,
            status: 200,
            upstream: None,
            bytes_in: 0,
            bytes_out: 0,
            duration: start.elapsed(),
            upstream_time: None,
            error: None,
            route: "default",
            upstream_group: "default",
            grpc_status: None,
        };
        chain.on_complete(&cx, &summary);
    }
    start.elapsed().as_nanos() as f64 / f64::from(N)
}

fn main() {
    let lib = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/release/libadd_header.so"
    );
    let base = chain_for("[[middleware]]\nbuiltin = \"balancer\"\n");
    let builtin = chain_for(
        "[[middleware]]\nbuiltin = \"headers\"\n\
         config = { request = { set = { \"X-A\" = \"a\" } } }\n",
    );
    let plugin = chain_for(&format!(
        "[[middleware]]\nplugin = \"{lib}\"\nconfig = {{ header = \"X-A\", value = \"a\" }}\n"
    ));
    for round in 1..=3 {
        let (b, h, p) = (
            per_request(&base),
            per_request(&builtin),
            per_request(&plugin),
        );
        println!(
            "round {round}: balancer only {b:.0} ns; + built-in headers {:.0} ns; + add-header plugin {:.0} ns",
            h - b,
            p - b
        );
    }
}
