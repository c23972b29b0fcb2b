//! `weir demo`: the lab in one command. Backends with unique answers on free ports, a
//! proxy in front, the access log on stdout. Plain: three backends, round-robin.
//! `--routes`: two groups (`web`, `api`) behind host and path routes, with the config
//! that does it printed, so the next step (a `weir.toml` of your own) is a copy away.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::thread;

use weir::backend::{Backend, Mode};
use weir::rt::Runtime;
use weir::{Config, Proxy, Upstream};

use super::fail;
use super::out::say;

/// Starts one named backend per name on a free port.
fn backends(names: &[&str]) -> Result<Vec<Backend>, String> {
    let any: SocketAddr = "127.0.0.1:0".parse().expect("valid address");
    names
        .iter()
        .map(|name| {
            Backend::bind(any, Mode::Name(name.to_string()))
                .map_err(|e| format!("demo: cannot start {name}: {e}"))
        })
        .collect()
}

/// Three backends behind one round-robin group.
fn plain(listen: SocketAddr, addrs: &[SocketAddr]) -> Config {
    let mut config = Config {
        listen: vec![listen.into()],
        threads: 1,
        ..Config::default()
    };
    config.upstream.servers = addrs
        .iter()
        .map(|&addr| Upstream { addr, weight: 1 })
        .collect();
    config
}

/// The `--routes` config, as TOML a user can copy.
fn routes_toml(listen: SocketAddr, a: &[SocketAddr]) -> String {
    format!(
        r#"listen = "{listen}"
threads = 1

[upstreams.web]
servers = ["{}", "{}"]

[upstreams.api]
servers = ["{}", "{}"]
balancer = "least-conn"

[[routes]]
name = "api-host"
hosts = ["api.localhost"]
upstream = "api"

[[routes]]
name = "api-path"
path = "/api/"
strip_prefix = "/api"
upstream = "api"

[[routes]]
name = "site"
upstream = "web"
"#,
        a[0], a[1], a[2], a[3]
    )
}

pub fn run(listen: SocketAddr, routes: bool) -> ExitCode {
    let names: &[&str] = match routes {
        true => &["web 1", "web 2", "api 1", "api 2"],
        false => &["backend 1", "backend 2", "backend 3"],
    };
    let backends = match backends(names) {
        Ok(b) => b,
        Err(e) => return fail(&e),
    };
    let addrs: Vec<SocketAddr> = backends.iter().map(Backend::local_addr).collect();
    let config = match routes {
        true => match Config::parse(&routes_toml(listen, &addrs), "demo.toml") {
            Ok(c) => c,
            Err(e) => return fail(&e),
        },
        false => plain(listen, &addrs),
    };
    let server = match Proxy::new(config).bind() {
        Ok(s) => s,
        Err(e) => return fail(&format!("demo: {e} (try --listen 127.0.0.1:0)")),
    };
    serve_backends(backends);
    let url = format!("http://{}", server.local_addr());
    for (name, a) in names.iter().zip(&addrs) {
        say!("  {name:<10} http://{a}");
    }
    say!("  proxy      {url}/");
    say!();
    match routes {
        // The config as it runs: with the port bound, should `--listen` have said 0.
        true => print_routes_tour(&url, &routes_toml(server.local_addr(), &addrs)),
        false => print_tour(&url),
    }
    say!("Ctrl-C stops everything. Access log follows.");
    match server.run() {
        Ok(()) => {
            say!("weir demo: stopped");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// Runs the backends on a runtime of their own, on a thread of their own.
fn serve_backends(backends: Vec<Backend>) {
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
}

fn print_tour(url: &str) {
    say!("weir demo: three backends behind a round-robin proxy");
    say!("Try it (each request goes to the next backend: 1, 2, 3, 1, ...):");
    say!("  curl {url}/");
}

fn print_routes_tour(url: &str, toml: &str) {
    say!("weir demo --routes: two upstream groups behind host and path routes, from this config:");
    say!();
    for line in toml.lines() {
        say!("    {line}");
    }
    say!();
    say!("Try it (the access log's route= and upstream_group= say what matched):");
    say!("  curl {url}/                               # site: web 1, web 2, web 1, ...");
    say!("  curl {url}/api/users                      # api-path: an api backend, path /users");
    say!("  curl -H 'Host: api.localhost' {url}/      # api-host: by host, any path");
    say!("  curl --path-as-is {url}/x/../api/users    # normalised first: api-path again");
}
