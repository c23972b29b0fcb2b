//! How discovery asks: at the answer's TTL within `resolve_min`/`resolve_max`, over
//! TCP when the UDP answer is truncated, through search domains; and what a client of
//! a group whose names never resolved is told. The nameserver is the test's own
//! (`util::dns`), counting the queries it sees.

mod util;

use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use util::client::{get, once};
use util::dns::{name_status, DnsServer, Zone};

const NAME: &str = "api.weir.test";
/// Every wait below gives up after this.
const LIMIT: Duration = Duration::from_secs(20);

/// weir over the one `servers` entry `entry`, its group's `resolve` keys and
/// `[resolver]` table's extra lines as given, with an admin listener.
fn proxy(dns: &DnsServer, entry: &str, resolve: &str, resolver: &str) -> util::TestProxy {
    let text = format!(
        r#"
listen = "127.0.0.1:0"
threads = 2
[[middleware]]
builtin = "balancer"
[upstream]
servers = ["{entry}"]
{resolve}
[resolver]
nameservers = ["{}"]
{resolver}
[admin]
listen = "127.0.0.1:0"
"#,
        dns.addr
    );
    let config = weir::Config::parse(&text, "dns.toml").expect("config parses");
    util::try_start(config).expect("weir starts")
}

/// Polls `check` until it holds, failing the test after [`LIMIT`].
fn wait_until(what: &str, check: impl FnMut() -> bool) {
    util::wait::wait_until(LIMIT, what, check)
}

/// How long the nameserver takes to see `n` more lookups of an A/AAAA name (two
/// queries each), timed from the end of the next one: so an answer the test just
/// changed is the one that sets the pace, and the timing starts as a wait begins.
fn time_lookups(dns: &DnsServer, n: usize) -> Duration {
    let now = dns.queries.load(SeqCst);
    let next = now - now % 2 + 2;
    wait_until("the next lookup ends", || dns.queries.load(SeqCst) >= next);
    let start = Instant::now();
    wait_until(&format!("{n} more lookups"), || {
        dns.queries.load(SeqCst) >= next + 2 * n
    });
    start.elapsed()
}

#[test]
fn with_resolve_ttl_a_name_is_asked_again_at_its_ttl_within_the_bounds() {
    let dns = DnsServer::start();
    dns.set_hosts(NAME, &[1]);
    dns.set_ttl(1);
    let bounds = "resolve = \"ttl\"\nresolve_min = \"300ms\"\nresolve_max = \"1m\"";
    let weir = proxy(&dns, &format!("{NAME}:80"), bounds, "");
    // A TTL of 1 s: asked again every second, not at the 1-minute maximum, nor faster.
    let took = time_lookups(&dns, 3);
    assert!(took >= Duration::from_millis(2900), "3 lookups in {took:?}");
    // A TTL of 0 (Consul's default): no faster than resolve_min.
    dns.set_ttl(0);
    let took = time_lookups(&dns, 5);
    assert!(took >= Duration::from_millis(1400), "5 lookups in {took:?}");
    assert!(took < Duration::from_secs(5), "5 lookups in {took:?}");
    // A failed lookup tries again at resolve_min (the maximum is a minute).
    dns.set(NAME, Zone::NxDomain);
    let took = time_lookups(&dns, 5);
    assert!(
        took < Duration::from_secs(5),
        "5 failed lookups in {took:?}"
    );
    let status = name_status(weir.admin.unwrap());
    assert!(
        status["result"].as_str().unwrap().contains("NXDOMAIN"),
        "{status}"
    );
}

#[test]
fn with_resolve_ttl_a_long_ttl_is_cut_to_resolve_max() {
    let dns = DnsServer::start();
    dns.set_hosts(NAME, &[1]);
    dns.set_ttl(86_400);
    let bounds = "resolve = \"ttl\"\nresolve_min = \"100ms\"\nresolve_max = \"500ms\"";
    let _weir = proxy(&dns, &format!("{NAME}:80"), bounds, "");
    let took = time_lookups(&dns, 4);
    assert!(took >= Duration::from_millis(1400), "4 lookups in {took:?}");
}

#[test]
fn resolve_bounds_config_errors_name_the_file_the_key_and_the_reason() {
    let group = "[upstream]\nservers = [\"api.weir.test:80\"]\n";
    let cases = [
        (
            "resolve = \"5s\"\nresolve_min = \"1s\"\n",
            "upstream.resolve_min",
            "only with `resolve = \"ttl\"`",
        ),
        (
            "resolve_max = \"1m\"\n",
            "upstream.resolve_max",
            "the group has no `resolve`",
        ),
        (
            "resolve = \"ttl\"\nresolve_min = \"10m\"\n",
            "upstream.resolve_min",
            "above resolve_max",
        ),
        (
            "resolve = \"ttl\"\nresolve_max = \"0s\"\n",
            "upstream.resolve_max",
            "more than 0s",
        ),
        ("resolve = \"often\"\n", "upstream.resolve", "or \"ttl\""),
    ];
    for (keys, key, why) in cases {
        let err = weir::Config::parse(&format!("{group}{keys}"), "d.toml").unwrap_err();
        assert_eq!(err.key, key, "{err}");
        assert!(
            err.to_string().starts_with(&format!("d.toml: {key}: ")),
            "{err}"
        );
        assert!(err.to_string().contains(why), "{err}");
    }
}

