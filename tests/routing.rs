//! Routing through the real proxy: which route and group answer, what reaches the origin,
//! per-group balancing and retries, reloads that keep unchanged groups, and config errors
//! through the binary. Every request is raw bytes on a loopback socket, so nothing
//! normalises a path before weir does.

mod util;

use std::fs;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use util::bin::{assert_refused, run, temp_dir, write_config};
use util::client::{once, Conn, Resp};
use util::origin::{ok, origin, Origin, Reply};
use util::ports::Refusing;
use util::wait::{poll_until, WAIT};
use weir::backend::Mode;
use weir::{Config, Proxy};

/// A config from TOML on 127.0.0.1:0 with two threads; the chain is only the balancer
/// (no access log on stdout) unless `text` declares `[[middleware]]` itself.
fn config(text: &str) -> Config {
    let chain = match text.contains("[[middleware]]") {
        true => "",
        false => "\n[[middleware]]\nbuiltin = \"balancer\"\n",
    };
    let text = format!("listen = \"127.0.0.1:0\"\nthreads = 2\n{text}{chain}");
    Config::parse(&text, "routing.toml").unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn start(text: &str) -> util::TestProxy {
    util::start(config(text))
}

/// A built-in backend answering `name\n`.
fn named(name: &str) -> SocketAddr {
    util::backend(Mode::Name(name.to_string()))
}

/// `METHOD target HTTP/1.1` with `Host: host` and `extra` header lines.
fn request(method: &str, host: &str, target: &str, extra: &str) -> Vec<u8> {
    format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n").into_bytes()
}

fn get(host: &str, target: &str) -> Vec<u8> {
    request("GET", host, target, "")
}

/// Asks `ask` on fresh connections until `done` holds for the answer (a reload is
/// applied asynchronously); false if it never did within [`WAIT`].
fn until(addr: SocketAddr, ask: &[u8], done: impl Fn(&Resp) -> bool) -> bool {
    poll_until(WAIT, || done(&once(addr, ask)))
}

// ---------------------------------------------------------------------------------------
// Which route: priority, hosts, path boundaries.
// ---------------------------------------------------------------------------------------

/// One group with debug headers, so `X-Weir-Route` names the route that matched.
fn priority_proxy() -> util::TestProxy {
    start(&format!(
        r#"
[upstreams.g]
servers = ["{}"]
debug_headers = true

[[routes]]
name = "api-exact"
hosts = ["api.example.com"]
path_exact = "/v1/status"
[[routes]]
name = "api-v1"
hosts = ["api.example.com"]
path = "/v1"
[[routes]]
name = "api-v1-users"
hosts = ["api.example.com"]
path = "/v1/users/"
[[routes]]
name = "api-any"
hosts = ["api.example.com"]
[[routes]]
name = "wild-api"
hosts = ["*.api.example.com"]
[[routes]]
name = "wild"
hosts = ["*.example.com"]
path = "/app/"
[[routes]]
name = "only-v1"
hosts = ["only.example.com"]
path = "/v1"
[[routes]]
name = "login-post"
hosts = ["shop.example.com"]
path = "/login"
methods = ["POST"]
[[routes]]
name = "login-canary"
hosts = ["shop.example.com"]
path = "/login"
headers = {{ "X-Canary" = "1" }}
[[routes]]
name = "login-get"
hosts = ["shop.example.com"]
path = "/login"
methods = ["GET"]
[[routes]]
name = "shop-root"
hosts = ["shop.example.com"]
path = "/"
[[routes]]
name = "v6"
hosts = ["[::1]"]
[[routes]]
name = "star-static"
hosts = ["*"]
path = "/static/"
[[routes]]
name = "catch-all"
"#,
        named("g")
    ))
}

/// Sends each raw request on its own connection; checks the route named, or 404.
fn expect_routes(addr: SocketAddr, cases: &[(Vec<u8>, Option<&str>)]) {
    for (req, want) in cases {
        let shown = String::from_utf8_lossy(req);
        let r = once(addr, req);
        match want {
            Some(route) => {
                assert_eq!(r.status, 200, "{shown}");
                assert_eq!(r.header("x-weir-route"), Some(*route), "{shown}");
                assert_eq!(r.header("x-weir-upstream-group"), Some("g"), "{shown}");
            }
            None => {
                assert_eq!(r.status, 404, "{shown}");
                assert_eq!(r.header("x-weir-route"), None, "{shown}");
            }
        }
    }
}

#[test]
fn priority_rules_pick_exactly_one_route() {
    let proxy = priority_proxy();
    let api = "api.example.com";
    let shop = "shop.example.com";
    let canary = "X-Canary: 1\r\n";
    let cases = [
        // Within a host: exact path, then the longest prefix, then any path.
        (get(api, "/v1/status"), Some("api-exact")),
        (get(api, "/v1/status/x"), Some("api-v1")),
        (get(api, "/v1/users/7"), Some("api-v1-users")),
        (get(api, "/v1/users"), Some("api-v1")), // "/v1/users/" needs its slash
        (get(api, "/v1"), Some("api-v1")),
        (get(api, "/v2"), Some("api-any")),
        (get(api, "/"), Some("api-any")),
        // Host first, and only once: api.example.com's routes, not the catch-all site's.
        (get(api, "/static/app.js"), Some("api-any")),
        // The exact host beats the longest wildcard beats the shorter one beats `*`.
        (get("x.api.example.com", "/app/"), Some("wild-api")),
        (get("a.b.api.example.com", "/"), Some("wild-api")),
        (get("www.example.com", "/app/x"), Some("wild")),
        (get("a.b.example.com", "/app/"), Some("wild")),
        (get("example.com", "/app/"), Some("catch-all")), // *.x is not x itself
        (get("other.test", "/static/app.js"), Some("star-static")),
        (get("other.test", "/static"), Some("catch-all")),
        (get("other.test", "/"), Some("catch-all")),
        // HTTP/1.0 without Host: the `*` site.
        (
            b"GET /static/x HTTP/1.0\r\n\r\n".to_vec(),
            Some("star-static"),
        ),
        // No fallback from a matched site to a wider one: 404.
        (get("www.example.com", "/other"), None),
        (get("www.example.com", "/app"), None),
        (get("only.example.com", "/v1/x"), Some("only-v1")),
        (get("only.example.com", "/v2"), None),
        (get("only.example.com", "/"), None),
        // Same path: file order among routes whose methods and headers hold...
        (request("POST", shop, "/login", canary), Some("login-post")),
        (request("GET", shop, "/login", canary), Some("login-canary")),
        (request("PUT", shop, "/login", canary), Some("login-canary")),
        (get(shop, "/login"), Some("login-get")),
        (get(shop, "/login/x"), Some("login-get")),
        (request("POST", shop, "/login/x", ""), Some("login-post")),
        // ...and when none holds, the next shorter path of the same site: a POST-only
        // /login does not hide "/" from other methods.
        (request("DELETE", shop, "/login", ""), Some("shop-root")),
        (
            request("GET", shop, "/login", "X-Canary: 2\r\n"),
            Some("login-get"),
        ),
        (
            request("PUT", shop, "/login", "X-Canary: 2\r\n"),
            Some("shop-root"),
        ),
        (get(shop, "/loginx"), Some("shop-root")),
        // Methods are case-sensitive: "get" is not GET.
        (request("get", shop, "/login", ""), Some("shop-root")),
        // A header condition: name case-insensitive, any one field line with exactly
        // the value (a list in one line is not the value).
        (
            request("PUT", shop, "/login", "x-canary: 1\r\n"),
            Some("login-canary"),
        ),
        (
            request("PUT", shop, "/login", "X-Canary: 2\r\nX-Canary: 1\r\n"),
            Some("login-canary"),
        ),
        (
            request("PUT", shop, "/login", "X-Canary: 1, 2\r\n"),
            Some("shop-root"),
        ),
        (
            request("PUT", shop, "/login", "X-Canary: 11\r\n"),
            Some("shop-root"),
        ),
        // The asterisk-form `OPTIONS *` has no path: only a route for any path takes it.
        (request("OPTIONS", "other.test", "*", ""), Some("catch-all")),
        (request("OPTIONS", api, "*", ""), Some("api-any")),
        (request("OPTIONS", "only.example.com", "*", ""), None),
    ];
    expect_routes(proxy.addr, &cases);
}

#[test]
fn routing_sees_what_the_global_chain_rewrote() {
    // The global chain runs before routing: a header it sets is a header routes match.
    let proxy = start(&format!(
        r#"
[upstreams.g]
servers = ["{}"]
debug_headers = true
[[routes]]
name = "canary"
headers = {{ "X-Canary" = "1" }}
[[routes]]
name = "stable"
[[middleware]]
builtin = "headers"
config = {{ request = {{ set = {{ "X-Canary" = "1" }} }} }}
[[middleware]]
builtin = "balancer"
"#,
        named("g")
    ));
    for extra in ["", "X-Canary: 0\r\n"] {
        let r = once(proxy.addr, &request("GET", "t", "/", extra));
        assert_eq!(r.header("x-weir-route"), Some("canary"), "{extra:?}");
    }
}

#[test]
fn host_matching_ignores_case_port_and_one_trailing_dot() {
    let proxy = priority_proxy();
    let cases = [
        (get("API.Example.COM", "/v1/status"), Some("api-exact")),
        (get("api.example.com:8443", "/v1/status"), Some("api-exact")),
        (get("api.example.com.", "/v1/status"), Some("api-exact")),
        (get("Api.Example.com.:80", "/v1/status"), Some("api-exact")),
        (get("X.API.example.com:1", "/"), Some("wild-api")),
        (get("api.example.com..", "/v1/status"), Some("catch-all")),
        (get("[::1]", "/v1/status"), Some("v6")),
        (get("[::1]:8080", "/"), Some("v6")),
        (get("[::2]:8080", "/"), Some("catch-all")),
        // The absolute-form target's authority is the Host (RFC 9112 §3.2.2).
        (
            b"GET http://api.example.com/v1/status HTTP/1.1\r\nHost: other.test\r\n\r\n".to_vec(),
            Some("api-exact"),
        ),
        (
            b"GET http://SHOP.example.com:8080/login HTTP/1.1\r\nHost: api.example.com\r\n\r\n"
                .to_vec(),
            Some("login-get"),
        ),
        (
            b"GET http://only.example.com/v2 HTTP/1.1\r\nHost: api.example.com\r\n\r\n".to_vec(),
            None,
        ),
    ];
    expect_routes(proxy.addr, &cases);
}

#[test]
fn no_route_is_a_404_with_a_small_text_body_and_the_connection_kept() {
    let proxy = priority_proxy();
    let mut c = Conn::open(proxy.addr);
    let r = c.roundtrip(&get("only.example.com", "/nothing"));
    assert_eq!(r.status, 404);
    assert!(
        r.header("content-type").unwrap().starts_with("text/plain"),
        "{r:?}"
    );
    assert!(!r.body.is_empty() && r.body.len() < 200, "{r:?}");
    // The 404 is the proxy's own answer: the connection serves the next request.
    let r = c.roundtrip(&get("only.example.com", "/v1"));
    assert_eq!(r.header("x-weir-route"), Some("only-v1"));
    // To HEAD, a 404 without a body: the next response still parses in step.
    let r = c.roundtrip(&request("HEAD", "only.example.com", "/nothing", ""));
    assert_eq!((r.status, r.body.len()), (404, 0));
    // A path with no normal form is a 400 and the head was read whole: still in step.
    let r = c.roundtrip(&get("only.example.com", "/%2e%2e/v1"));
    assert_eq!(r.status, 400);
    let r = c.roundtrip(&get("only.example.com", "/v1"));
    assert_eq!(r.header("x-weir-route"), Some("only-v1"));
}

#[test]
fn prefixes_match_on_segment_boundaries() {
    let proxy = start(&format!(
        r#"
[upstreams.g]
servers = ["{}"]
debug_headers = true
[[routes]]
name = "api"
path = "/api"
[[routes]]
name = "rest"
"#,
        named("g")
    ));
    let cases = [
        ("/api", "api"),
        ("/api/", "api"),
        ("/api/x", "api"),
        ("/api/x/y", "api"),
        ("/api?q=1", "api"),
        ("/apix", "rest"),
        ("/ap", "rest"),
        ("/API", "rest"),    // paths are case-sensitive
        ("/api%2Fx", "api"), // an encoded slash is a '/' (limits.escaped_slashes = "decode")
        ("/api.json", "rest"),
        ("/", "rest"),
    ];
    for (path, want) in cases {
        let r = once(proxy.addr, &get("t", path));
        assert_eq!(r.header("x-weir-route"), Some(want), "{path}");
    }
    // A fragment is never part of a request target: refused before routing.
    assert_eq!(once(proxy.addr, &get("t", "/api#frag")).status, 400);
}

// ---------------------------------------------------------------------------------------
// Normalisation and rewriting: what is matched and what is forwarded.
// ---------------------------------------------------------------------------------------

/// Each origin answers with its own name and records the target it received.
fn naming_origin(name: &'static str) -> Origin {
    origin(move |_| ok(name.as_bytes()))
}

#[test]
fn path_spellings_reach_the_route_their_normal_form_does() {
    let admin = naming_origin("admin");
    let rest = naming_origin("rest");
    let proxy = start(&format!(
        r#"
[upstreams.admin]
servers = ["{}"]
[upstreams.rest]
servers = ["{}"]
[[routes]]
path = "/admin"
upstream = "admin"
[[routes]]
upstream = "rest"
"#,
        admin.addr, rest.addr
    ));
    // Matching is on the normal form, and the normal form is what is forwarded (with the
    // query as sent): the origin gets exactly the path that was routed, so it cannot
    // resolve the spelling to another resource than the router judged.
    let cases: [(&str, Option<(&str, &str)>); 21] = [
        ("/admin", Some(("admin", "/admin"))),
        ("/api/../admin", Some(("admin", "/admin"))),
        ("//admin", Some(("admin", "/admin"))),
        ("/api/%2e%2e/admin", Some(("admin", "/admin"))),
        ("/api/.%2E/admin", Some(("admin", "/admin"))),
        ("/./admin", Some(("admin", "/admin"))),
        ("/%61dmin", Some(("admin", "/admin"))),
        ("/%2e/admin/x?a=/../b", Some(("admin", "/admin/x?a=/../b"))),
        ("/admin/../x", Some(("rest", "/x"))),
        ("/ADMIN", Some(("rest", "/ADMIN"))),
        // An encoded slash is a '/' (limits.escaped_slashes = "decode", the default).
        ("/api%2f..%2fadmin", Some(("admin", "/admin"))),
        ("/admin%2fx", Some(("admin", "/admin/x"))),
        // No normal form: 400, and no origin sees the request.
        ("/api/..%5cadmin", None), // an encoded backslash is a backslash
        ("/%2e%2e/admin", None),   // `..` above the root
        ("/api/..\\admin", None),  // raw backslash
        ("\\admin", None),         // not origin-form at all
        ("/admin/%2", None),       // bad escape
        // Segments some origins read as `/admin` (limits.ambiguous_segments = "reject").
        ("/admin;x=1", None),
        ("/x/..;/admin", None),
        ("/admin.", None),
        ("/admin%20", None),
    ];
    for (target, want) in cases {
        let r = once(proxy.addr, &get("t", target));
        match want {
            Some((name, forwarded)) => {
                assert_eq!((r.status, r.text().as_str()), (200, name), "{target}");
                let seen = if name == "admin" { &admin } else { &rest };
                assert_eq!(seen.next_request().target, forwarded, "{target}");
            }
            None => assert_eq!(r.status, 400, "{target}"),
        }
    }
    for bad in ["/%zz", "/a/b/../../../admin"] {
        assert_eq!(once(proxy.addr, &get("t", bad)).status, 400, "{bad}");
    }
    assert!(
        admin.try_request().is_none(),
        "an extra request reached admin"
    );
    assert!(
        rest.try_request().is_none(),
        "an extra request reached rest"
    );
}

#[test]
fn strip_prefix_forwards_the_normalised_rest_with_the_original_query() {
    let v2 = origin(|r| ok(r.target.as_bytes()));
    let web = origin(|r| ok(r.target.as_bytes()));
    let proxy = start(&format!(
        r#"
[upstreams.v2]
servers = ["{}"]
[upstreams.web]
servers = ["{}"]
[[routes]]
path = "/v2/"
strip_prefix = "/v2"
upstream = "v2"
[[routes]]
upstream = "web"
"#,
        v2.addr, web.addr
    ));
    let cases = [
        ("/v2/users?id=1", "/users?id=1"),
        ("/v2/", "/"),
        ("/v2/?q", "/?q"),
        ("/v2/a/../b?x=/../y", "/b?x=/../y"),
        ("/v2//users/./%7Eme", "/users/~me"),
        ("/x/../v2/users", "/users"),
        ("/v2/a%2fb", "/a/b"),
    ];
    let mut c = Conn::open(proxy.addr);
    for (sent, want) in cases {
        let r = c.roundtrip(&get("t", sent));
        assert_eq!((r.status, r.text().as_str()), (200, want), "{sent}");
        assert_eq!(v2.next_request().target, want, "{sent}");
    }
    // An absolute-form target is origin-form before routing, then stripped the same.
    let r = c.roundtrip(b"GET http://t/v2/users?id=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.text(), "/users?id=1");
    assert_eq!(v2.next_request().target, "/users?id=1");
    // "/v2" is not under "/v2/": the catch-all gets it, unstripped and as sent.
    let r = c.roundtrip(&get("t", "/v2"));
    assert_eq!(r.text(), "/v2");
    assert_eq!(web.next_request().target, "/v2");
    assert!(v2.try_request().is_none());
}

#[test]
fn pipelined_requests_each_take_their_own_route() {
    let a = origin(|r| ok(format!("a {}", r.target).as_bytes()));
    let b = origin(|r| ok(format!("b {}", r.target).as_bytes()));
    let proxy = start(&format!(
        r#"
[upstreams.a]
servers = ["{}"]
[upstreams.b]
servers = ["{}"]
[[routes]]
path = "/a/"
strip_prefix = "/a"
upstream = "a"
[[routes]]
hosts = ["b.test"]
upstream = "b"
"#,
        a.addr, b.addr
    ));
    // One write, five requests: the path buffer and the rewrite are per request.
    let mut wire = Vec::new();
    for (host, target) in [
        ("t", "/a/one/../x"),
        ("b.test", "/a/two"),
        ("t", "/nothing"),
        ("t", "/a/%74hree"),
        ("b.test", "/../x"),
    ] {
        wire.extend_from_slice(&get(host, target));
    }
    let mut c = Conn::open(proxy.addr);
    c.send(&wire);
    let answers: Vec<(u16, String)> = (0..5)
        .map(|_| c.read(false).expect("a response"))
        .map(|r| {
            (
                r.status,
                if r.status == 200 {
                    r.text()
                } else {
                    String::new()
                },
            )
        })
        .collect();
    let want = [
        (200, "a /x"),
        (200, "b /a/two"),
        (404, ""),
        (200, "a /three"),
        (400, ""),
    ];
    let want: Vec<(u16, String)> = want.iter().map(|&(s, t)| (s, t.to_string())).collect();
    assert_eq!(answers, want);
}

// ---------------------------------------------------------------------------------------
// Groups: balancers, retries.
// ---------------------------------------------------------------------------------------

#[test]
fn each_group_balances_with_its_own_algorithm_and_state() {
    let proxy = start(&format!(
        r#"
[upstreams.rr]
servers = ["{}", "{}"]
debug_headers = true
[upstreams.weighted]
servers = [{{ addr = "{}", weight = 1 }}, {{ addr = "{}", weight = 3 }}]
debug_headers = true
[upstreams.hashed]
servers = ["{}", "{}", "{}"]
balancer = "hash"
hash_key = "header:X-User"
debug_headers = true
[[routes]]
hosts = ["rr.test"]
upstream = "rr"
[[routes]]
hosts = ["w.test"]
upstream = "weighted"
[[routes]]
hosts = ["h.test"]
upstream = "hashed"
"#,
        named("rr1"),
        named("rr2"),
        named("w1"),
        named("w3"),
        named("h1"),
        named("h2"),
        named("h3")
    ));
    // One keep-alive connection, the groups' requests interleaved: each group keeps its
    // own position, untouched by the others' picks.
    let mut c = Conn::open(proxy.addr);
    let mut rr = Vec::new();
    let mut weighted = Vec::new();
    for _ in 0..8 {
        let r = c.roundtrip(&get("rr.test", "/"));
        assert_eq!(r.header("x-weir-upstream-group"), Some("rr"));
        rr.push(r.text().trim().to_string());
        let r = c.roundtrip(&get("h.test", "/"));
        assert_eq!(r.header("x-weir-upstream-group"), Some("hashed"));
        let r = c.roundtrip(&get("w.test", "/"));
        assert_eq!(r.header("x-weir-upstream-group"), Some("weighted"));
        weighted.push(r.text().trim().to_string());
    }
    assert_eq!(rr, ["rr1", "rr2", "rr1", "rr2", "rr1", "rr2", "rr1", "rr2"]);
    // nginx's smooth weighted round-robin over weights 1 and 3: 2 and 6 in 8, spread.
    assert_eq!(
        weighted,
        ["w3", "w1", "w3", "w3", "w3", "w1", "w3", "w3"],
        "weights 1:3"
    );
    let mut owners = Vec::new();
    for user in ["alice", "bob", "carol", "dave"] {
        let ask = request("GET", "h.test", "/", &format!("X-User: {user}\r\n"));
        let first = c.roundtrip(&ask);
        assert_eq!(
            first.header("x-weir-reason"),
            Some(format!("hash key={user}").as_str())
        );
        for _ in 0..4 {
            assert_eq!(c.roundtrip(&ask).text(), first.text(), "{user} moved");
        }
        owners.push(first.text());
    }
    assert!(owners.iter().all(|o| o.starts_with('h')), "{owners:?}");
}

#[test]
fn retries_stay_within_the_group() {
    // Ports nothing listens on (connecting is refused) for as long as the test runs.
    let (refusing, refusing0, all_dead) = (Refusing::new(), Refusing::new(), Refusing::new());
    let (dead, dead0) = (refusing.addr, refusing0.addr);
    let live_a = named("a-live");
    let live0 = named("live0");
    let proxy = start(&format!(
        r#"
[upstreams.a]
servers = ["{dead}", "{live_a}"]
debug_headers = true
[upstreams.b]
servers = ["{}"]
debug_headers = true
[upstreams.all-dead]
servers = ["{}"]
debug_headers = true
[upstreams.no-retry]
servers = ["{dead0}", "{live0}"]
retries = 0
debug_headers = true
[[routes]]
hosts = ["a.test"]
upstream = "a"
[[routes]]
hosts = ["dead.test"]
upstream = "all-dead"
[[routes]]
hosts = ["no-retry.test"]
upstream = "no-retry"
[[routes]]
upstream = "b"
"#,
        named("b"),
        all_dead.addr
    ));
    let r = once(proxy.addr, &get("a.test", "/"));
    assert_eq!((r.status, r.text().as_str()), (200, "a-live\n"));
    assert_eq!(
        r.header("x-weir-reason").unwrap(),
        format!("rr; retry after refused from {dead}")
    );
    assert_eq!(r.header("x-weir-upstream-group"), Some("a"));
    for _ in 0..4 {
        let r = once(proxy.addr, &get("a.test", "/"));
        assert_eq!((r.status, r.text().as_str()), (200, "a-live\n"));
        assert_eq!(r.header("x-weir-reason"), Some("rr"), "the dead one is out");
    }
    // A group with no live server fails; group b's live server is never borrowed.
    for _ in 0..3 {
        let r = once(proxy.addr, &get("dead.test", "/"));
        assert_eq!(r.status, 502, "{r:?}");
        assert_ne!(r.text(), "b\n");
    }
    assert_eq!(once(proxy.addr, &get("other", "/")).text(), "b\n");
    // `retries` is the group's own: with 0, the refused first pick is not retried.
    let r = once(proxy.addr, &get("no-retry.test", "/"));
    assert_eq!(r.status, 502, "{r:?}");
    let r = once(proxy.addr, &get("no-retry.test", "/"));
    assert_eq!((r.status, r.text().as_str()), (200, "live0\n"));
    assert_eq!(r.header("x-weir-reason"), Some("rr"));
}

// ---------------------------------------------------------------------------------------
// Reloads.
// ---------------------------------------------------------------------------------------

/// A proxy whose reload source renders `render(generation)`.
struct Reloading {
    addr: SocketAddr,
    handle: weir::Handle,
    generation: Arc<AtomicUsize>,
    runner: Option<thread::JoinHandle<std::io::Result<()>>>,
}

impl Reloading {
    fn start(render: impl Fn(usize) -> String + Send + Sync + 'static) -> Reloading {
        let generation = Arc::new(AtomicUsize::new(0));
        let g = generation.clone();
        let source = move || Ok(config(&render(g.load(Ordering::SeqCst))));
        let server = Proxy::new(source().unwrap())
            .handle_signals(false)
            .reload_from(source)
            .bind()
            .unwrap();
        let (addr, handle) = (server.local_addr(), server.handle());
        let runner = Some(thread::spawn(move || server.run()));
        Reloading {
            addr,
            handle,
            generation,
            runner,
        }
    }

    /// Asks for generation `g`; it is in force some time after.
    fn reload_to(&self, g: usize) {
        self.generation.store(g, Ordering::SeqCst);
        self.handle.reload();
    }
}

impl Drop for Reloading {
    fn drop(&mut self) {
        self.handle.stop();
        if let Some(r) = self.runner.take() {
            let _ = r.join();
        }
    }
}

#[test]
fn reload_keeps_an_unchanged_groups_pooled_connections() {
    let keep = naming_origin("keep");
    let gone = naming_origin("gone");
    let new = naming_origin("new");
    let (k, g, n) = (keep.addr, gone.addr, new.addr);
    let proxy = Reloading::start(move |generation| match generation {
        0 => format!(
            "[upstreams.keep]\nservers = [\"{k}\"]\n[upstreams.gone]\nservers = [\"{g}\"]\n\
             [[routes]]\nhosts = [\"keep.test\"]\nupstream = \"keep\"\n\
             [[routes]]\nhosts = [\"gone.test\"]\nupstream = \"gone\"\n"
        ),
        1 => format!(
            "[upstreams.keep]\nservers = [\"{k}\"]\n[upstreams.new]\nservers = [\"{n}\"]\n\
             [[routes]]\nhosts = [\"keep.test\"]\nupstream = \"keep\"\n\
             [[routes]]\nhosts = [\"new.test\"]\nupstream = \"new\"\n"
        ),
        // `keep` changes its servers (a weight): a new group, a new pool.
        _ => format!(
            "[upstreams.keep]\nservers = [{{ addr = \"{k}\", weight = 2 }}]\n\
             [[routes]]\nhosts = [\"keep.test\"]\nupstream = \"keep\"\n"
        ),
    });
    let addr = proxy.addr;
    // One client connection: each exchange ends, its upstream connection back in the
    // pool, before the next request is read.
    let mut c = Conn::open(addr);
    for _ in 0..3 {
        assert_eq!(c.roundtrip(&get("keep.test", "/")).text(), "keep");
    }
    assert_eq!(c.roundtrip(&get("gone.test", "/")).text(), "gone");
    assert_eq!(keep.accepts(), 1);
    assert_eq!(proxy.handle.upstream_connections_opened(), 2);

    // `c` stays open and idle across the reload.
    proxy.reload_to(1);
    let ask_new = get("new.test", "/");
    assert!(
        until(addr, &ask_new, |r| r.text() == "new"),
        "reload 1 applied"
    );
    assert_eq!(once(addr, &get("gone.test", "/")).status, 404);
    // Once no request runs on the old engine, the removed group goes, and with it its
    // pooled connection: an idle client connection does not hold the old engine.
    assert!(gone.wait_closes(1), "gone's pooled connection was closed");
    for _ in 0..3 {
        assert_eq!(c.roundtrip(&get("keep.test", "/")).text(), "keep");
    }
    assert_eq!(keep.accepts(), 1, "keep's pooled connection was reused");
    // The engine in force counts keep's opened connection from before the reload.
    assert_eq!(
        proxy.handle.upstream_connections_opened(),
        1 + new.accepts() as u64
    );

    proxy.reload_to(2);
    assert!(
        until(addr, &ask_new, |r| r.status == 404),
        "reload 2 applied"
    );
    assert_eq!(c.roundtrip(&get("keep.test", "/")).text(), "keep");
    assert_eq!(
        keep.accepts(),
        2,
        "a changed group starts with an empty pool"
    );
    assert_eq!(proxy.handle.upstream_connections_opened(), 1);
}

#[test]
fn reload_keeps_an_unchanged_groups_health_state() {
    // `down` reads each request and closes without answering: one failure takes it out
    // for 30 s. Its accept count shows every attempt weir makes at it.
    let down = origin(|_| Reply::Close);
    let live = naming_origin("live");
    let new = naming_origin("new");
    let (d, l, n) = (down.addr, live.addr, new.addr);
    let proxy = Reloading::start(move |generation| {
        let keep = format!(
            "[upstreams.keep]\nservers = [\"{d}\", \"{l}\"]\nmax_fails = 1\n\
             fail_timeout = \"30s\"\ndebug_headers = true\n"
        );
        match generation {
            0 => format!("{keep}[[routes]]\nupstream = \"keep\"\n"),
            _ => format!(
                "{keep}[upstreams.new]\nservers = [\"{n}\"]\n\
                 [[routes]]\nhosts = [\"new.test\"]\nupstream = \"new\"\n\
                 [[routes]]\nupstream = \"keep\"\n"
            ),
        }
    });
    let addr = proxy.addr;
    let r = once(addr, &get("t", "/"));
    assert_eq!(r.text(), "live");
    assert_eq!(
        r.header("x-weir-reason").unwrap(),
        format!("rr; retry after closed from {d}")
    );
    assert_eq!(down.accepts(), 1);

    proxy.reload_to(1);
    assert!(until(addr, &get("new.test", "/"), |r| r.text() == "new"));
    // The new chain's round-robin starts over at `down`: only its kept health state
    // keeps it out.
    for _ in 0..6 {
        let r = once(addr, &get("t", "/"));
        assert_eq!(r.text(), "live");
        assert_eq!(r.header("x-weir-reason"), Some("rr"), "down is still out");
    }
    assert_eq!(
        down.accepts(),
        1,
        "no new attempt at the server marked down"
    );
}

#[test]
fn reload_keeps_a_server_that_active_checks_took_out_out() {
    // `sick` fails every health check; real requests it would answer "sick".
    let sick = origin(|r| match r.target.as_str() {
        "/healthz" => Reply::Bytes(b"HTTP/1.1 503 Down\r\nContent-Length: 0\r\n\r\n".to_vec()),
        _ => ok(b"sick"),
    });
    let well = origin(|_| ok(b"well"));
    let new = naming_origin("new");
    let (s, w, n) = (sick.addr, well.addr, new.addr);
    let proxy = Reloading::start(move |generation| {
        // Three failed checks 50 ms apart take a server out: a group built afresh would
        // send it requests for ~100 ms after the reload.
        let web = format!(
            "[upstreams.web]\nservers = [\"{s}\", \"{w}\"]\n\
             health = {{ path = \"/healthz\", interval = \"50ms\", fails = 3 }}\n"
        );
        match generation {
            0 => format!("{web}[[routes]]\nupstream = \"web\"\n"),
            _ => format!(
                "{web}[upstreams.new]\nservers = [\"{n}\"]\n\
                 [[routes]]\nhosts = [\"new.test\"]\nupstream = \"new\"\n\
                 [[routes]]\nupstream = \"web\"\n"
            ),
        }
    });
    let addr = proxy.addr;
    // Waits (by asking, bounded) until twenty answers in a row are "well".
    let mut streak = 0;
    let deadline = Instant::now() + WAIT;
    while streak < 20 {
        assert!(Instant::now() < deadline, "the checks never took sick out");
        streak = match once(addr, &get("t", "/")).text().as_str() {
            "well" => streak + 1,
            _ => 0,
        };
    }
    while sick.try_request().is_some() {} // what it saw before the reload

    proxy.reload_to(1);
    assert!(until(addr, &get("new.test", "/"), |r| r.text() == "new"));
    for _ in 0..10 {
        assert_eq!(once(addr, &get("t", "/")).text(), "well");
    }
    let served_after: Vec<String> = std::iter::from_fn(|| sick.try_request())
        .map(|r| r.target)
        .filter(|t| t != "/healthz")
        .collect();
    assert_eq!(
        served_after,
        Vec::<String>::new(),
        "sick served after the reload"
    );
}

#[test]
fn ten_reloads_adding_and_removing_routes_and_groups_fail_no_request() {
    let base = [named("base-a"), named("base-b")];
    let extra = named("extra");
    let proxy = Reloading::start(move |g| {
        // Every generation names its catch-all `genG` (so a probe sees which is in
        // force). Odd ones add a group `extra-G` for /x and a host route; every third
        // moves `base` to its other server (a changed group: a new pool).
        let mut text = format!(
            "[upstreams.base]\nservers = [\"{}\"]\ndebug_headers = true\n",
            base[g / 3 % 2]
        );
        if g % 2 == 1 {
            text += &format!(
                "[upstreams.extra-{g}]\nservers = [\"{extra}\"]\n\
                 [[routes]]\npath = \"/x\"\nupstream = \"extra-{g}\"\n\
                 [[routes]]\nhosts = [\"gen{g}.test\"]\nupstream = \"base\"\n"
            );
        }
        text + &format!("[[routes]]\nname = \"gen{g}\"\nupstream = \"base\"\n")
    });
    let addr = proxy.addr;
    let done = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let hammers: Vec<_> = (0..4)
        .map(|i| {
            let (done, served, failed) = (done.clone(), served.clone(), failed.clone());
            thread::spawn(move || {
                let mut c = Conn::open(addr);
                let path = if i % 2 == 0 { "/" } else { "/x" };
                while !done.load(Ordering::SeqCst) {
                    c.send(&get("t", path));
                    match c.read(false) {
                        Some(r) if r.status == 200 => served.fetch_add(1, Ordering::SeqCst),
                        _ => {
                            c = Conn::open(addr);
                            failed.fetch_add(1, Ordering::SeqCst)
                        }
                    };
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    let traffic_flows = || {
        let before = served.load(Ordering::SeqCst);
        while served.load(Ordering::SeqCst) < before + 50 {
            assert!(Instant::now() < deadline, "traffic stalled");
            thread::yield_now();
        }
    };
    for g in 1..=10 {
        traffic_flows();
        proxy.reload_to(g);
        let name = format!("gen{g}");
        let in_force = |r: &Resp| r.header("x-weir-route") == Some(name.as_str());
        assert!(until(addr, &get("t", "/"), in_force), "{name} in force");
        // Under load, with generation g in force: /x goes exactly where g says.
        let want = match g % 2 {
            1 => "extra\n",
            _ => ["base-a\n", "base-b\n"][g / 3 % 2],
        };
        assert_eq!(once(addr, &get("t", "/x")).text(), want, "{name}");
    }
    traffic_flows();
    done.store(true, Ordering::SeqCst);
    for h in hammers {
        h.join().unwrap();
    }
    assert_eq!(failed.load(Ordering::SeqCst), 0, "requests failed");
    // Generation 9's host route went with it.
    let r = once(addr, &get("gen9.test", "/"));
    assert_eq!(r.header("x-weir-route"), Some("gen10"));
}

// ---------------------------------------------------------------------------------------
// Config errors and `weir check`, through the binary.
// ---------------------------------------------------------------------------------------

const TWO_GROUPS: &str = "[upstreams.web]\nservers = [\"127.0.0.1:9001\"]\n\
                          [upstreams.api]\nservers = [\"127.0.0.1:9101\"]\n";

#[test]
fn route_config_errors_name_the_key_and_the_reason() {
    let cases = [
        (
            "unknown-group",
            "[[routes]]\npath = \"/a\"\nupstream = \"api\"\n\
             [[routes]]\npath = \"/b\"\nupstream = \"web\"\n\
             [[routes]]\nupstream = \"apx\"\n",
            "routes[2].upstream: no upstream group \"apx\"; known: api, web",
        ),
        (
            "bad-host",
            "[[routes]]\nhosts = [\"ok.test\", \"a.*.test\"]\nupstream = \"api\"\n",
            "routes[0].hosts[1]: invalid host pattern \"a.*.test\"",
        ),
        (
            "host-port",
            "[[routes]]\nhosts = [\"a.test:8080\"]\nupstream = \"api\"\n",
            "routes[0].hosts[0]: invalid host pattern \"a.test:8080\"",
        ),
        (
            "identical",
            "[[routes]]\nhosts = [\"a.test\"]\npath = \"/x\"\nupstream = \"api\"\n\
             [[routes]]\nhosts = [\"A.test\"]\npath = \"/x\"\nupstream = \"web\"\n",
            "routes[1]: same conditions as routes[0]",
        ),
        (
            "both-paths",
            "[[routes]]\npath = \"/a\"\npath_exact = \"/a\"\nupstream = \"api\"\n",
            "routes[0].path_exact: give `path` (a prefix) or `path_exact`, not both",
        ),
        (
            "group-name",
            "[upstreams.\"a b\"]\nservers = [\"127.0.0.1:9201\"]\n[[routes]]\nupstream = \"api\"\n",
            "upstreams.a b: invalid group name \"a b\"",
        ),
        (
            "no-group",
            "[[routes]]\npath = \"/a\"\nupstream = \"api\"\n[[routes]]\npath = \"/b\"\n",
            "routes[1].upstream: is required; known: api, web",
        ),
        (
            "relative-path",
            "[[routes]]\npath = \"api\"\nupstream = \"api\"\n",
            "routes[0].path: \"api\" must start with /",
        ),
        (
            "strip-not-normal",
            "[[routes]]\npath = \"/a%2Fb/\"\nstrip_prefix = \"/a%2fb\"\nupstream = \"api\"\n",
            "routes[0].strip_prefix: \"/a%2fb\" is not in normal form (write \"/a%2Fb\")",
        ),
        (
            "strip-never-applies",
            "[[routes]]\npath = \"/v2/\"\nstrip_prefix = \"/v3\"\nupstream = \"api\"\n",
            "routes[0].strip_prefix: \"/v3\" is not a prefix of path \"/v2/\"",
        ),
        (
            "no-routes",
            "",
            "routes: several [upstreams.*] groups need [[routes]]",
        ),
    ];
    for (name, routes, want) in cases {
        let path = write_config(name, &format!("{TWO_GROUPS}{routes}"));
        assert_refused(name, &path, want);
    }
    let mixed = write_config(
        "mixed",
        "[upstream]\nservers = [\"127.0.0.1:9001\"]\n\
         [upstreams.api]\nservers = [\"127.0.0.1:9101\"]\n",
    );
    let out = run(&["check", "--config", &mixed]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("[upstream]") && err.contains("[upstreams.NAME]"),
        "names both keys: {err}"
    );
    // The quick flags configure the one [upstream]; beside groups they are refused.
    let groups = write_config(
        "flags",
        &format!("{TWO_GROUPS}[[routes]]\nupstream = \"web\"\n"),
    );
    for flag in [["--upstream", "127.0.0.1:1"], ["--balancer", "random"]] {
        let out = run(&["check", "--config", &groups, flag[0], flag[1]]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{flag:?}: {err}");
        assert!(
            err.contains("upstreams: --upstream and --balancer apply to a single [upstream]"),
            "{flag:?}: {err}"
        );
    }
}

#[test]
fn upstream_table_with_routes_is_the_group_default() {
    let proxy = start(&format!(
        "[upstream]\nservers = [\"{}\"]\ndebug_headers = true\n\
         [[routes]]\nname = \"api\"\npath = \"/api\"\n\
         [[routes]]\nname = \"health\"\npath_exact = \"/healthz\"\nupstream = \"default\"\n",
        named("d")
    ));
    for (path, route) in [
        ("/api/x", "api"),
        ("/healthz", "health"),
        ("/x/../api", "api"),
    ] {
        let r = once(proxy.addr, &get("t", path));
        assert_eq!((r.status, r.text().as_str()), (200, "d\n"), "{path}");
        assert_eq!(r.header("x-weir-route"), Some(route), "{path}");
        assert_eq!(r.header("x-weir-upstream-group"), Some("default"), "{path}");
    }
    // With [[routes]], the routing rules hold for [upstream] too: 404 and 400.
    assert_eq!(once(proxy.addr, &get("t", "/other")).status, 404);
    assert_eq!(once(proxy.addr, &get("t", "/../api")).status, 400);
}

#[test]
fn check_prints_the_route_table_in_match_order_and_warns_of_shadowed_routes() {
    let path = write_config(
        "table",
        &format!(
            "{TWO_GROUPS}\
             [[routes]]\nupstream = \"web\"\n\
             [[routes]]\nname = \"api-v2\"\nhosts = [\"api.example.com\"]\npath = \"/v2/\"\n\
             upstream = \"api\"\nstrip_prefix = \"/v2\"\n\
             [[routes]]\nhosts = [\"*.example.com\"]\npath_exact = \"/health\"\nupstream = \"api\"\n\
             [[routes]]\nhosts = [\"api.example.com\"]\npath = \"/v2/\"\nmethods = [\"GET\"]\n\
             upstream = \"web\"\n"
        ),
    );
    let out = run(&["check", "--config", &path]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "a shadowed route is a warning: {text}"
    );
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("routes      in match order:"))
        .unwrap_or_else(|| panic!("no route table in {text}"));
    // Exact host, then the wildcard, then any host; within a host the longest path first.
    let table: Vec<String> = lines[at + 1..at + 8]
        .iter()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        table,
        [
            "host api.example.com",
            "/v2/ -> routes[1] \"api-v2\"",
            "/v2/ methods GET -> routes[3]",
            "host *.example.com",
            "= /health -> routes[2]",
            "any host",
            "(any path) -> routes[0]",
        ],
        "{text}"
    );
    assert!(
        text.contains("routes[1] api-v2 → api, strip_prefix /v2"),
        "{text}"
    );
    assert!(
        text.contains("warning     routes[3] can never match: routes[1]"),
        "{text}"
    );

    let path = write_config(
        "lowercase-method",
        &format!("{TWO_GROUPS}[[routes]]\nmethods = [\"get\"]\nupstream = \"api\"\n"),
    );
    let out = run(&["check", "--config", &path]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "a lowercase method is a warning: {text}"
    );
    assert!(
        text.contains(
            "warning     routes[0] methods[0] is \"get\", which never equals \"GET\": methods are case-sensitive"
        ),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------
// Configs without [[routes]]: exactly as before routing existed.
// ---------------------------------------------------------------------------------------

#[test]
fn an_upstream_only_config_normalises_like_a_routed_one_as_route_default() {
    let o = origin(|r| ok(r.target.as_bytes()));
    let mut c = util::config(&[o.addr]);
    c.upstream.debug_headers = true;
    let proxy = util::start(c);
    // Without [[routes]] nothing is looked up, but the path is normalised all the same:
    // a global middleware (a deny plugin) reads the path the origin is sent, whatever
    // the spelling.
    for bad in ["/../x", "/%2e%2e/admin", "/%zz", "/a;b", "/a\\b"] {
        assert_eq!(once(proxy.addr, &get("any.host", bad)).status, 400, "{bad}");
    }
    for (target, normal) in [
        ("//x", "/x"),
        ("/a/./b", "/a/b"),
        ("/a%2f..%2fb?q=%2f", "/b?q=%2f"),
        ("/%61/b", "/a/b"),
    ] {
        let r = once(proxy.addr, &get("any.host", target));
        assert_eq!((r.status, r.text().as_str()), (200, normal));
        assert_eq!(o.next_request().target, normal);
        assert_eq!(r.header("x-weir-route"), Some("default"));
        assert_eq!(r.header("x-weir-upstream-group"), Some("default"));
        assert_eq!(
            r.header("x-weir-upstream"),
            Some(o.addr.to_string().as_str())
        );
    }
    let r = once(
        proxy.addr,
        b"GET http://h.test/a/../x HTTP/1.1\r\nHost: h.test\r\n\r\n",
    );
    assert_eq!((r.status, r.text().as_str()), (200, "/x"));
    assert_eq!(o.next_request().target, "/x");
    assert!(o.try_request().is_none());
}

fn log_lines(path: &std::path::Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn access_log_names_route_and_group_in_both_formats() {
    let o = origin(|_| ok(b"ok"));
    let dir = temp_dir("routing-log");
    for format in ["combined", "json"] {
        let log = dir.join(format!("{format}.log"));
        let middleware = format!(
            "[[middleware]]\nbuiltin = \"log\"\nconfig = {{ format = \"{format}\", path = {:?} }}\n",
            log.display().to_string()
        );
        // The old form: [upstream] only.
        let old = start(&format!(
            "[upstream]\nservers = [\"{}\"]\n{middleware}",
            o.addr
        ));
        assert_eq!(once(old.addr, &get("t", "/")).status, 200);
        old.stop().unwrap();
        let want = match format {
            "combined" => "route=default upstream_group=default",
            _ => "\"route\":\"default\",\"upstream_group\":\"default\"",
        };
        let lines = log_lines(&log);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains(want), "{lines:?}");

        // Routed: a named route, an unnamed one, a 404 and a 400 (before routing).
        fs::remove_file(&log).unwrap();
        let routed = start(&format!(
            "[upstreams.api]\nservers = [\"{}\"]\n\
             [[routes]]\nname = \"api-v2\"\npath = \"/v2\"\nupstream = \"api\"\n\
             [[routes]]\nhosts = [\"x.test\"]\nupstream = \"api\"\n{middleware}",
            o.addr
        ));
        let mut c = Conn::open(routed.addr);
        assert_eq!(c.roundtrip(&get("t", "/v2/a")).status, 200);
        assert_eq!(c.roundtrip(&get("x.test", "/")).status, 200);
        assert_eq!(c.roundtrip(&get("t", "/nothing")).status, 404);
        assert_eq!(c.roundtrip(&get("t", "/%2e%2e/x")).status, 400);
        drop(c);
        routed.stop().unwrap();
        let lines = log_lines(&log);
        let wants: [(&str, &str); 4] = match format {
            "combined" => [
                ("\"GET /v2/a HTTP/1.1\"", "route=api-v2 upstream_group=api"),
                ("\"GET / HTTP/1.1\"", "route=routes[1] upstream_group=api"),
                ("\"GET /nothing HTTP/1.1\"", "route=- upstream_group=-"),
                ("\"GET /%2e%2e/x HTTP/1.1\"", "route=- upstream_group=-"),
            ],
            _ => [
                (
                    "\"target\":\"/v2/a\"",
                    "\"route\":\"api-v2\",\"upstream_group\":\"api\"",
                ),
                (
                    "\"target\":\"/\"",
                    "\"route\":\"routes[1]\",\"upstream_group\":\"api\"",
                ),
                (
                    "\"target\":\"/nothing\"",
                    "\"route\":\"-\",\"upstream_group\":\"-\"",
                ),
                (
                    "\"target\":\"/%2e%2e/x\"",
                    "\"route\":\"-\",\"upstream_group\":\"-\"",
                ),
            ],
        };
        assert_eq!(lines.len(), 4, "{lines:?}");
        // Buffered per thread, so the four lines may be written in any order.
        for ((target, want), status) in wants.into_iter().zip([200, 200, 404, 400]) {
            let line = lines.iter().find(|l| l.contains(target));
            let line = line.unwrap_or_else(|| panic!("{target} in {lines:?}"));
            assert!(line.contains(want), "{want} in {line}");
            let status = match format {
                "combined" => format!("\" {status} "),
                _ => format!("\"status\":{status}"),
            };
            assert!(line.contains(&status), "{status} in {line}");
        }
    }
}

#[test]
fn a_route_name_cannot_inject_a_header_or_a_log_line() {
    let o = origin(|_| ok(b"ok"));
    let log_dir = temp_dir("routing-inject");
    let log = log_dir.join("access.log");
    let proxy = start(&format!(
        "[upstreams.g]\nservers = [\"{}\"]\ndebug_headers = true\n\
         [[routes]]\nname = \"evil\\r\\nX-Evil: 1\"\n\
         [[middleware]]\nbuiltin = \"log\"\nconfig = {{ format = \"combined\", path = {:?} }}\n",
        o.addr,
        log.display().to_string()
    ));
    let r = once(proxy.addr, &get("t", "/"));
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));
    assert_eq!(r.header("x-evil"), None, "{r:?}");
    assert_eq!(r.header("x-weir-upstream-group"), Some("g"));
    proxy.stop().unwrap();
    let lines = log_lines(&log);
    assert_eq!(lines.len(), 1, "one request, one line: {lines:?}");
    assert!(lines[0].ends_with("upstream_group=g"), "{lines:?}");
}
