//! HTTP/2 with real clients beyond curl's basics: `h2load` (nghttp2) over TLS and h2c,
//! every request answered; a route's own middleware (the `headers` built-in, the C
//! deny plugin, the Rust add-header plugin) doing over h2 exactly what it does over
//! HTTP/1.1, routed by `:authority`; an origin's interim `103 Early Hints` relayed to
//! the h2 client before its final response.

mod util;

use std::future::poll_fn;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output};

use util::bin::{temp_dir, TempDir};
use util::h2client::{connect, get, read_all};
use util::origin::{origin, Reply};
use util::plugins::plugins;
use util::tls::Ca;
use weir::backend::Mode;
use weir::Config;

/// A proxy on a TLS listener with `h2 = true` (first) and a plain one with `h2c = true`,
/// with `middleware` and `routes` after the global balancer.
struct Proxy {
    proxy: util::TestProxy,
    ca: PathBuf,
    /// The certificates; removed after the proxy stops.
    _dir: TempDir,
}

fn start(name: &str, groups_and_routes: &str, middleware: &str) -> Proxy {
    let dir = temp_dir(name);
    let ca = Ca::new();
    let ca_file = ca.write(&dir);
    let leaf = ca.leaf(&dir, "site", &["api.test", "web.test"]);
    let text = format!(
        r#"
allow_root = true
listen = [
  {{ addr = "127.0.0.1:0", tls = {{ cert = {:?}, key = {:?} }}, h2 = true }},
  {{ addr = "127.0.0.1:0", h2c = true }},
]
threads = 2
[[middleware]]
builtin = "balancer"
{middleware}
{groups_and_routes}
"#,
        leaf.cert, leaf.key
    );
    let config = Config::parse(&text, "h2_clients.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
    Proxy {
        proxy: util::start(config),
        ca: ca_file,
        _dir: dir,
    }
}

/// `h2load` against `url`, bounded: 2,000 requests on 4 connections, 10 streams each.
fn h2load(url: &str) -> String {
    let out = Command::new("timeout")
        .args(["120", "h2load", "-n", "2000", "-c", "4", "-m", "10", url])
        .output()
        .expect("h2load (Debian nghttp2-client; .ci/run installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "h2load: {text}\n{:?}", out.stderr);
    text
}

#[test]
fn h2load_gets_every_answer_over_tls_and_h2c() {
    let up = util::backend(Mode::Name("fine".into()));
    let p = start(
        "h2load",
        &format!("[upstreams.a]\nservers = [\"{up}\"]\n[[routes]]\nupstream = \"a\"\n"),
        "",
    );
    let tls = format!("https://127.0.0.1:{}/", p.proxy.addrs[0].port());
    let h2c = format!("http://{}/", p.proxy.addrs[1]);
    for (url, protocol) in [(tls, "h2"), (h2c, "h2c")] {
        let text = h2load(&url);
        assert!(
            text.contains(&format!("Application protocol: {protocol}\n")),
            "{url}: {text}"
        );
        let summary = "requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, \
                       0 failed, 0 errored, 0 timeout";
        assert!(text.contains(summary), "{url}: {text}");
        assert!(
            text.contains("status codes: 2000 2xx, 0 3xx, 0 4xx, 0 5xx"),
            "{url}: {text}"
        );
    }
}

/// curl to `https://{host}{path}` on the TLS listener with `version` (`--http2` or
/// `--http1.1`): headers and body, then the HTTP version.
fn curl(p: &Proxy, version: &str, host: &str, path: &str) -> Output {
    let port = p.proxy.addrs[0].port();
    Command::new("curl")
        .args(["-sS", "-i", "--max-time", "20", version, "--cacert"])
        .arg(&p.ca)
        .args(["--resolve", &format!("{host}:{port}:127.0.0.1")])
        .args(["-w", "\n%{http_version}"])
        .arg(format!("https://{host}:{port}{path}"))
        .output()
        .expect("curl runs")
}

/// What the client saw, the same whatever the protocol: status, the headers the chain
/// sets, and whether the body shows the request header the plugin set.
fn seen(out: &Output) -> (String, String, Option<String>, bool) {
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    let version = text.lines().last().unwrap_or_default().to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let tag = text
        .lines()
        .find_map(|l| l.strip_prefix("x-route-chain: "))
        .map(|v| v.trim().to_string());
    (version, status, tag, text.contains("x-plugin: on-request"))
}

#[test]
fn a_routes_middleware_and_plugins_work_the_same_over_h2() {
    let p = plugins();
    let (api, web) = (
        util::backend(Mode::Echo),
        util::backend(Mode::Name("web".into())),
    );
    let middleware = format!(
        r#"
[[middleware]]
builtin = "headers"
name = "tag"
global = false
config = {{ response = {{ set = {{ "X-Route-Chain" = "api" }} }} }}
[[middleware]]
plugin = "{}"
name = "deny"
global = false
config = {{ prefix = "/admin", status = 403 }}
[[middleware]]
plugin = "{}"
name = "mark"
global = false
config = {{ header = "X-Plugin", value = "on-request" }}
"#,
        p.deny.display(),
        p.add_header.display()
    );
    let routes = format!(
        r#"
[upstreams.api]
servers = ["{api}"]
[upstreams.web]
servers = ["{web}"]
[[routes]]
hosts = ["api.test"]
upstream = "api"
middleware = ["tag", "deny", "mark"]
[[routes]]
upstream = "web"
"#
    );
    let proxy = start("h2-route-chain", &routes, &middleware);
    let cases = [
        ("api.test", "/users", ("200", Some("api"), true)),
        ("api.test", "/admin/keys", ("403", Some("api"), false)),
        ("web.test", "/admin/keys", ("200", None, false)),
    ];
    for (host, path, (status, tag, marked)) in cases {
        let h1 = seen(&curl(&proxy, "--http1.1", host, path));
        let h2 = seen(&curl(&proxy, "--http2", host, path));
        let want = (status.to_string(), tag.map(String::from), marked);
        assert_eq!((h1.1.clone(), h1.2.clone(), h1.3), want, "{host}{path} h1");
        assert_eq!((h2.1.clone(), h2.2.clone(), h2.3), want, "{host}{path} h2");
        assert_eq!((h1.0.as_str(), h2.0.as_str()), ("1.1", "2"));
    }
}

/// An origin that sends `103 Early Hints` with a `Link`, then `200` (serving until the
/// test process ends).
fn early_hints() -> SocketAddr {
    origin(|_| {
        Reply::Bytes(
            b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n\
              HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal"
                .to_vec(),
        )
    })
    .addr
}

#[test]
fn an_interim_103_reaches_the_h2_client_before_the_response() {
    let up = early_hints();
    let p = start(
        "h2-103",
        &format!("[upstreams.a]\nservers = [\"{up}\"]\n[[routes]]\nupstream = \"a\"\n"),
        "",
    );
    smol::block_on(async {
        let send = connect(p.proxy.addrs[1], 1 << 20).await;
        let mut response = get(&send, "a.test", "/hints").await;
        let hints = poll_fn(|cx| response.poll_informational(cx))
            .await
            .expect("an interim response")
            .expect("a good interim response");
        assert_eq!(hints.status(), 103);
        assert_eq!(hints.headers()["link"], "</style.css>; rel=preload");
        let res = response.await.expect("the final response");
        assert_eq!(res.status(), 200);
        let (len, hash) = read_all(res.into_body()).await;
        assert_eq!((len, hash), (5, util::fnv(b"final")));
    });
    // curl, over TLS, shows both.
    let out = curl(&p, "--http2", "web.test", "/hints");
    let text = String::from_utf8_lossy(&out.stdout);
    let at_103 = text.find("HTTP/2 103").unwrap_or_else(|| panic!("{text}"));
    let at_200 = text.find("HTTP/2 200").unwrap_or_else(|| panic!("{text}"));
    assert!(at_103 < at_200 && text.ends_with("final\n2"), "{text}");
}

#[test]
fn a_client_that_expects_100_continue_gets_it_before_it_sends_its_body() {
    let up = origin(|req| util::origin::ok(&req.body)).addr;
    let p = start(
        "h2-100",
        &format!("[upstreams.a]\nservers = [\"{up}\"]\n[[routes]]\nupstream = \"a\"\n"),
        "",
    );
    smol::block_on(async {
        let send = connect(p.proxy.addrs[1], 1 << 20).await;
        let mut ready = send.ready().await.unwrap();
        let req = http::Request::post("http://a.test/up")
            .header("content-length", "5")
            .header("expect", "100-continue")
            .body(())
            .unwrap();
        let (mut response, mut out) = ready.send_request(req, false).unwrap();
        // The client waits for the go-ahead (as curl does, for a second) before its body.
        let interim = poll_fn(|cx| response.poll_informational(cx));
        let limit = async {
            smol::Timer::after(std::time::Duration::from_secs(20)).await;
            None
        };
        let go_ahead = futures_lite::future::or(interim, limit)
            .await
            .expect("100 Continue within 20 s")
            .expect("a good interim response");
        assert_eq!(go_ahead.status(), 100);
        out.send_data(bytes::Bytes::from_static(b"hello"), true)
            .unwrap();
        let res = response.await.expect("the final response");
        assert_eq!(res.status(), 200);
        assert_eq!(read_all(res.into_body()).await, (5, util::fnv(b"hello")));
    });
}
