//! What path a rule sees (issue 21, item 1): every spelling from the routing tests,
//! through a route whose chain holds a path-denying plugin and beside a routing rule,
//! with and without `strip_prefix`; none may reach the origin. Also the settings that
//! decide what an encoded slash and an ambiguous segment are, and the access log's
//! record of what the client sent.

mod util;

use std::net::SocketAddr;

use util::bin::temp_dir;
use util::client::{once, Conn};
use util::origin::{ok, origin, Origin};
use util::plugins::plugins;

/// Every spelling the routing tests know, of `/v2/admin` (the plugin's prefix) and of
/// `/v2/secret` (a route of its own to another group: the built-in rule).
fn spellings(of: &str) -> Vec<String> {
    let last = of.rsplit('/').next().unwrap();
    let (first, rest) = last.split_at(1);
    let hex = format!("%{:02x}", first.as_bytes()[0]);
    [
        format!("/v2/{last}"),
        format!("/v2/{last}/x"),
        format!("/v2/{hex}{rest}"),
        format!("/v2//{last}"),
        format!("//v2/{last}"),
        format!("/v2/./{last}"),
        format!("/v2/x/../{last}"),
        format!("/x/../v2/{last}"),
        format!("/v2/x/%2e%2e/{last}"),
        format!("/v2/x/.%2E/{last}"),
        format!("/v2%2f{last}"),
        format!("/v2/x%2f..%2f{last}"),
        format!("/v2/x/..%5c{last}"),
        format!("/v2/{last}%5cx"),
        format!("/v2/{last};x=1"),
        format!("/v2/x/..;/{last}"),
        format!("/v2/{last}%20"),
        format!("/v2/{last}."),
        format!("/v2/{last}%2e"),
        format!("/v2/{last}?q=1"),
    ]
    .into()
}

/// The README's Routing example, cut to what matters: `api-v2` under `/v2/` with the
/// deny plugin on `/v2/admin`, and `/v2/secret` routed to a group of its own.
fn config(deny: &str, api: SocketAddr, blocked: SocketAddr, strip: bool) -> String {
    let strip = if strip { "strip_prefix = \"/v2\"" } else { "" };
    format!(
        r#"allow_root = true
listen = "127.0.0.1:0"
[upstreams.api]
servers = ["{api}"]
[upstreams.blocked]
servers = ["{blocked}"]
[[middleware]]
plugin = "{deny}"
name = "deny-admin"
global = false
config = {{ prefix = "/v2/admin" }}
[[routes]]
hosts = ["api.example.com"]
path = "/v2/secret"
upstream = "blocked"
{strip}
[[routes]]
name = "api-v2"
hosts = ["api.example.com", "*.api.example.com"]
path = "/v2/"
upstream = "api"
{strip}
middleware = ["deny-admin"]
"#
    )
}

fn get(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: api.example.com\r\n\r\n").into_bytes()
}

fn start(text: &str) -> util::TestProxy {
    util::start(weir::Config::parse(text, "path_rules.toml").unwrap())
}

#[test]
fn no_spelling_passes_a_route_rule_with_or_without_strip_prefix() {
    let deny = plugins().deny.display().to_string();
    for strip in [false, true] {
        let api = origin(|r| ok(r.target.as_bytes()));
        let blocked: Origin = origin(|_| ok(b"blocked"));
        let proxy = start(&config(&deny, api.addr, blocked.addr, strip));
        let mut c = Conn::open(proxy.addr);
        for target in spellings("/v2/admin") {
            let r = c.roundtrip(&get(&target));
            assert!(
                matches!(r.status, 400 | 403),
                "strip {strip}: {target}: {}",
                r.status
            );
        }
        for target in spellings("/v2/secret") {
            let r = c.roundtrip(&get(&target));
            let refused_or_blocked = r.status == 400 || r.text() == "blocked";
            assert!(
                refused_or_blocked,
                "strip {strip}: {target}: {} {}",
                r.status,
                r.text()
            );
        }
        assert!(
            api.try_request().is_none(),
            "strip {strip}: a spelling reached the api"
        );
        // Ordinary traffic reaches the api, stripped or not, in normal form.
        let want = if strip {
            "/users?id=1"
        } else {
            "/v2/users?id=1"
        };
        let r = c.roundtrip(&get("/v2/./users?id=1"));
        assert_eq!((r.status, r.text().as_str()), (200, want), "strip {strip}");
        assert_eq!(api.next_request().target, want);
    }
}

/// The README's own curl line: `/v2/admin` under `strip_prefix = "/v2"` is denied by a
/// rule written as `/v2/admin`, because the route's chain sees the path the client
/// addressed; the upstream would get `/admin`.
#[test]
fn the_readme_example_denies_v2_admin_under_strip_prefix() {
    let deny = plugins().deny.display().to_string();
    let api = origin(|r| ok(r.target.as_bytes()));
    let blocked = origin(|_| ok(b"blocked"));
    let proxy = start(&config(&deny, api.addr, blocked.addr, true));
    let r = once(proxy.addr, &get("/v2/admin"));
    assert_eq!((r.status, r.text().as_str()), (403, "denied\n"));
    assert!(api.try_request().is_none());
}

fn limits_config(up: SocketAddr, limits: &str) -> weir::Config {
    let text =
        format!("listen = \"127.0.0.1:0\"\n[upstream]\nservers = [\"{up}\"]\n[limits]\n{limits}\n");
    weir::Config::parse(&text, "limits.toml").unwrap()
}

