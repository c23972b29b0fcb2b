//! Embedding weir as a library, with a middleware written right here.
//!
//! Run: `cargo run --example embed` (or `... -- 127.0.0.1:9090` for a fixed address;
//! by default it takes a free port), then the two curl lines it prints.
//! Ctrl-C stops it.
//!
//! The middleware numbers each request, tags the response with that number, and answers
//! `/admin` locally with 403 so the upstream never sees it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use weir::backend::{Backend, Mode};
use weir::rt::Runtime;
use weir::{Config, Ctx, Flow, Middleware, Proxy, RequestHead, Response, ResponseHead, Upstream};

/// Numbers requests and keeps `/admin` private.
struct Tagger {
    seen: AtomicU64,
}

impl Middleware for Tagger {
    fn name(&self) -> &str {
        "tagger"
    }

    fn on_request(&self, _cx: &mut Ctx, req: &mut RequestHead) -> Flow {
        let n = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        // `set` refuses CR/LF/NUL, so a header can never be smuggled in.
        let _ = req.headers.set("X-Request-Number", n.to_string());
        if req.path().starts_with("/admin") {
            return Flow::Respond(Response::text(403, "not here\n"));
        }
        Flow::Continue
    }

    fn on_response(&self, _cx: &mut Ctx, res: &mut ResponseHead) {
        let _ = res.headers.set("X-Served-By", "weir embed example");
    }
}

fn main() {
    // Two origins, as `weir backend --name ...` would start them.
    let any = "127.0.0.1:0".parse().unwrap();
    let origins: Vec<Backend> = ["origin A", "origin B"]
        .into_iter()
        .map(|name| Backend::bind(any, Mode::Name(name.into())).expect("bind origin"))
        .collect();
    let servers = origins
        .iter()
        .map(|b| Upstream {
            addr: b.local_addr(),
            weight: 1,
        })
        .collect();
    let runtime = Runtime::new();
    thread::spawn(move || {
        let rt = runtime.clone();
        runtime.block_on(1, async move {
            let tasks: Vec<_> = origins
                .into_iter()
                .map(|b| rt.spawn(b.serve(rt.clone())))
                .collect();
            for t in tasks {
                t.await;
            }
        })
    });

    // The proxy's address: the first argument, else a free port (printed below), so
    // the example never collides with something already listening.
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let config = Config {
        listen: vec![weir::config::resolve(&listen)
            .unwrap_or_else(|why| {
                eprintln!("embed: {why}");
                std::process::exit(2)
            })
            .into()],
        upstream: weir::config::GroupConfig {
            servers,
            ..Default::default()
        },
        ..Config::default()
    };
    let server = Proxy::new(config)
        .middleware(Tagger {
            seen: AtomicU64::new(0),
        })
        .bind()
        .expect("proxy binds");
    println!(
        "embedded weir on http://{}  (chain: {})",
        server.local_addr(),
        server.chain_names().join(" → ")
    );
    println!(
        "try: curl -i http://{}/   and   curl -i http://{}/admin",
        server.local_addr(),
        server.local_addr()
    );
    server.run().expect("proxy runs");
}
