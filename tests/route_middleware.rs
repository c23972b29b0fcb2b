//! A route's own middleware (`[[middleware]] global = false`, `routes[i].middleware`):
//! it runs after the global chain for that route's requests only; a local reply from it
//! passes back through the global chain; `on_complete` runs once for every middleware
//! that saw the request, and never for one that did not.

mod util;

use std::fs;

use util::bin::temp_dir;
use util::client::{once, Conn};
use util::plugins::plugins;
use weir::backend::Mode;
use weir::Config;

/// Each log's lines; read after the proxy stopped, so every `on_complete` has run.
fn lines(path: &std::path::Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn a_routes_middleware_sees_only_its_routes_requests_once_each() {
    let (api, web) = (
        util::backend(Mode::Name("api".into())),
        util::backend(Mode::Name("web".into())),
    );
    let dir = temp_dir("route-middleware");
    let (global_log, api_log) = (dir.join("global.log"), dir.join("api.log"));
    let deny = plugins().deny.display().to_string();
    let text = format!(
        r#"
allow_root = true
listen = "127.0.0.1:0"
threads = 2

[[middleware]]
builtin = "log"
config = {{ path = "{}" }}
[[middleware]]
builtin = "headers"
config = {{ response = {{ set = {{ "X-Global" = "seen" }} }} }}

[[middleware]]
builtin = "log"
name = "api-log"
global = false
config = {{ path = "{}" }}
[[middleware]]
builtin = "headers"
name = "api-tag"
global = false
config = {{ response = {{ set = {{ "X-Route-Chain" = "api" }} }} }}
[[middleware]]
plugin = "{deny}"
name = "api-deny"
global = false
config = {{ prefix = "/api/admin", status = 403 }}

[upstreams.api]
servers = ["{api}"]
[upstreams.web]
servers = ["{web}"]

[[routes]]
name = "api"
path = "/api/"
upstream = "api"
middleware = ["api-log", "api-tag", "api-deny"]
[[routes]]
upstream = "web"
"#,
        global_log.display(),
        api_log.display()
    );
    let proxy = util::start(Config::parse(&text, "test.toml").unwrap());
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes();
    let mut c = Conn::open(proxy.addr);

    // The route's chain runs for its requests, and the global chain's on_response after.
    let r = c.roundtrip(&get("/api/users"));
    assert_eq!(r.text(), "api\n");
    assert_eq!(r.header("x-route-chain"), Some("api"));
    assert_eq!(r.header("x-global"), Some("seen"));

    // Not for another route's.
    let r = c.roundtrip(&get("/about"));
    assert_eq!(r.text(), "web\n");
    assert_eq!(r.header("x-route-chain"), None);
    assert_eq!(r.header("x-global"), Some("seen"));

    // A local reply from the route's chain goes back through the route middleware in
    // front of it (api-tag) and then the whole global chain.
    let r = c.roundtrip(&get("/api/admin/keys"));
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-route-chain"), Some("api"));
    assert_eq!(r.header("x-global"), Some("seen"));

    // Refused before routing: only the global chain saw it.
    assert_eq!(once(proxy.addr, b"GET /api/x HTTP/1.1\r\n\r\n").status, 400);
    proxy.stop().unwrap();

    let global = lines(&global_log);
    let api = lines(&api_log);
    assert_eq!(global.len(), 4, "one line per request: {global:?}");
    assert_eq!(
        api.len(),
        2,
        "once per api request, none for others: {api:?}"
    );
    assert!(
        api[0].contains("\"GET /api/users HTTP/1.1\" 200"),
        "{api:?}"
    );
    assert!(
        api[1].contains("\"GET /api/admin/keys HTTP/1.1\" 403"),
        "{api:?}"
    );
    assert!(
        api.iter()
            .all(|l| l.contains("route=api upstream_group=api")),
        "{api:?}"
    );
}

#[test]
fn a_route_may_only_name_middleware_declared_for_routes() {
    let up = util::backend(Mode::Name("x".into()));
    let base = format!(
        "[upstreams.g]\nservers = [\"{up}\"]\n[[middleware]]\nbuiltin = \"log\"\nname = \"access\"\n"
    );
    let cases = [
        (
            "[[routes]]\nupstream = \"g\"\nmiddleware = [\"nope\"]\n",
            "routes[0].middleware[0]: no middleware named \"nope\" with `global = false`; known: none",
        ),
        (
            "[[routes]]\nupstream = \"g\"\nmiddleware = [\"access\"]\n",
            "routes[0].middleware[0]: middleware \"access\" is global",
        ),
        (
            "[[middleware]]\nbuiltin = \"headers\"\nglobal = false\n[[routes]]\nupstream = \"g\"\n",
            "middleware[1].name: needs a `name` with `global = false`",
        ),
        (
            "[[middleware]]\nbuiltin = \"balancer\"\nname = \"b\"\nglobal = false\n[[routes]]\nupstream = \"g\"\n",
            "middleware[1].global: the balancer runs for every request",
        ),
    ];
    for (extra, want) in cases {
        let err = Config::parse(&format!("{base}{extra}"), "t.toml").unwrap_err();
        assert!(err.to_string().contains(want), "{err}\nwanted: {want}");
    }
}
