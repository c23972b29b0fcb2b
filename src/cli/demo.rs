//! `weir demo`: the lab in one command. Three backends with unique answers on free
//! ports, a round-robin proxy in front, the access log on stdout.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::thread;

use weir::backend::{Backend, Mode};
use weir::rt::Runtime;
use weir::{Config, Proxy, Upstream};

use super::fail;

pub fn run(listen: SocketAddr) -> ExitCode {
    let mut backends = Vec::new();
    for i in 1..=3 {
        let any: SocketAddr = "127.0.0.1:0".parse().expect("valid address");
        match Backend::bind(any, Mode::Name(format!("backend {i}"))) {
            Ok(b) => backends.push(b),
            Err(e) => return fail(&format!("demo: cannot start backend {i}: {e}")),
        }
    }
    let addrs: Vec<SocketAddr> = backends.iter().map(Backend::local_addr).collect();
    let config = Config {
        listen: vec![listen.into()],
        threads: 1,
        upstreams: addrs
            .iter()
            .map(|&addr| Upstream { addr, weight: 1 })
            .collect(),
        ..Config::default()
    };
    let server = match Proxy::new(config).bind() {
        Ok(s) => s,
        Err(e) => return fail(&format!("demo: {e} (try --listen 127.0.0.1:0)")),
    };
    let runtime = Runtime::new();
    thread::spawn(move || {
        let rt = runtime.clone();
        runtime.block_on(1, async move {
            let tasks: Vec<_> = backends
                .into_iter()
                .map(|b| rt.spawn(b.serve(rt.clone())))
                .collect();
            for t in tasks {
                t.await;
            }
        })
    });
    let url = format!("http://{}", server.local_addr());
    println!("weir demo: three backends behind a round-robin proxy");
    for (i, a) in addrs.iter().enumerate() {
        println!("  backend {}   http://{a}", i + 1);
    }
    println!("  proxy       {url}/");
    println!();
    println!("Try it (each request goes to the next backend: 1, 2, 3, 1, ...):");
    println!("  curl {url}/");
    println!("Ctrl-C stops everything. Access log follows.");
    match server.run() {
        Ok(()) => {
            println!("weir demo: stopped");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}
