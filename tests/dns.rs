//! DNS service discovery: a DNS server inside the test (`util::dns`) changes its
//! answers while weir serves, and weir's group follows: servers join and leave with no
//! failed request, a failed lookup keeps the last set, and weir starts before its
//! upstream's name exists.

mod util;

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use util::client::{get, once, Conn};
use util::dns::{name_status, DnsServer, Zone};
use weir::backend::{Backend, Mode};
use weir::rt::Runtime;

const NAME: &str = "api.weir.test";
/// Every wait below gives up after this.
const LIMIT: Duration = Duration::from_secs(20);

/// Backends named `backend N` on 127.0.0.N, all on one port (a name gives addresses,
/// the config entry the port).
fn backends(octets: &[u8]) -> u16 {
    'port: loop {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let mut bound = Vec::new();
        for &o in octets {
            let addr = SocketAddr::from(([127, 0, 0, o], port));
            match Backend::bind(addr, Mode::Name(format!("backend {o}"))) {
                Ok(b) => bound.push(b),
                Err(_) => continue 'port, // taken on one of the addresses: another port
            }
        }
        for b in bound {
            thread::spawn(move || {
                let rt = Runtime::new();
                rt.clone().block_on(1, b.serve(rt));
            });
        }
        return port;
    }
}

/// weir over `api.weir.test:PORT`, looked up at `dns` every 100ms, with an admin
/// listener.
fn proxy(dns: &DnsServer, port: u16) -> util::TestProxy {
    proxy_over(dns, &format!("{NAME}:{port}"))
}