#[test]
fn a_truncated_answer_is_asked_again_over_tcp_and_fills_every_slot() {
    let dns = DnsServer::start();
    let octets: Vec<u8> = (1..=20).collect();
    dns.set_hosts(NAME, &octets);
    dns.set_truncating(true);
    let weir = proxy(&dns, &format!("{NAME}:80"), "resolve = \"100ms\"", "");
    let status = name_status(weir.admin.unwrap());
    let addrs = status["addresses"].as_array().unwrap();
    assert_eq!(addrs.len(), 16, "{status}");
    assert!(
        status["result"]
            .as_str()
            .unwrap()
            .contains("4 more address(es)"),
        "{status}"
    );
    assert!(dns.tcp_queries() >= 1, "no query came over TCP");
}

#[test]
fn search_domains_are_tried_in_ndots_order_and_a_trailing_dot_is_absolute() {
    let dns = DnsServer::start();
    dns.set_hosts("api.weir.test", &[1]);
    dns.set_hosts("api.ns", &[2]);
    let search = "search = [\"svc.weir.test\", \"weir.test.\"]\nndots = 2";
    let resolve = "resolve = \"1m\"";
    // Fewer dots than ndots: the search list first, then the name as written.
    let weir = proxy(&dns, "api:80", resolve, search);
    let status = name_status(weir.admin.unwrap());
    assert_eq!(
        status["addresses"],
        serde_json::json!(["127.0.0.1:80"]),
        "{status}"
    );
    assert_eq!(dns.asked()[..2], ["api.svc.weir.test", "api.svc.weir.test"]);
    assert!(
        dns.asked()[2..4].iter().all(|n| n == "api.weir.test"),
        "{:?}",
        dns.asked()
    );
    drop(weir);
    // As many dots as ndots (2 here: "api.ns" has one, so it is searched first; with
    // ndots = 1 it is tried as written first and answers).
    let ndots1 = "search = [\"svc.weir.test\"]\nndots = 1";
    let before = dns.asked().len();
    let weir = proxy(&dns, "api.ns:80", resolve, ndots1);
    let status = name_status(weir.admin.unwrap());
    assert_eq!(
        status["addresses"],
        serde_json::json!(["127.0.0.2:80"]),
        "{status}"
    );
    assert!(
        dns.asked()[before..].iter().all(|n| n == "api.ns"),
        "{:?}",
        dns.asked()
    );
    drop(weir);
    // A trailing dot: only the name as written, which does not exist.
    let before = dns.asked().len();
    let weir = proxy(&dns, "api.:80", resolve, search);
    let status = name_status(weir.admin.unwrap());
    assert_eq!(status["name"], "api.:80");
    assert_eq!(status["resolved"], false, "{status}");
    assert!(
        status["result"].as_str().unwrap().contains("NXDOMAIN"),
        "{status}"
    );
    assert!(
        dns.asked()[before..].iter().all(|n| n == "api"),
        "{:?}",
        dns.asked()
    );
}

#[test]
fn resolver_search_config_errors_name_the_file_the_key_and_the_reason() {
    let group = "[upstream]\nservers = [\"api:80\"]\nresolve = \"5s\"\n[resolver]\n";
    let cases = [
        (
            "search = [\"svc.local\", \"\"]\n",
            "resolver.search[1]",
            "not a domain name",
        ),
        (
            "search = [\"10.0.0.1\"]\n",
            "resolver.search[0]",
            "not a domain name",
        ),
        ("ndots = 16\n", "resolver.ndots", "at most 15"),
    ];
    for (keys, key, why) in cases {
        let err = weir::Config::parse(&format!("{group}{keys}"), "r.toml").unwrap_err();
        assert_eq!(err.key, key, "{err}");
        assert!(
            err.to_string().starts_with(&format!("r.toml: {key}: ")),
            "{err}"
        );
        assert!(err.to_string().contains(why), "{err}");
    }
}
#[test]
fn a_group_whose_names_never_resolved_answers_503_naming_the_reason() {
    let dns = DnsServer::start();
    let weir = proxy(&dns, &format!("{NAME}:80"), "resolve = \"100ms\"", "");
    let r = once(weir.addr, &get("/"));
    assert_eq!(r.status, 503, "{}", r.text());
    let body = r.text();
    assert!(
        body.contains("has no server address yet: its names have not resolved"),
        "{body}"
    );
    // The name and the lookup's result are for the error log, not for clients.
    assert!(!body.contains(NAME) && !body.contains("NXDOMAIN"), "{body}");
}
