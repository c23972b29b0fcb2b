//! Loading and validating whole config files: every error names its key.

use super::*;
use std::time::Duration;

#[test]
fn the_documented_example_parses() {
    let c = Config::parse(
        r#"
listen = "127.0.0.1:8080"
threads = 0
[upstream]
servers = ["127.0.0.1:9001", { addr = "127.0.0.1:9002", weight = 2 }]
balancer = "round-robin"
[timeouts]
header = "10s"
idle = "60s"
connect = "3s"
upstream_read = "150ms"
[limits]
max_header_bytes = 16384
max_headers = 100
max_body_bytes = 0
max_connections = 10000
[[middleware]]
builtin = "log"
name = "access"
config = { format = "combined", path = "-" }
"#,
        "weir.toml",
    )
    .unwrap();
    assert_eq!(c.upstream.servers.len(), 2);
    assert_eq!(c.upstream.servers[1].weight, 2);
    assert_eq!(c.timeouts.upstream_read, Duration::from_millis(150));
    assert_eq!(c.middleware[0].name.as_deref(), Some("access"));
}

#[test]
fn strip_prefix_is_in_normal_form_and_can_apply() {
    let parse = |route: &str| {
        let text = format!("[upstreams.a]\nservers = [\"127.0.0.1:1\"]\n[[routes]]\n{route}\n");
        Config::parse(&text, "w.toml")
    };
    for good in [
        "path = \"/v2/\"\nstrip_prefix = \"/v2\"",
        "path = \"/v2\"\nstrip_prefix = \"/v2/\"",
        "path = \"/v2/\"\nstrip_prefix = \"/v2/x\"",
        "path_exact = \"/v2/ping\"\nstrip_prefix = \"/v2\"",
        "strip_prefix = \"/anything\"",
    ] {
        assert!(parse(good).is_ok(), "{good}: {:?}", parse(good).err());
    }
    for (bad, why) in [
        ("path = \"/v\"\nstrip_prefix = \"/v2\"", "would never apply"),
        (
            "path_exact = \"/v2\"\nstrip_prefix = \"/v2/x\"",
            "would never apply",
        ),
        (
            "strip_prefix = \"/a/../b\"",
            "not in normal form (write \"/b\")",
        ),
        ("strip_prefix = \"/..\"", "climbs above the root"),
    ] {
        let e = parse(bad).unwrap_err();
        assert_eq!(e.key, "routes[0].strip_prefix", "{bad}");
        assert!(e.reason.contains(why), "{bad}: {e}");
    }
}

#[test]
fn scheme_and_listeners_are_checked_with_their_key() {
    let parse = |route: &str| {
        let text = format!(
            "listen = [\"127.0.0.1:0\", {{ addr = \"127.0.0.1:0\", name = \"public\" }}]\n\
             [upstream]\nservers = [\"127.0.0.1:1\"]\n[[routes]]\n{route}\n"
        );
        Config::parse(&text, "w.toml")
    };
    let c = parse("scheme = \"http\"\nlisteners = [\"public\"]").unwrap();
    assert_eq!(c.routes[0].scheme.as_deref(), Some("http"));
    for (bad, key, why) in [
        (
            "scheme = \"ftp\"",
            "routes[0].scheme",
            "\"ftp\" is not \"http\" or \"https\"",
        ),
        ("scheme = \"HTTPS\"", "routes[0].scheme", "is not"),
        (
            "listeners = [\"internal\"]",
            "routes[0].listeners[0]",
            "no listener named \"internal\" (named: public)",
        ),
        (
            "listeners = [\"127.0.0.1:0\"]",
            "routes[0].listeners[0]",
            "by name, not address",
        ),
    ] {
        let e = parse(bad).unwrap_err();
        assert_eq!(e.key, key, "{bad}: {e}");
        assert!(e.reason.contains(why), "{bad}: {e}");
    }
}

#[test]
fn routes_no_listener_can_bring_a_request_to_are_warned_of() {
    let text = "listen = [{ addr = \"127.0.0.1:0\", name = \"plain\" }, \
                { addr = \"127.0.0.1:0\", name = \"tls\", tls = { cert = \"c\", key = \"k\" } }]\n\
                [upstream]\nservers = [\"127.0.0.1:1\"]\n\
                [[routes]]\npath = \"/a\"\nscheme = \"https\"\nlisteners = [\"plain\"]\n\
                [[routes]]\npath = \"/b\"\nscheme = \"https\"\nredirect = \"https\"\n\
                [[routes]]\npath = \"/c\"\nlisteners = [\"tls\"]\nredirect = \"https\"\n\
                [[routes]]\nscheme = \"http\"\nredirect = \"https\"\n\
                [[routes]]\nscheme = \"https\"\n";
    let c = Config::parse(text, "w.toml").unwrap();
    let (_, warnings) = c.route_table().unwrap();
    let text: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "routes[0] can never match: it takes scheme = \"https\" and none of its listeners is TLS",
            "routes[1] never redirects: redirect = \"https\" is for requests over plain HTTP, and none reach this route",
            "routes[2] never redirects: redirect = \"https\" is for requests over plain HTTP, and none reach this route",
        ]
    );
}

