//! What choosing a route costs per request, with 10 routes and with 10,000 (1,000 hosts ×
//! 10 paths): path normalisation plus table lookup, over a mix of exact-host hits,
//! wildcard hits and misses. Prints the median ns per match over 25 short rounds, with the
//! fastest and slowest round, and how long building the table took (a reload pays it).
//!
//! Run: `cargo run --release --example route_match`

use std::hint::black_box;
use std::time::Instant;

use weir::http::Headers;
use weir::route::{normalize, Arrival, PathRule, Request, RouteSpec, Table};

const LOOKUPS: usize = 200_000;
const ROUNDS: usize = 25;
/// Requests in the mix; a power of two, so picking one costs a mask, not a division.
const MIX: usize = 64;

fn route(host: &str, path: PathRule) -> RouteSpec {
    RouteSpec {
        hosts: vec![host.into()],
        path,
        ..RouteSpec::default()
    }
}

/// `hosts` sites of ten prefix routes each, a wildcard site and a catch-all.
fn table(hosts: usize) -> Table {
    let mut routes = Vec::new();
    for h in 0..hosts {
        for p in 0..10 {
            let path = PathRule::Prefix(format!("/svc{p}/v1"));
            routes.push(route(&format!("site{h}.example.com"), path));
        }
    }
    routes.push(route(
        "*.cdn.example.com",
        PathRule::Prefix("/static/".into()),
    ));
    routes.push(route("*", PathRule::Exact("/health".into())));
    let (table, warnings) = Table::build(&routes).expect("routes build");
    assert!(warnings.is_empty(), "{warnings:?}");
    table
}

/// Requests as (Host, target): exact hits (some with port and capitals), wildcard hits,
/// catch-all hits and misses of each kind.
fn requests(hosts: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for i in 0..MIX {
        let h = (i * 7919) % hosts;
        let p = i % 10;
        out.push(match i % 8 {
            0 | 1 => (
                format!("site{h}.example.com"),
                format!("/svc{p}/v1/users/{i}"),
            ),
            2 => (
                format!("Site{h}.Example.com:8080"),
                format!("/svc{p}/v1?q={i}"),
            ),
            3 => (
                format!("site{h}.example.com"),
                format!("/svc{p}/./v1/items/{i}/detail"),
            ),
            4 => (
                format!("img{i}.cdn.example.com"),
                format!("/static/app-{i}.js"),
            ),
            5 => ("other.org".into(), "/health".into()),
            6 => (format!("site{h}.example.com"), format!("/nope/{i}")), // miss in the site
            _ => ("unknown.example.net".into(), format!("/svc{p}/v1")),  // miss: no site
        });
    }
    out
}

/// Median, min and max of per-round ns per call of `f`, over `ROUNDS` rounds.
fn rounds(mut f: impl FnMut(usize) -> bool) -> (f64, f64, f64, usize) {
    let mut found = 0;
    let mut rounds = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        found = 0;
        let start = Instant::now();
        for k in 0..LOOKUPS {
            found += usize::from(f(k));
        }
        rounds.push(start.elapsed().as_nanos() as f64 / LOOKUPS as f64);
    }
    rounds.sort_by(f64::total_cmp);
    (rounds[ROUNDS / 2], rounds[0], rounds[ROUNDS - 1], found)
}

fn report(what: &str, (median, min, max, found): (f64, f64, f64, usize)) {
    println!(
        "  {what:<18} median {median:6.1} ns  (min {min:.1}, max {max:.1})  {:.0}% found",
        100.0 * found as f64 / LOOKUPS as f64
    );
}

fn main() {
    println!("{LOOKUPS} calls per round, {ROUNDS} rounds; ns per call");
    let headers = Headers::new();
    let mut path = Vec::with_capacity(256);
    for hosts in [1, 1000] {
        let start = Instant::now();
        let t = table(hosts);
        let built = start.elapsed().as_secs_f64() * 1e3;
        let reqs = requests(hosts);
        println!(
            "{} routes ({hosts} hosts x 10, a wildcard, a catch-all), built in {built:.1} ms:",
            t.len()
        );
        let normalised: Vec<Vec<u8>> = reqs
            .iter()
            .map(|(_, target)| {
                let mut p = Vec::new();
                normalize(target.as_bytes(), &mut p).expect("valid path");
                p
            })
            .collect();
        report(
            "normalise + find",
            rounds(|k| {
                let (host, target) = &reqs[k % MIX];
                normalize(black_box(target.as_bytes()), &mut path).expect("valid path");
                let req = Request {
                    host: Some(black_box(host.as_bytes())),
                    path: &path,
                    method: "GET",
                    headers: &headers,
                    arrival: Arrival::default(),
                };
                black_box(t.find(&req)).is_some()
            }),
        );
        report(
            "find",
            rounds(|k| {
                let req = Request {
                    host: Some(black_box(reqs[k % MIX].0.as_bytes())),
                    path: black_box(&normalised[k % MIX]),
                    method: "GET",
                    headers: &headers,
                    arrival: Arrival::default(),
                };
                black_box(t.find(&req)).is_some()
            }),
        );
        report(
            "normalise",
            rounds(|k| {
                let target = &reqs[k % MIX].1;
                normalize(black_box(target.as_bytes()), &mut path).is_ok()
            }),
        );
    }
}
