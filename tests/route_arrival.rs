//! Routes that match on where a request came in: `scheme = "http" | "https"` and
//! `listeners = ["name", ...]`, through the real server on loopback sockets (plain and
//! TLS, certificates made at test time), across a reload that reorders `listen`, and
//! through `weir check` for errors and the printed route table.

mod util;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use util::bin::{assert_refused, run, temp_dir, write_config};
use util::client::{once, Conn, Resp};
use util::ports::free_port;
use util::tls::{connect, roundtrip, Ca};
use util::wait::{wait_until, WAIT};
use weir::backend::Mode;
use weir::{Config, Proxy, Server, StartError};

/// A config from TOML with two threads and no access log (only the balancer).
fn config(text: &str) -> Config {
    let text = format!("threads = 2\n{text}\n[[middleware]]\nbuiltin = \"balancer\"\n");
    Config::parse(&text, "arrival.toml").unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// A built-in backend answering `name\n`.
fn named(name: &str) -> SocketAddr {
    util::backend(Mode::Name(name.to_string()))
}

fn get(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: a.test\r\n\r\n").into_bytes()
}

/// The body of a 200, or the status for anything else: what a case expects.
fn answer(r: &Resp) -> String {
    match r.status {
        200 => r.text().trim_end().to_string(),
        s => s.to_string(),
    }
}

#[test]
fn a_scheme_http_redirect_route_before_a_catch_all_sends_http_to_https_only() {
    let dir = temp_dir("arrival-redirect");
    let ca = Ca::new();
    let leaf = ca.leaf(&dir, "a", &["a.test"]);
    // The shape the README gives, on ephemeral ports.
    let proxy = util::start(config(&format!(
        r#"
listen = ["127.0.0.1:0", {{ addr = "127.0.0.1:0", tls = {{ cert = "{}", key = "{}" }} }}]
[upstreams.web]
servers = ["{}"]
[[routes]]
scheme = "http"
redirect = "https"
[[routes]]
upstream = "web"
"#,
        leaf.cert.display(),
        leaf.key.display(),
        named("web")
    )));
    let (plain, tls) = (proxy.addrs[0], proxy.addrs[1]);

    let resp = once(plain, &get("/hello?x=1"));
    assert_eq!(resp.status, 308, "{}", resp.text());
    assert_eq!(resp.header("location"), Some("https://a.test/hello?x=1"));

    // Over TLS the http route fails its condition and the catch-all forwards, on every
    // request of a kept-alive connection.
    let s = connect(tls, "a.test", ca.client(&[])).unwrap();
    let (resp, s) = roundtrip(s, &get("/hello?x=1"));
    assert_eq!(answer(&resp), "web");
    let (resp, _) = roundtrip(s, &get("/again"));
    assert_eq!(answer(&resp), "web");

    // No client header makes a plain request pass for https.
    let forged = b"GET / HTTP/1.1\r\nHost: a.test\r\nX-Forwarded-Proto: https\r\n\r\n";
    assert_eq!(once(plain, forged).status, 308);
    // Nor an https absolute-form target: weir takes only http:// in absolute form.
    let absolute = b"GET https://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n";
    assert_eq!(once(plain, absolute).status, 400);
}

/// Listeners `public` and `internal`, and one unnamed; `/admin` only on `internal`.
const TWO_LISTENERS: &str = r#"
[[routes]]
path = "/admin"
listeners = ["internal"]
upstream = "admin"
[[routes]]
listeners = ["public", "internal"]
upstream = "web"
"#;

fn groups() -> String {
    format!(
        "[upstreams.web]\nservers = [\"{}\"]\n[upstreams.admin]\nservers = [\"{}\"]\n",
        named("web"),
        named("admin")
    )
}

#[test]
fn listener_names_send_two_plain_listeners_to_two_groups() {
    let listen = r#"listen = [{ addr = "127.0.0.1:0", name = "public" }, { addr = "127.0.0.1:0", name = "internal" }, "127.0.0.1:0"]"#;
    let proxy = util::start(config(&format!("{listen}\n{}{TWO_LISTENERS}", groups())));
    let [public, internal, unnamed] = proxy.addrs[..] else {
        panic!("three listeners: {:?}", proxy.addrs)
    };
    let cases = [
        ("public", public, "/", "web"),
        // Fails the /admin route's listener condition, falls through to the shorter path.
        ("public", public, "/admin/users", "web"),
        ("internal", internal, "/admin/users", "admin"),
        ("internal", internal, "/", "web"),
        // No route holds on a listener none names: 404.
        ("unnamed", unnamed, "/", "404"),
        ("unnamed", unnamed, "/admin", "404"),
    ];
    for (at, addr, target, want) in cases {
        assert_eq!(answer(&once(addr, &get(target))), want, "{at} {target}");
    }
    // Keep-alive: each request on the connection is routed by its listener.
    let mut c = Conn::open(internal);
    assert_eq!(answer(&c.roundtrip(&get("/admin"))), "admin");
    assert_eq!(answer(&c.roundtrip(&get("/"))), "web");
}

#[test]
fn a_connection_keeps_its_listener_when_a_reload_reorders_listen() {
    // The reordered config must name the same addresses, so they are fixed ports, free
    // a moment ago: a parallel test may take one before weir binds it, and then the
    // start is tried again on two others.
    let (server, reordered, a, b) = (0..10)
        .find_map(|_| bind_reorderable(free_port(), free_port()))
        .expect("weir found one of its two ports taken ten times");
    let handle = server.handle();
    let thread = std::thread::spawn(move || server.run());

    // A connection to `internal` (listen[1]), kept open across the reload.
    let mut kept = Conn::open(b);
    assert_eq!(answer(&kept.roundtrip(&get("/"))), "admin");
    assert_eq!(answer(&once(a, &get("/probe"))), "web");

    *reordered.lock().unwrap() = true;
    handle.reload();
    wait_until(WAIT, "the reload applied", || {
        answer(&once(a, &get("/probe"))) == "admin"
    });
    // `internal` is listen[0] now, and listen[1] is `public`: the kept connection's
    // requests still come in on `internal`.
    assert_eq!(answer(&kept.roundtrip(&get("/"))), "admin");
    assert_eq!(answer(&once(b, &get("/"))), "admin");
    assert_eq!(answer(&once(a, &get("/"))), "web");
    handle.stop();
    thread.join().unwrap().unwrap();
}

/// weir bound to `a` (`public`) and `b` (`internal`), serving a config that a reload
/// reorders once the flag is set; `None` when one of the ports was taken meanwhile.
fn bind_reorderable(
    a: SocketAddr,
    b: SocketAddr,
) -> Option<(Server, Arc<Mutex<bool>>, SocketAddr, SocketAddr)> {
    let groups = groups();
    let render = move |reordered: bool| {
        let (first, second) = match reordered {
            false => (format!("{{ addr = \"{a}\", name = \"public\" }}"), b),
            true => (format!("{{ addr = \"{b}\", name = \"internal\" }}"), a),
        };
        let name = if reordered { "public" } else { "internal" };
        // The reordered config also sends /probe to admin: how a client sees it applied.
        let probe = match reordered {
            true => "[[routes]]\npath_exact = \"/probe\"\nupstream = \"admin\"\n",
            false => "",
        };
        let listen = format!("listen = [{first}, {{ addr = \"{second}\", name = \"{name}\" }}]");
        config(&format!(
            "{listen}\n{groups}[[routes]]\nlisteners = [\"internal\"]\nupstream = \"admin\"\n\
             [[routes]]\nlisteners = [\"public\"]\nupstream = \"web\"\n{probe}"
        ))
    };
    let reordered = Arc::new(Mutex::new(false));
    let flag = reordered.clone();
    let bound = Proxy::new(render(false))
        .handle_signals(false)
        .reload_from(move || Ok(render(*flag.lock().unwrap())))
        .bind();
    match bound {
        Ok(server) => Some((server, reordered, a, b)),
        Err(StartError::Bind(_, e)) if e.kind() == std::io::ErrorKind::AddrInUse => None,
        Err(e) => panic!("{e}"),
    }
}

const ONE_GROUP: &str = "[upstreams.web]\nservers = [\"127.0.0.1:9001\"]\n";

#[test]
fn scheme_and_listener_errors_name_the_key_and_the_reason() {
    let named_listen =
        "listen = [{ addr = \"127.0.0.1:0\", name = \"public\" }, \"127.0.0.1:0\"]\n";
    let cases = [
        (
            "unknown-listener",
            format!(
                "{named_listen}{ONE_GROUP}[[routes]]\npath = \"/a\"\n\
                 [[routes]]\npath = \"/b\"\n\
                 [[routes]]\nlisteners = [\"public\", \"intranet\"]\n"
            ),
            "routes[2].listeners[1]: no listener named \"intranet\" (named: public)",
        ),
        (
            "by-address",
            format!("{named_listen}{ONE_GROUP}[[routes]]\nlisteners = [\"127.0.0.1:0\"]\n"),
            "routes[0].listeners[0]: no listener named \"127.0.0.1:0\" (named: public); \
             listeners are picked by name, not address",
        ),
        (
            "duplicate-listener",
            format!(
                "listen = [{{ addr = \"127.0.0.1:0\", name = \"public\" }}, \
                 {{ addr = \"127.0.0.1:0\", name = \"public\" }}]\n{ONE_GROUP}"
            ),
            "listen[1].name: listen[0] is named \"public\" already",
        ),
        (
            "bad-scheme",
            format!("{ONE_GROUP}[[routes]]\nscheme = \"wss\"\n"),
            "routes[0].scheme: \"wss\" is not \"http\" or \"https\"",
        ),
    ];
    for (name, text, want) in cases {
        let path = write_config(&format!("arrival-{name}"), &text);
        assert_refused(name, &path, want);
    }
}

#[test]
fn check_prints_scheme_and_listener_conditions_and_warns_only_of_real_shadowing() {
    let path = write_config(
        "arrival-check",
        &format!(
            "listen = [\"127.0.0.1:0\", {{ addr = \"127.0.0.1:0\", name = \"internal\" }}]\n\
             {ONE_GROUP}\
             [[routes]]\nscheme = \"http\"\nredirect = \"https\"\n\
             [[routes]]\npath = \"/admin\"\nlisteners = [\"internal\"]\nmethods = [\"GET\"]\n\
             [[routes]]\nname = \"site\"\n\
             [[routes]]\nscheme = \"http\"\nlisteners = [\"internal\"]\n\
             [[routes]]\npath = \"/secure\"\nscheme = \"https\"\n"
        ),
    );
    let out = run(&["check", "--config", &path]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("listen      127.0.0.1:0, 127.0.0.1:0 (name internal)"),
        "{text}"
    );
    let lines: Vec<String> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let at = lines
        .iter()
        .position(|l| l == "routes in match order:")
        .unwrap_or_else(|| panic!("no route table in {text}"));
    assert_eq!(
        lines[at + 1..at + 7],
        [
            "any host",
            "/secure scheme https -> routes[4]",
            "/admin methods GET listeners internal -> routes[1]",
            "(any path) scheme http -> routes[0]",
            "(any path) -> routes[2] \"site\"",
            "(any path) scheme http listeners internal -> routes[3]",
        ],
        "{text}"
    );
    assert!(
        text.contains("route       routes[0] → web, redirect plain HTTP to https"),
        "{text}"
    );
    // routes[2] comes after a scheme route and is not shadowed by it; routes[3] is; no
    // TLS listener can bring routes[4] a request.
    let warnings: Vec<&str> = text.lines().filter(|l| l.starts_with("warning")).collect();
    assert_eq!(
        warnings,
        [
            "warning     routes[3] can never match: routes[0] matches every request it does, first",
            "warning     routes[4] can never match: it takes scheme = \"https\" and none of its listeners is TLS",
        ],
        "{text}"
    );
}