#[test]
fn escaped_slashes_decode_reject_and_keep() {
    let up = origin(|r| ok(r.target.as_bytes()));
    // (limits, what `/a%2fb` and `/a/..%5cb` become: forwarded, or None for 400)
    let cases = [
        ("", Some("/a/b"), None),
        ("escaped_slashes = \"decode\"", Some("/a/b"), None),
        ("escaped_slashes = \"reject\"", None, None),
        (
            "escaped_slashes = \"keep\"",
            Some("/a%2Fb"),
            Some("/a/..%5Cb"),
        ),
    ];
    for (limits, slash, backslash) in cases {
        let proxy = util::start(limits_config(up.addr, limits));
        for (target, want) in [("/a%2fb", slash), ("/a/..%5cb", backslash)] {
            let r = once(proxy.addr, &get(target));
            match want {
                Some(path) => {
                    let got = (r.status, r.text());
                    assert_eq!((got.0, got.1.as_str()), (200, path), "{limits}: {target}");
                    assert_eq!(up.next_request().target, path);
                }
                None => assert_eq!(r.status, 400, "{limits}: {target}"),
            }
        }
    }
    assert!(up.try_request().is_none());
}

#[test]
fn ambiguous_segments_reject_by_default_and_keep_on_request() {
    let up = origin(|r| ok(r.target.as_bytes()));
    let odd = ["/a;jsessionid=1", "/a.", "/a%20", "/a%00", "/a%252f"];
    let proxy = util::start(limits_config(up.addr, ""));
    for target in odd {
        assert_eq!(once(proxy.addr, &get(target)).status, 400, "{target}");
    }
    drop(proxy);
    let proxy = util::start(limits_config(up.addr, "ambiguous_segments = \"keep\""));
    for target in odd {
        let r = once(proxy.addr, &get(target));
        assert_eq!((r.status, r.text().as_str()), (200, target), "{target}");
        assert_eq!(up.next_request().target, target);
    }
}

#[test]
fn a_bad_setting_names_the_key_and_the_choices() {
    let text =
        "[upstream]\nservers = [\"127.0.0.1:1\"]\n[limits]\nescaped_slashes = \"unescape\"\n";
    let err = weir::Config::parse(text, "w.toml").unwrap_err().to_string();
    assert!(
        err.starts_with("w.toml: limits.escaped_slashes: \"unescape\" is not \"decode\""),
        "{err}"
    );
    assert!(err.contains("(line 4)"), "{err}");
}

/// The access log records the request line the client sent, as nginx's `$request`
/// does, not the path after normalising or `strip_prefix`.
#[test]
fn the_access_log_records_what_the_client_sent() {
    let up = origin(|r| ok(r.target.as_bytes()));
    let log_dir = temp_dir("path-rules-log");
    let log = log_dir.join("access.log");
    let text = format!(
        r#"listen = "127.0.0.1:0"
[[middleware]]
builtin = "log"
config = {{ format = "combined", path = {:?} }}
[upstreams.api]
servers = ["{}"]
[[routes]]
path = "/api/"
strip_prefix = "/api"
upstream = "api"
"#,
        log.display().to_string(),
        up.addr
    );
    let proxy = start(&text);
    let r = once(proxy.addr, &get("/api//v1/%69tems?x=1"));
    assert_eq!(r.text(), "/v1/items?x=1");
    proxy.stop().unwrap();
    let line = std::fs::read_to_string(&log).unwrap();
    assert!(
        line.contains("\"GET /api//v1/%69tems?x=1 HTTP/1.1\""),
        "{line}"
    );
}

/// `weir check` shows the path rules, and warns about a `keep` that leaves spellings
/// open; a route path with `*` is refused with what to write, and route errors carry
/// their line like every other config error.
#[test]
fn weir_check_warns_about_keep_and_refuses_a_glob_with_its_line() {
    use util::bin::{assert_refused, run, write_config};
    let open = write_config(
        "path-rules-keep",
        "[upstream]\nservers = [\"127.0.0.1:9\"]\n[limits]\nescaped_slashes = \"keep\"\nambiguous_segments = \"keep\"\n",
    );
    let out = run(&["check", "--config", &open]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("paths       escaped_slashes keep, ambiguous_segments keep"),
        "{text}"
    );
    assert!(
        text.contains("warning     limits.escaped_slashes = \"keep\""),
        "{text}"
    );
    assert!(
        text.contains("warning     limits.ambiguous_segments = \"keep\""),
        "{text}"
    );
    let safe = write_config(
        "path-rules-safe",
        "[upstream]\nservers = [\"127.0.0.1:9\"]\n",
    );
    let out = run(&["check", "--config", &safe]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("escaped_slashes decode, ambiguous_segments reject"),
        "{text}"
    );
    assert!(!text.contains("warning"), "{text}");

    let glob = write_config(
        "path-rules-glob",
        "[upstreams.api]\nservers = [\"127.0.0.1:9\"]\n\n[[routes]]\nupstream = \"api\"\npath = \"/api/*\"\n",
    );
    assert_refused(
        "glob",
        &glob,
        "routes[0].path: \"/api/*\": `*` is no wildcard here",
    );
    assert_refused(
        "glob",
        &glob,
        "write \"/api/\" for everything under it (line 6)",
    );
    let unknown = write_config(
        "path-rules-line",
        "[upstreams.api]\nservers = [\"127.0.0.1:9\"]\n[[routes]]\npath = \"/a\"\n\n[[routes]]\nupstream = \"apx\"\n",
    );
    assert_refused(
        "unknown group",
        &unknown,
        "routes[1].upstream: no upstream group \"apx\"; known: api (line 7)",
    );
}