/// weir over the one `servers` entry `entry`, looked up as [`proxy`] does.
fn proxy_over(dns: &DnsServer, entry: &str) -> util::TestProxy {
    let text = format!(
        r#"
listen = "127.0.0.1:0"
threads = 2
[[middleware]]
builtin = "balancer"
[upstream]
servers = ["{entry}"]
resolve = "100ms"
[resolver]
nameservers = ["{}"]
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

/// Clients sending GETs on keep-alive connections until stopped (at most for
/// [`LIMIT`] times three), counting failures and noting which backend answered.
struct Load {
    stop: Arc<AtomicBool>,
    failed: Arc<AtomicUsize>,
    served: Arc<AtomicUsize>,
    /// Backends seen since the last `clear`.
    seen: Arc<Mutex<HashSet<String>>>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Load {
    fn start(addr: SocketAddr, clients: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let failed = Arc::new(AtomicUsize::new(0));
        let served = Arc::new(AtomicUsize::new(0));
        let seen: Arc<Mutex<HashSet<String>>> = Arc::default();
        let threads = (0..clients)
            .map(|_| {
                let (stop, failed) = (stop.clone(), failed.clone());
                let (served, seen) = (served.clone(), seen.clone());
                thread::spawn(move || {
                    let end = Instant::now() + LIMIT * 3;
                    let mut c = Conn::open(addr);
                    while !stop.load(SeqCst) && Instant::now() < end {
                        c.send(&get("/"));
                        match c.read(false) {
                            Some(r) if r.status == 200 => {
                                served.fetch_add(1, SeqCst);
                                seen.lock().unwrap().insert(r.text().trim().to_string());
                            }
                            other => {
                                eprintln!("failed: {:?}", other.map(|r| (r.status, r.text())));
                                failed.fetch_add(1, SeqCst);
                                c = Conn::open(addr);
                            }
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            failed,
            served,
            seen,
            threads,
        }
    }

    /// Waits until exactly the backends `octets` answer: every one of them seen, and
    /// then 200 responses in a row from them alone.
    fn wait_for_set(&self, octets: &[u8]) {
        let want: HashSet<String> = octets.iter().map(|o| format!("backend {o}")).collect();
        let mut since = self.served.load(SeqCst);
        self.seen.lock().unwrap().clear();
        wait_until(&format!("exactly {want:?} answer"), || {
            let seen = self.seen.lock().unwrap().clone();
            if !seen.is_subset(&want) {
                // An answer from a server that left (its request began before it did):
                // start counting again.
                self.seen.lock().unwrap().clear();
                since = self.served.load(SeqCst);
                return false;
            }
            seen == want && self.served.load(SeqCst) >= since + 200
        });
    }

    fn finish(self) -> (usize, usize) {
        self.stop.store(true, SeqCst);
        for t in self.threads {
            t.join().unwrap();
        }
        (self.served.load(SeqCst), self.failed.load(SeqCst))
    }
}

#[test]
fn servers_join_and_leave_under_load_with_no_failed_request() {
    let port = backends(&[1, 2, 3, 4]);
    let dns = DnsServer::start();
    dns.set_hosts(NAME, &[1]);
    let weir = proxy(&dns, port);
    let load = Load::start(weir.addr, 4);
    load.wait_for_set(&[1]);
    let admin = weir.admin.unwrap();
    let requests = |o: u8| {
        let v = util::admin::json(admin, "/api/upstreams");
        let list = v["groups"][0]["servers"].as_array().unwrap().clone();
        let me = format!("127.0.0.{o}:{port}");
        let s = list.into_iter().find(|s| s["addr"] == me.as_str());
        s.map_or(0, |s| s["requests"].as_u64().unwrap())
    };
    for set in [&[1, 2, 3][..], &[2, 3], &[3, 4], &[1, 2, 3, 4], &[4]] {
        // A server that stays keeps its counters (and with them its slot and pool).
        let before: Vec<(u8, u64)> = set.iter().map(|&o| (o, requests(o))).collect();
        dns.set_hosts(NAME, set);
        load.wait_for_set(set);
        for (o, n) in before {
            assert!(
                requests(o) >= n,
                "127.0.0.{o} lost its counters: {n} before"
            );
        }
    }
    let (served, failed) = load.finish();
    assert_eq!(failed, 0, "{failed} of {} requests failed", served + failed);
    let status = name_status(weir.admin.unwrap());
    assert_eq!(
        status["addresses"],
        serde_json::json!([format!("127.0.0.4:{port}")])
    );
    assert_eq!(status["result"], "ok");
}

#[test]
fn a_failed_lookup_keeps_the_last_set() {
    let port = backends(&[5, 6]);
    let dns = DnsServer::start();
    dns.set_hosts(NAME, &[5, 6]);
    let weir = proxy(&dns, port);
    let admin = weir.admin.unwrap();
    let load = Load::start(weir.addr, 2);
    load.wait_for_set(&[5, 6]);
    for (zone, says) in [
        (Zone::ServFail, "SERVFAIL"),
        (Zone::NxDomain, "NXDOMAIN"),
        (Zone::A(Vec::new()), "no A or AAAA record"),
        (Zone::Silent, "no answer"),
    ] {
        dns.set(NAME, zone);
        wait_until(&format!("the lookup says {says}"), || {
            name_status(admin)["result"]
                .as_str()
                .unwrap()
                .contains(says)
        });
        load.wait_for_set(&[5, 6]);
        let metrics = util::admin::scrape(admin);
        let ok =
            format!("weir_upstream_dns_lookup_ok{{upstream=\"default\",name=\"{NAME}:{port}\"}}");
        assert_eq!(util::admin::value(&metrics, &ok), Some(0.0), "{metrics}");
        let addrs =
            format!("weir_upstream_dns_addresses{{upstream=\"default\",name=\"{NAME}:{port}\"}}");
        assert_eq!(util::admin::value(&metrics, &addrs), Some(2.0), "{metrics}");
    }
    dns.set_hosts(NAME, &[6]);
    load.wait_for_set(&[6]);
    let (served, failed) = load.finish();
    assert_eq!(failed, 0, "{failed} of {} requests failed", served + failed);
    assert_eq!(name_status(admin)["result"], "ok");
}

#[test]
fn weir_starts_before_the_name_exists_and_serves_once_it_does() {
    let port = backends(&[7]);
    let dns = DnsServer::start();
    let weir = proxy(&dns, port);
    let admin = weir.admin.unwrap();
    let r = once(weir.addr, &get("/"));
    assert_eq!(r.status, 503, "{}", r.text());
    let status = name_status(admin);
    assert_eq!(status["resolved"], false);
    assert!(
        status["result"].as_str().unwrap().contains("NXDOMAIN"),
        "{status}"
    );
    dns.set_hosts(NAME, &[7]);
    wait_until("the name resolves and weir serves", || {
        once(weir.addr, &get("/")).status == 200
    });
    assert_eq!(once(weir.addr, &get("/")).text().trim(), "backend 7");
    assert_eq!(name_status(admin)["resolved"], true);
}

#[test]
fn without_resolve_a_name_that_does_not_resolve_stops_start_up_naming_the_key() {
    let text = "[upstream]\nservers = [\"127.0.0.1:1\", \"nowhere.weir.invalid:80\"]\n";
    let err = weir::Config::parse(text, "w.toml").unwrap_err();
    assert_eq!(err.key, "upstream.servers[1]", "{err}");
    assert!(
        err.to_string().starts_with("w.toml: upstream.servers[1]: "),
        "{err}"
    );
}

#[test]
fn discovery_config_errors_name_the_file_the_key_and_the_reason() {
    let cases = [
        (
            "[upstream]\nservers = [\"127.0.0.1:1\"]\nresolve = \"5s\"\n",
            "upstream.resolve",
            "no entry of `servers` is a host name",
        ),
        (
            "[upstream]\nservers = [\"api.weir.test:80\"]\nresolve = \"0s\"\n",
            "upstream.resolve",
            "more than 0s",
        ),
        (
            "[upstreams.api]\nservers = [\"_http._tcp.api.weir.test\"]\n",
            "upstreams.api.servers[0]",
            "SRV name, looked up only in a group with `resolve`",
        ),
        (
            "[upstream]\nservers = [\"api.weir.test:80\"]\nresolve = \"5s\"\n[resolver]\nnameservers = [\"dns.weir.test\"]\n",
            "resolver.nameservers[0]",
            "not an IP address",
        ),
    ];
    for (text, key, why) in cases {
        let err = weir::Config::parse(text, "d.toml").unwrap_err();
        assert_eq!(err.key, key, "{err}");
        assert!(
            err.to_string().starts_with(&format!("d.toml: {key}: ")),
            "{err}"
        );
        assert!(err.to_string().contains(why), "{err}");
    }
}

#[test]
fn srv_weights_are_respected_and_a_higher_priority_waits_while_the_lowest_is_up() {
    let port = backends(&[11, 12, 13]);
    let dns = DnsServer::start();
    for o in [11, 12, 13] {
        dns.set_hosts(&format!("t{o}.weir.test"), &[o]);
    }
    let srv = "_http._tcp.api.weir.test";
    let target = |priority, weight, o: u8| (priority, weight, port, format!("t{o}.weir.test"));
    dns.set(
        srv,
        Zone::Srv(vec![target(0, 1, 11), target(0, 3, 12), target(1, 1, 13)]),
    );
    let weir = proxy_over(&dns, srv);
    let admin = weir.admin.unwrap();
    let status = name_status(admin);
    assert_eq!(status["name"], srv);
    assert_eq!(status["addresses"].as_array().unwrap().len(), 3, "{status}");
    // Smooth round-robin over weights 1 and 3: exactly 1 in 4, the backup never.
    let mut c = Conn::open(weir.addr);
    let mut counts = std::collections::HashMap::new();
    for _ in 0..400 {
        let r = c.roundtrip(&get("/"));
        assert_eq!(r.status, 200);
        *counts.entry(r.text().trim().to_string()).or_insert(0) += 1;
    }
    assert_eq!(counts.get("backend 11"), Some(&100), "{counts:?}");
    assert_eq!(counts.get("backend 12"), Some(&300), "{counts:?}");
    assert_eq!(counts.get("backend 13"), None, "{counts:?}");
    // With the lowest priority drained, the next one serves.
    for o in [11, 12] {
        let path = format!("/api/upstreams/default/servers/127.0.0.{o}:{port}/drain");
        let r = util::admin::call(admin, "POST", &path, None);
        assert_eq!(r.status, 200, "{}", r.text());
    }
    for _ in 0..20 {
        assert_eq!(c.roundtrip(&get("/")).text().trim(), "backend 13");
    }
}

#[test]
fn a_server_that_leaves_finishes_its_request_in_flight_and_takes_no_new_one() {
    use std::sync::mpsc;
    // The leaving server answers only when the test says so.
    let (arrived_tx, arrived) = mpsc::channel::<()>();
    let (release, gate) = mpsc::channel::<()>();
    let (arrived_tx, gate) = (Mutex::new(arrived_tx), Mutex::new(gate));
    let slow = util::origin::origin(move |_| {
        arrived_tx.lock().unwrap().send(()).unwrap();
        gate.lock().unwrap().recv_timeout(LIMIT).unwrap();
        util::origin::ok(b"slow")
    });
    let port = backends(&[14]);
    let dns = DnsServer::start();
    dns.set_hosts("slow.weir.test", &[1]);
    dns.set_hosts("t14.weir.test", &[14]);
    let srv = "_http._tcp.api.weir.test";
    let slow_srv = (0, 1, slow.addr.port(), "slow.weir.test".to_string());
    dns.set(srv, Zone::Srv(vec![slow_srv]));
    let weir = proxy_over(&dns, srv);
    let admin = weir.admin.unwrap();
    let addr = weir.addr;
    let in_flight = thread::spawn(move || once(addr, &get("/")));
    arrived
        .recv_timeout(LIMIT)
        .expect("the request reached the slow server");

    dns.set(srv, Zone::Srv(vec![(0, 1, port, "t14.weir.test".into())]));
    let server = |a: SocketAddr| {
        let v = util::admin::json(admin, "/api/upstreams");
        let list = v["groups"][0]["servers"].as_array().unwrap().clone();
        list.into_iter().find(|s| s["addr"] == a.to_string())
    };
    wait_until("the slow server is leaving, its request in flight", || {
        server(slow.addr).is_some_and(|s| s["listed"] == false && s["in_flight"] == 1)
    });
    for _ in 0..20 {
        assert_eq!(once(addr, &get("/")).text().trim(), "backend 14");
    }
    release.send(()).unwrap();
    let r = in_flight.join().unwrap();
    assert_eq!(
        (r.status, r.text().trim()),
        (200, "slow"),
        "the request in flight finished"
    );
    wait_until("the slow server is gone from the list", || {
        server(slow.addr).is_none()
    });
}
