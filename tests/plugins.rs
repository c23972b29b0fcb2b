//! Dynamic plugins, end to end: fixture libraries built once per run (see
//! `util::plugins`), loaded into a real proxy on 127.0.0.1:0, spoken to over sockets.

mod util;

use std::fs;
use std::path::Path;
use std::thread;
use std::time::Duration;

use util::backend as origin;
use util::bin::{signal, spawn, temp_dir};
use util::client::Conn;
use util::plugins::{echoed, get, get_done, plugins, proxy, try_proxy};
use weir::backend::Mode;

fn entry(path: &Path, config: &str) -> String {
    format!(
        "[[middleware]]\nplugin = \"{}\"\nconfig = {{ {config} }}\n",
        path.display()
    )
}

#[test]
fn add_header_two_instances_request_and_response() {
    let p = plugins();
    let up = origin(Mode::Echo);
    let chain = entry(&p.add_header, r#"header = "X-Req", value = "one""#)
        + &entry(
            &p.add_header,
            r#"header = "X-Res", value = "two", on = "response""#,
        );
    let proxy = proxy(&chain, &[up]);
    let r = get(proxy.addr, "/", "");
    assert_eq!(r.status, 200);
    assert_eq!(echoed(&r, "x-req"), Some("one"));
    assert_eq!(echoed(&r, "x-res"), None);
    assert_eq!(r.header("x-res"), Some("two"));
}

#[test]
fn deny_c_answers_matching_paths_and_two_configs_coexist() {
    let p = plugins();
    let up = origin(Mode::Name("origin".into()));
    let chain = entry(&p.deny, r#"prefix = "/admin", status = 403"#)
        + &entry(&p.deny, r#"prefix = "/private", status = 404"#);
    let proxy = proxy(&chain, &[up]);
    let r = get(proxy.addr, "/admin/users", "");
    assert_eq!((r.status, r.text().as_str()), (403, "denied\n"));
    assert_eq!(get(proxy.addr, "/private", "").status, 404);
    let r = get(proxy.addr, "/public", "");
    assert_eq!((r.status, r.text().as_str()), (200, "origin\n"));
}

#[test]
fn ratelimit_lets_exactly_burst_through_under_concurrency() {
    let p = plugins();
    let up = origin(Mode::Name("ok".into()));
    let proxy = proxy(&entry(&p.ratelimit, "rate = 0.001, burst = 5"), &[up]);
    let addr = proxy.addr;
    let replies: Vec<_> = (0..20)
        .map(|_| thread::spawn(move || get(addr, "/", "")))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let limited: Vec<_> = replies.iter().filter(|r| r.status == 429).collect();
    assert_eq!((ok, limited.len()), (5, 15));
    assert!(limited.iter().all(|r| r.header("retry-after").is_some()));
}

#[test]
fn route_header_chooses_the_upstream() {
    let p = plugins();
    let one = origin(Mode::Name("one".into()));
    let two = origin(Mode::Name("two".into()));
    let config = r#"header = "X-Route", routes = { blue = 0, green = 1 }"#;
    let proxy = proxy(&entry(&p.route, config), &[one, two]);
    for _ in 0..4 {
        assert_eq!(get(proxy.addr, "/", "X-Route: green\r\n").text(), "two\n");
        assert_eq!(get(proxy.addr, "/", "X-Route: blue\r\n").text(), "one\n");
    }
    // Without the header the round robin decides: both answer.
    let mut seen: Vec<_> = (0..2).map(|_| get(proxy.addr, "/", "").text()).collect();
    seen.sort();
    assert_eq!(seen, ["one\n", "two\n"]);
}

#[test]
fn a_panicking_hook_fails_that_request_only() {
    let p = plugins();
    let up = origin(Mode::Echo);
    for hook in [
        "on_request",
        "choose_upstream",
        "on_response",
        "on_complete",
    ] {
        let proxy = proxy(&entry(&p.panic, &format!("panic_in = \"{hook}\"")), &[up]);
        let failed = get_done(proxy.addr, "/panic", "");
        let want = if hook == "on_complete" { 200 } else { 500 };
        assert_eq!(failed.status, want, "{hook}");
        let next = get(proxy.addr, "/", "");
        assert_eq!(next.status, 200, "{hook}");
        // Only this request's state is alive: the panicked request's was freed.
        assert_eq!(echoed(&next, "x-live-states"), Some("1"), "{hook}");
        assert_eq!(echoed(&next, "x-completes"), Some("1"), "{hook}");
    }
}

#[test]
fn abi_major_mismatch_is_refused_without_calling_init() {
    let p = plugins();
    let err = try_proxy(&entry(&p.abi_mismatch, ""), &[origin(Mode::Echo)])
        .err()
        .expect("refused");
    assert!(err.contains("middleware[0].plugin"), "{err}");
    assert!(err.contains("libabi_mismatch.so"), "{err}");
    assert!(
        err.contains("ABI mismatch (plugin 2.0 vs host 1.3)"),
        "{err}"
    );
}

#[test]
fn a_plugin_built_against_the_1_0_layout_loads_and_runs() {
    let p = plugins();
    let proxy = proxy(&entry(&p.v1_0, ""), &[origin(Mode::Echo)]);
    let r = get(proxy.addr, "/", "");
    assert_eq!(r.status, 200);
    assert_eq!(echoed(&r, "x-abi"), Some("1.0"));
}

/// Two groups behind routes, with `middleware` (TOML) in the config.
fn routed_proxy(
    middleware: &str,
    a: std::net::SocketAddr,
    b: std::net::SocketAddr,
) -> util::TestProxy {
    let text = format!(
        "allow_root = true\nlisten = \"127.0.0.1:0\"\nthreads = 2\n{middleware}\n\
         [upstreams.alpha]\nservers = [\"{a}\"]\n[upstreams.beta]\nservers = [\"{b}\"]\n\
         [[routes]]\nname = \"to-alpha\"\npath = \"/a\"\nupstream = \"alpha\"\nmiddleware = {}\n\
         [[routes]]\nupstream = \"beta\"\n",
        if middleware.contains("global = false") {
            "[\"abi\"]"
        } else {
            "[]"
        }
    );
    let config = weir::Config::parse(&text, "test.toml").unwrap();
    util::start(config)
}

#[test]
fn a_1_1_plugin_reads_the_route_and_the_upstream_group() {
    let p = plugins();
    let (a, b) = (
        origin(Mode::Name("a".into())),
        origin(Mode::Name("b".into())),
    );
    // In the global chain: on_request runs before routing, so it sees no route yet.
    let proxy = routed_proxy(&entry(&p.v1_1, ""), a, b);
    let r = get(proxy.addr, "/a/x", "");
    assert_eq!(r.text(), "a\n");
    assert_eq!(r.header("x-route"), Some("to-alpha"));
    assert_eq!(r.header("x-upstream-group"), Some("alpha"));
    assert_eq!(r.header("x-route-on-request"), Some("-"));
    let r = get(proxy.addr, "/other", "");
    assert_eq!(r.text(), "b\n");
    assert_eq!(r.header("x-route"), Some("routes[1]"));
    assert_eq!(r.header("x-upstream-group"), Some("beta"));

    // As a route's own middleware: on_request runs after routing and sees it.
    let own = format!("{}name = \"abi\"\nglobal = false\n", entry(&p.v1_1, ""));
    let proxy = routed_proxy(&own, a, b);
    let r = get(proxy.addr, "/a", "");
    assert_eq!(r.header("x-route-on-request"), Some("to-alpha"));
    assert_eq!(r.header("x-upstream-group"), Some("alpha"));
    let r = get(proxy.addr, "/b", "");
    assert_eq!(r.text(), "b\n");
    assert_eq!(r.header("x-route"), None, "not on this route's chain");
}

#[test]
fn a_1_1_plugin_without_routes_sees_the_default_route_and_group() {
    let p = plugins();
    let proxy = proxy(&entry(&p.v1_1, ""), &[origin(Mode::Echo)]);
    let r = get(proxy.addr, "/", "");
    assert_eq!(r.header("x-route"), Some("default"));
    assert_eq!(r.header("x-upstream-group"), Some("default"));
}

/// ABI 1.2: `path` is the normal form the rules and the upstream get, before a route's
/// `strip_prefix`; `original_target` is what the client sent. A 1.1 plugin keeps
/// loading beside it (the `a_1_1_plugin_*` tests run the 1.1 fixture in this 1.2 host).
#[test]
fn a_1_2_plugin_reads_the_normal_path_and_the_original_target() {
    let p = plugins();
    let own = format!("{}name = \"abi\"\nglobal = false\n", entry(&p.v1_2, ""));
    let (a, b) = (origin(Mode::Echo), origin(Mode::Echo));
    let routed = routed_proxy(&own, a, b);
    let r = get(routed.addr, "/x/..//%61/./b?q=%2F", "");
    assert_eq!(r.status, 200);
    assert_eq!(echoed(&r, "x-plugin-path"), Some("/a/b"));
    assert_eq!(
        echoed(&r, "x-plugin-original"),
        Some("/x/..//%61/./b?q=%2F")
    );
    let first = std::str::from_utf8(&r.body)
        .unwrap()
        .lines()
        .next()
        .unwrap();
    assert_eq!(
        first, "GET /a/b?q=%2F HTTP/1.1",
        "the upstream got the normal form"
    );
    // In a global chain too, before routing: the path is normal from the start.
    let global = proxy(&entry(&p.v1_2, ""), &[origin(Mode::Echo)]);
    let r = get(global.addr, "http://test/%7Eu//x", "");
    assert_eq!(echoed(&r, "x-plugin-path"), Some("/~u/x"));
    assert_eq!(echoed(&r, "x-plugin-original"), Some("http://test/%7Eu//x"));
}

/// ABI 1.3: `protocol` is the client's HTTP version as the access log prints it, empty
/// where the request line is (on_response) and for a head that never parsed. The 1.0,
/// 1.1 and 1.2 fixtures keep loading in this 1.3 host (the tests above).
#[test]
fn a_1_3_plugin_reads_the_requests_protocol() {
    let p = plugins();
    let proxy = proxy(&entry(&p.v1_3, ""), &[origin(Mode::Echo)]);
    // Each step waits for weir's close: on_complete has run by then.
    let r = get_done(proxy.addr, "/", "");
    assert_eq!(r.status, 200);
    assert_eq!(echoed(&r, "x-plugin-protocol"), Some("HTTP/1.1"));
    assert_eq!(r.header("x-plugin-protocol-on-response"), Some("empty"));
    let mut c = Conn::open(proxy.addr);
    let r = c.roundtrip(b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(echoed(&r, "x-plugin-protocol"), Some("HTTP/1.0"));
    assert!(
        c.is_closed(),
        "an HTTP/1.0 request without keep-alive ends its connection"
    );
    let r = get_done(proxy.addr, "/", "");
    assert_eq!(echoed(&r, "x-plugin-last-complete"), Some("HTTP/1.0"));
    // A head that never parsed reaches on_complete too, with no protocol to tell.
    let mut c = Conn::open(proxy.addr);
    assert_eq!(c.roundtrip(b"GET / HTTP/1.x\r\n\r\n").status, 400);
    assert!(c.is_closed());
    let r = get(proxy.addr, "/", "");
    assert_eq!(echoed(&r, "x-plugin-last-complete"), Some("empty"));
}

#[test]
fn a_newer_minor_than_the_host_is_refused() {
    let p = plugins();
    let err = try_proxy(&entry(&p.newer_minor, ""), &[origin(Mode::Echo)])
        .err()
        .expect("refused");
    assert!(
        err.contains("ABI mismatch (plugin 1.4 vs host 1.3)"),
        "{err}"
    );
}

#[test]
fn the_rust_mirror_matches_the_c_header_layout() {
    use std::mem::{offset_of, size_of};
    use weir::plugin::abi::{Header, Host, Plugin, Str, Summary};
    let out = std::process::Command::new(&plugins().layout)
        .output()
        .expect("run the layout program");
    let c = String::from_utf8(out.stdout).unwrap();
    let rust = [
        ("weir_str", size_of::<Str>()),
        ("weir_header", size_of::<Header>()),
        ("weir_summary", size_of::<Summary>()),
        ("weir_host", size_of::<Host>()),
        ("weir_plugin", size_of::<Plugin>()),
        ("weir_summary.bytes_in", offset_of!(Summary, bytes_in)),
        ("weir_summary.duration_us", offset_of!(Summary, duration_us)),
        ("weir_host.method", offset_of!(Host, method)),
        ("weir_host.header_get", offset_of!(Host, header_get)),
        ("weir_host.respond", offset_of!(Host, respond)),
        ("weir_host.upstream_count", offset_of!(Host, upstream_count)),
        ("weir_host.route", offset_of!(Host, route)),
        ("weir_host.upstream_group", offset_of!(Host, upstream_group)),
        (
            "weir_host.original_target",
            offset_of!(Host, original_target),
        ),
        ("weir_host.protocol", offset_of!(Host, protocol)),
        ("weir_plugin.name", offset_of!(Plugin, name)),
        ("weir_plugin.instance_new", offset_of!(Plugin, instance_new)),
        ("weir_plugin.request_new", offset_of!(Plugin, request_new)),
        ("weir_plugin.on_request", offset_of!(Plugin, on_request)),
        ("weir_plugin.on_complete", offset_of!(Plugin, on_complete)),
    ];
    let rust: String = rust.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
    assert_eq!(c, rust);
}

#[test]
fn a_library_without_weir_symbols_is_not_a_plugin() {
    let p = plugins();
    let err = try_proxy(&entry(&p.no_symbols, ""), &[origin(Mode::Echo)])
        .err()
        .expect("refused");
    assert!(
        err.contains("not a weir plugin (missing symbol `weir_abi_version`)"),
        "{err}"
    );
}

#[test]
fn a_failing_init_stops_startup_with_the_plugins_message() {
    let p = plugins();
    let err = try_proxy(&entry(&p.init_fails, ""), &[origin(Mode::Echo)])
        .err()
        .expect("refused");
    assert!(
        err.contains("init failed: no licence key found in WEIR_FIXTURE_KEY"),
        "{err}"
    );
}

#[test]
fn a_descriptor_too_small_for_1_0_is_refused() {
    let p = plugins();
    let err = try_proxy(&entry(&p.bad_descriptor, ""), &[origin(Mode::Echo)])
        .err()
        .expect("refused");
    assert!(
        err.contains("bad descriptor: struct_size smaller than ABI 1.0"),
        "{err}"
    );
}

#[test]
fn a_missing_file_is_named() {
    let err = try_proxy(
        "[[middleware]]\nplugin = \"/nonexistent/libnothing.so\"\n",
        &[origin(Mode::Echo)],
    )
    .err()
    .expect("refused");
    assert!(
        err.contains("middleware[0].plugin: /nonexistent/libnothing.so: file not found"),
        "{err}"
    );
}

#[test]
fn an_instance_that_refuses_its_config_stops_startup_with_its_message() {
    let p = plugins();
    let up = origin(Mode::Echo);
    let err = try_proxy(
        &entry(&p.add_header, r#"header = "Bad Name", value = "v""#),
        &[up],
    )
    .err()
    .expect("refused");
    assert!(
        err.contains("\"Bad Name\" is not a valid header name"),
        "{err}"
    );
    let err = try_proxy(&entry(&p.deny, "status = 99"), &[up])
        .err()
        .expect("refused");
    assert!(err.contains("status must be 200..=599, got 99"), "{err}");
}

#[test]
fn thousand_requests_on_fifty_connections_complete_once_each() {
    let p = plugins();
    let up = origin(Mode::Echo);
    let chain = entry(&p.add_header, r#"header = "X-A", value = "a""#)
        + &entry(&p.ratelimit, "rate = 1000000.0, burst = 1000000")
        + &entry(&p.panic, "");
    let proxy = proxy(&chain, &[up]);
    let addr = proxy.addr;
    let workers: Vec<_> = (0..50)
        .map(|_| {
            thread::spawn(move || {
                let mut c = Conn::open(addr);
                let all_ok = (0..19).all(|_| {
                    let r = c.roundtrip(&util::client::get("/"));
                    r.status == 200 && echoed(&r, "x-a") == Some("a")
                });
                let last =
                    c.roundtrip(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
                all_ok && last.status == 200 && c.is_closed()
            })
        })
        .collect();
    for w in workers {
        assert!(w.join().unwrap());
    }
    // Every connection was read to its close, so every exchange on it has completed.
    let probe = get(addr, "/", "");
    assert_eq!(echoed(&probe, "x-completes"), Some("1000"));
    assert_eq!(echoed(&probe, "x-live-states"), Some("1"));
}

#[test]
fn a_plugin_replaced_at_its_path_is_kept_and_the_reload_says_what_to_do() {
    let p = plugins();
    let dir = temp_dir("plugin-replaced");
    let lib = dir.join("libmine.so");
    fs::copy(&p.add_header, &lib).unwrap();
    let up = origin(Mode::Echo);
    let config = dir.join("weir.toml");
    let text = format!(
        "allow_root = true\nlisten = \"127.0.0.1:0\"\n[upstream]\nservers = [\"{up}\"]\n{}",
        entry(&lib, r#"header = "X-Req", value = "loaded first""#)
    );
    fs::write(&config, text).unwrap();
    let mut weir = spawn(
        &["serve", "--config", config.to_str().unwrap()],
        "stderr",
        "listening on",
    );
    let limit = Duration::from_secs(30);
    let reloads = |n: usize| {
        weir.later.wait_until(limit, |lines| {
            lines
                .iter()
                .filter(|l| l.contains("weir: reloaded"))
                .count()
                >= n
        })
    };
    // Unchanged, the library is kept without a word.
    signal(&weir.child, "HUP");
    assert!(reloads(1), "{:?}", weir.later.snapshot());
    let changed = |l: &String| l.contains("changed on disk");
    assert!(!weir.later.snapshot().iter().any(changed));

    // A new build installed as packages do: written beside, renamed over the path.
    let new = dir.join("libmine.so.new");
    fs::copy(&p.ratelimit, &new).unwrap();
    fs::rename(&new, &lib).unwrap();
    signal(&weir.child, "HUP");
    assert!(reloads(2), "{:?}", weir.later.snapshot());
    let said: Vec<String> = weir.later.snapshot().into_iter().filter(changed).collect();
    let want = format!(
        "weir: middleware[0].plugin: {} has changed on disk since weir loaded it; still running the library loaded then (a loaded library is never unloaded): restart weir to run the new one, or install it under a new file name and point the config at that",
        lib.display()
    );
    assert_eq!(said, [want]);
    // And indeed the library loaded first still serves.
    let r = get(weir.addr, "/", "");
    assert_eq!(echoed(&r, "x-req"), Some("loaded first"));
    signal(&weir.child, "TERM");
    assert!(weir.child.wait().unwrap().success());
}