#[test]
fn errors_name_file_key_and_reason() {
    let e = Config::parse("[timeouts]\nheader = \"5x\"\n", "w.toml").unwrap_err();
    assert_eq!(e.file, "w.toml");
    assert_eq!(e.key, "timeouts.header");
    assert!(e.reason.contains("invalid duration"), "{e}");
    let e = Config::parse("[limits]\nmax_bodyy = 1\n", "w.toml").unwrap_err();
    assert!(e.to_string().contains("unknown field `max_bodyy`"), "{e}");
    let e = Config::parse("[upstream]\nservers = [\"nope\"]\n", "w.toml").unwrap_err();
    assert_eq!(e.key, "upstream.servers[0]");
    assert!(e.reason.ends_with(" (line 2)"), "{e}");
    let text = "listen = \"127.0.0.1:1\"\n[upstream]\nservers = [\n  \"127.0.0.1:2\",\n  { addr = \"127.0.0.1:3\", weight = 0 },\n]\n";
    let e = Config::parse(text, "w.toml").unwrap_err();
    assert_eq!(
        e.to_string(),
        "w.toml: upstream.servers[1]: weight must be at least 1 (line 5)"
    );
    let e = Config::parse("\n\nlisten = \"nowhere\"\n", "w.toml").unwrap_err();
    assert_eq!(e.key, "listen");
    assert!(e.reason.ends_with(" (line 3)"), "{e}");
}

#[test]
fn http2_bounds_are_checked_by_key() {
    let c = Config::parse(
        "[http2]\nmax_resets = 7\nflood_window = \"10s\"\n",
        "w.toml",
    )
    .unwrap();
    assert_eq!(c.http2.max_resets, 7);
    assert_eq!(c.http2.flood_window, Duration::from_secs(10));
    assert_eq!(c.http2.max_concurrent_streams, 100);
    for (text, key) in [
        ("max_concurrent_streams = 0", "http2.max_concurrent_streams"),
        ("max_control_frames = 0", "http2.max_control_frames"),
        ("flood_window = \"0s\"", "http2.flood_window"),
        ("max_pings = 1", "http2"),
    ] {
        let e = Config::parse(&format!("[http2]\n{text}\n"), "w.toml").unwrap_err();
        assert!(e.key.starts_with(key), "{text}: {e}");
    }
}

#[test]
fn protocol_defaults_to_http1_and_h2_needs_tls() {
    let c = Config::parse("[upstream]\nservers = [\"127.0.0.1:1\"]\n", "w.toml").unwrap();
    assert_eq!(c.upstream.protocol, UpstreamProtocol::Http1);
    assert_eq!(c.upstream.max_streams_per_connection, 100);
    let c = Config::parse(
        "[upstreams.g]\nservers = [\"127.0.0.1:1\"]\nprotocol = \"h2c\"\nmax_streams_per_connection = 7\n",
        "w.toml",
    )
    .unwrap();
    assert_eq!(c.groups[0].protocol, UpstreamProtocol::H2c);
    assert_eq!(c.groups[0].max_streams_per_connection, 7);
    let no_tls = "[upstreams.g]\nservers = [\"127.0.0.1:1\"]\nprotocol = \"h2\"\n";
    let err = Config::parse(no_tls, "w.toml").unwrap_err().to_string();
    assert!(
        err.contains("w.toml") && err.contains("upstreams.g.protocol"),
        "{err}"
    );
    assert!(
        err.contains("needs the group's `tls`") && err.contains("line 3"),
        "{err}"
    );
    let h2c_tls = "[upstream]\nservers = [\"127.0.0.1:1\"]\ntls = true\nprotocol = \"h2c\"\n";
    let err = Config::parse(h2c_tls, "w.toml").unwrap_err().to_string();
    assert!(
        err.contains("upstream.protocol") && err.contains("use \"h2\""),
        "{err}"
    );
    let zero = "[upstream]\nservers = [\"127.0.0.1:1\"]\nmax_streams_per_connection = 0\n";
    let err = Config::parse(zero, "w.toml").unwrap_err().to_string();
    assert!(err.contains("upstream.max_streams_per_connection"), "{err}");
    let bad = "[upstream]\nservers = [\"127.0.0.1:1\"]\nprotocol = \"h3\"\n";
    let err = Config::parse(bad, "w.toml").unwrap_err().to_string();
    assert!(err.contains("protocol"), "{err}");
}

#[test]
fn an_h2_group_refuses_send_proxy_protocol() {
    let text = "[upstreams.g]\nservers = [\"127.0.0.1:1\"]\nprotocol = \"h2c\"\nsend_proxy_protocol = \"v2\"\n";
    let err = Config::parse(text, "w.toml").unwrap_err().to_string();
    assert!(
        err.contains("upstreams.g.send_proxy_protocol") && err.contains("line 4"),
        "{err}"
    );
    let h1 = "[upstreams.g]\nservers = [\"127.0.0.1:1\"]\nsend_proxy_protocol = \"v2\"\n";
    assert!(Config::parse(h1, "w.toml").is_ok());
}
