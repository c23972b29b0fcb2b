//! Exact route choice for every rule, table-driven: each case names the request and the
//! index it must take.

use super::*;

fn route(hosts: &[&str], path: PathRule) -> RouteSpec {
    RouteSpec {
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        path,
        ..RouteSpec::default()
    }
}

fn prefix(p: &str) -> PathRule {
    PathRule::Prefix(p.into())
}

fn exact(p: &str) -> PathRule {
    PathRule::Exact(p.into())
}

/// Finds the route for a raw target, as the engine would: normalise, then look up.
fn find_with(
    t: &Table,
    host: Option<&str>,
    target: &str,
    method: &str,
    h: &[(&str, &str)],
) -> Option<usize> {
    find_from(t, host, target, method, h, Arrival::default())
}

/// [`find_with`] for a request that came in as `arrival` says.
fn find_from(
    t: &Table,
    host: Option<&str>,
    target: &str,
    method: &str,
    h: &[(&str, &str)],
    arrival: Arrival,
) -> Option<usize> {
    let mut headers = Headers::new();
    for (n, v) in h {
        headers.add(n, v).unwrap();
    }
    let mut path = Vec::new();
    normalize(target.as_bytes(), &mut path).ok()?;
    t.find(&Request {
        host: host.map(str::as_bytes),
        path: &path,
        method,
        headers: &headers,
        arrival,
    })
}

fn find(t: &Table, host: &str, target: &str) -> Option<usize> {
    find_with(t, Some(host), target, "GET", &[])
}

fn build(routes: &[RouteSpec]) -> Table {
    let (t, warnings) = Table::build(routes).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    t
}

#[test]
fn host_priority() {
    let t = build(&[
        route(&["*"], PathRule::Any),                 // 0
        route(&["*.example.com"], PathRule::Any),     // 1
        route(&["*.api.example.com"], PathRule::Any), // 2
        route(&["api.example.com"], PathRule::Any),   // 3
        route(&["x.api.example.com"], PathRule::Any), // 4
        route(&["[::1]", "10.0.0.1"], PathRule::Any), // 5
    ]);
    let cases = [
        ("api.example.com", Some(3)),
        ("x.api.example.com", Some(4)),
        ("y.api.example.com", Some(2)),
        ("a.b.api.example.com", Some(2)),
        ("www.example.com", Some(1)),
        ("a.b.c.example.com", Some(1)),
        ("example.com", Some(0)),
        ("other.org", Some(0)),
        ("notexample.com", Some(0)),
        ("xexample.com", Some(0)),
        ("[::1]:8080", Some(5)),
        ("10.0.0.1:80", Some(5)),
        ("", Some(0)),
    ];
    for (host, want) in cases {
        assert_eq!(find(&t, host, "/"), want, "{host}");
    }
    assert_eq!(find_with(&t, None, "/", "GET", &[]), Some(0), "no host");
}

#[test]
fn host_case_port_and_trailing_dot() {
    let t = build(&[
        route(&["Api.Example.COM."], PathRule::Any),
        route(&["*.Example.com"], PathRule::Any),
    ]);
    for host in [
        "api.example.com",
        "API.EXAMPLE.COM",
        "Api.Example.com:8080",
        "api.example.com.",
        "api.example.com.:443",
    ] {
        assert_eq!(find(&t, host, "/"), Some(0), "{host}");
    }
    for host in ["WWW.example.COM:81", "a.example.com."] {
        assert_eq!(find(&t, host, "/"), Some(1), "{host}");
    }
    assert_eq!(find(&t, "example.com", "/"), None, "no catch-all: 404");
}

#[test]
fn no_fallback_to_a_less_specific_host() {
    let t = build(&[
        route(&["api.example.com"], prefix("/v1")),   // 0
        route(&["*.example.com"], prefix("/static")), // 1
        route(&[], PathRule::Any),                    // 2
    ]);
    assert_eq!(find(&t, "api.example.com", "/v1/x"), Some(0));
    assert_eq!(
        find(&t, "api.example.com", "/static/x"),
        None,
        "the exact host's site only"
    );
    assert_eq!(find(&t, "api.example.com", "/"), None);
    assert_eq!(find(&t, "www.example.com", "/static/a"), Some(1));
    assert_eq!(find(&t, "www.example.com", "/v1"), None);
    assert_eq!(find(&t, "other.org", "/v1"), Some(2));
}

#[test]
fn path_priority() {
    let t = build(&[
        route(&[], PathRule::Any),            // 0
        route(&[], prefix("/")),              // 1
        route(&[], prefix("/api")),           // 2
        route(&[], prefix("/api/v2/")),       // 3
        route(&[], exact("/api/v2/health")),  // 4
        route(&[], prefix("/api/v2/health")), // 5
        route(&[], exact("/")),               // 6
    ]);
    let cases = [
        ("/", Some(6)),
        ("/x", Some(1)),
        ("/api", Some(2)),
        ("/api/", Some(2)),
        ("/apix", Some(1)),
        ("/api/v2", Some(2)),
        ("/api/v2/", Some(3)),
        ("/api/v2/x", Some(3)),
        ("/api/v2/health", Some(4)),
        ("/api/v2/health/", Some(5)),
        ("/api/v2/health/deep", Some(5)),
        ("/api/v2/healthz", Some(3)),
        ("*", Some(0)),
    ];
    for (path, want) in cases {
        assert_eq!(find(&t, "h", path), want, "{path}");
    }
}

#[test]
fn segment_boundaries() {
    let t = build(&[route(&[], prefix("/api")), route(&["b"], prefix("/api/"))]);
    for (path, want) in [
        ("/api", Some(0)),
        ("/api/", Some(0)),
        ("/api/x", Some(0)),
        ("/api/x/y", Some(0)),
        ("/apix", None),
        ("/ap", None),
        ("/api%2Fx", None),
        ("/", None),
        ("*", None),
    ] {
        assert_eq!(find(&t, "a", path), want, "a {path}");
    }
    for (path, want) in [
        ("/api/", Some(1)),
        ("/api/x", Some(1)),
        ("/api", None),
        ("/apix", None),
    ] {
        assert_eq!(find(&t, "b", path), want, "b {path}");
    }
}

/// Method, target, headers, and the route it must take.
type Case = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    Option<usize>,
);

#[test]
fn methods_and_headers_in_file_order_then_shorter_paths() {
    let h = |n: &str, v: &str| (n.to_string(), v.to_string());
    let mut canary = route(&[], prefix("/app"));
    canary.headers = vec![h("X-Canary", "1")];
    let mut post = route(&[], prefix("/app"));
    post.methods = vec!["POST".into(), "PUT".into()];
    let mut both = route(&[], prefix("/app"));
    both.methods = vec!["POST".into()];
    both.headers = vec![h("x-canary", "1"), h("x-team", "a")];
    let mut login = route(&[], exact("/login"));
    login.methods = vec!["POST".into()];
    let (t, warnings) = Table::build(&[
        canary,                     // 0
        both,                       // 1: canary always comes first
        post,                       // 2
        route(&[], prefix("/app")), // 3
        login,                      // 4
        route(&[], prefix("/")),    // 5
    ])
    .unwrap();
    assert_eq!(
        warnings[0].to_string(),
        "routes[1] can never match: routes[0] matches every request it does, first"
    );
    assert_eq!(warnings.len(), 1);
    let cases: [Case; 10] = [
        ("GET", "/app", &[], Some(3)),
        ("GET", "/app/x", &[("x-canary", "1")], Some(0)),
        ("GET", "/app/x", &[("X-CANARY", "1")], Some(0)),
        ("GET", "/app/x", &[("x-canary", "2")], Some(3)),
        (
            "GET",
            "/app/x",
            &[("x-canary", "2"), ("x-canary", "1")],
            Some(0),
        ),
        (
            "POST",
            "/app/x",
            &[("x-canary", "1"), ("x-team", "a")],
            Some(0),
        ),
        ("PUT", "/app/x", &[], Some(2)),
        ("put", "/app/x", &[], Some(3)),
        ("POST", "/login", &[], Some(4)),
        ("GET", "/login", &[], Some(5)),
    ];
    for (method, path, headers, want) in cases {
        assert_eq!(
            find_with(&t, Some("h"), path, method, headers),
            want,
            "{method} {path} {headers:?}"
        );
    }
}

#[test]
fn normalisation_attacks_reach_no_other_route() {
    let t = build(&[
        route(&[], prefix("/admin")), // 0
        route(&[], prefix("/api/")),  // 1
        route(&[], PathRule::Any),    // 2
    ]);
    let cases = [
        ("/admin", Some(0)),
        ("/api/x", Some(1)),
        ("/api/../admin", Some(0)),
        ("/api/%2e%2e/admin", Some(0)),
        ("//admin", Some(0)),
        ("/./admin", Some(0)),
        ("/%61dmin", Some(0)),
        ("/api/./x", Some(1)),
        ("/api/x/..", Some(1)),
        ("/api/x/../..", Some(2)),
        // An encoded slash is data: one segment under "/", neither /api/ nor /admin.
        ("/api%2f..%2fadmin", Some(2)),
        ("/api/..%5cadmin", Some(1)),
        // Refused by normalize (a 400): never looked up.
        ("/%2e%2e/admin", None),
        ("/../admin", None),
        ("\\admin", None),
        ("/api/..\\admin", None),
    ];
    for (path, want) in cases {
        assert_eq!(find(&t, "h", path), want, "{path}");
    }
}

#[test]
fn errors_name_the_key() {
    let mut bad_method = route(&[], PathRule::Any);
    bad_method.methods = vec!["GET".into(), "G T".into()];
    let mut bad_header = route(&[], PathRule::Any);
    bad_header.headers = vec![("x y".into(), "1".into())];
    let mut bad_value = route(&[], PathRule::Any);
    bad_value.headers = vec![("x".into(), "a\r\nb".into())];
    let cases = [
        (route(&["ok.com", "a*.b"], PathRule::Any), "routes[1].hosts[1]: invalid host pattern \"a*.b\": '*' may only be the whole first label, as in \"*.example.com\""),
        (route(&["a.com:80"], PathRule::Any), "routes[1].hosts[0]: invalid host pattern \"a.com:80\": a host pattern has no port (the request's port is ignored)"),
        (route(&["a..com"], PathRule::Any), "routes[1].hosts[0]: invalid host pattern \"a..com\": empty label"),
        (route(&[], prefix("api")), "routes[1].path: \"api\" does not begin with '/'"),
        (route(&[], exact("/a/../b")), "routes[1].path_exact: \"/a/../b\" is not in normal form (write \"/b\"): requests are matched after normalising"),
        (route(&[], prefix("/%7Eu")), "routes[1].path: \"/%7Eu\" is not in normal form (write \"/~u\"): requests are matched after normalising"),
        (route(&[], prefix("/a?b")), "routes[1].path: \"/a?b\": a route path has no query or fragment"),
        (bad_method, "routes[1].methods[1]: \"G T\" is not a method token"),
        (bad_header, "routes[1].headers.x y: \"x y\" is not a header name"),
        (bad_value, "routes[1].headers.x: value contains CR, LF or NUL"),
    ];
    for (spec, want) in cases {
        let err = Table::build(&[route(&["first"], PathRule::Any), spec]).unwrap_err();
        assert_eq!(err.to_string(), want);
    }
}

#[test]
fn identical_conditions_are_an_error() {
    let mut a = route(&["b.com", "A.com"], prefix("/x"));
    a.methods = vec!["GET".into(), "POST".into()];
    a.headers = vec![("X-A".into(), "1".into())];
    let mut b = route(&["a.com", "b.com."], prefix("/x"));
    b.methods = vec!["POST".into(), "GET".into()];
    b.headers = vec![("x-a".into(), "1".into())];
    let err =
        Table::build(&[route(&[], PathRule::Any), a, route(&[], prefix("/x")), b]).unwrap_err();
    assert_eq!(err.to_string(), "routes[3]: same conditions as routes[1]");
    // `*` and no hosts are the same condition.
    let err = Table::build(&[route(&["*"], PathRule::Any), route(&[], PathRule::Any)]).unwrap_err();
    assert_eq!(err.to_string(), "routes[1]: same conditions as routes[0]");
}

#[test]
fn shadowed_routes_are_warned() {
    let mut get = route(&["a.com"], prefix("/x"));
    get.methods = vec!["GET".into()];
    let mut get_canary = get.clone();
    get_canary.headers = vec![("x-canary".into(), "1".into())];
    let mut get_b = route(&["a.com", "b.com"], prefix("/x"));
    get_b.methods = vec!["GET".into()];
    let mut lower = route(&["c.com"], PathRule::Any);
    lower.methods = vec!["get".into()];
    let (_, warnings) = Table::build(&[
        route(&["a.com"], prefix("/x")), // 0
        get,                             // 1: shadowed by 0
        get_canary,                      // 2: shadowed by 0 (and 1)
        get_b,                           // 3: reachable through b.com
        route(&["b.com"], exact("/x")),  // 4: exact beats prefix: reachable
        lower,                           // 5: warned for its method
    ])
    .unwrap();
    let text: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "routes[1] can never match: routes[0] matches every request it does, first",
            "routes[2] can never match: routes[0] matches every request it does, first",
            "routes[5] methods[0] is \"get\", which never equals \"GET\": methods are case-sensitive",
        ]
    );
}

#[test]
fn describe_lists_match_order() {
    let mut named = route(&["api.example.com"], prefix("/v2/"));
    named.name = Some("api-v2".into());
    named.methods = vec!["GET".into()];
    let t = build(&[
        route(&[], PathRule::Any),
        route(&["*.example.com"], PathRule::Any),
        named,
        route(&["api.example.com"], exact("/health")),
    ]);
    assert_eq!(
        t.describe().to_string(),
        "host api.example.com\n\
         \x20 = /health            -> routes[3]\n\
         \x20 /v2/                 methods GET -> routes[2] \"api-v2\"\n\
         host *.example.com\n\
         \x20 (any path)           -> routes[1]\n\
         any host\n\
         \x20 (any path)           -> routes[0]\n"
    );
}

#[test]
fn strip_prefix_on_segments() {
    assert_eq!(strip_prefix(b"/v2/users", b"/v2"), Some(&b"/users"[..]));
    assert_eq!(strip_prefix(b"/v2/users", b"/v2/"), Some(&b"/users"[..]));
    assert_eq!(strip_prefix(b"/v2", b"/v2"), Some(&b""[..]));
    assert_eq!(strip_prefix(b"/v2x", b"/v2"), None);
}

#[test]
fn ten_thousand_routes() {
    let mut routes = Vec::new();
    for h in 0..1000 {
        for p in 0..10 {
            routes.push(route(
                &[&format!("h{h}.example.com")],
                prefix(&format!("/p{p}")),
            ));
        }
    }
    routes.push(route(&["*.example.com"], PathRule::Any));
    let t = build(&routes);
    assert_eq!(t.len(), 10_001);
    for h in [0, 1, 499, 999] {
        for p in 0..10 {
            let host = format!("H{h}.example.com:8080");
            assert_eq!(
                find(&t, &host, &format!("/p{p}/x")),
                Some(h * 10 + p),
                "{host} /p{p}"
            );
        }
    }
    assert_eq!(
        find(&t, "h5.example.com", "/p10"),
        None,
        "the exact host's site only"
    );
    assert_eq!(find(&t, "h1000.example.com", "/p1"), Some(10_000));
    assert_eq!(find(&t, "example.org", "/p1"), None);
}

#[test]
fn from_a_request_head() {
    let t = build(&[route(&["a.com"], prefix("/x")), route(&[], PathRule::Any)]);
    let mut head = crate::http::RequestHead::default();
    head.method.push_str("GET");
    head.target.push_str("/x/../x/y?q");
    head.headers.add("Host", "A.com:80").unwrap();
    let mut path = Vec::new();
    normalize(head.target.as_bytes(), &mut path).unwrap();
    assert_eq!(
        t.find(&Request::from_head(&head, &path, Arrival::default())),
        Some(0)
    );
    head.headers.clear();
    assert_eq!(
        t.find(&Request::from_head(&head, &path, Arrival::default())),
        Some(1),
        "HTTP/1.0, no Host"
    );
}

#[test]
fn a_route_may_sit_in_several_sites() {
    let t = build(&[
        route(&["a.com"], exact("/x")),                 // 0
        route(&["*", "a.com", "*.b.com"], prefix("/")), // 1
        route(&["*.c.b.com"], prefix("/y")),            // 2
    ]);
    let cases = [
        ("a.com", "/x", Some(0)),
        ("a.com", "/z", Some(1)),
        ("other", "/z", Some(1)),
        ("q.b.com", "/z", Some(1)),
        ("q.c.b.com", "/y/1", Some(2)),
        ("q.c.b.com", "/z", None),
    ];
    for (host, path, want) in cases {
        assert_eq!(find(&t, host, path), want, "{host} {path}");
    }
    assert_eq!(
        t.describe().to_string(),
        "host a.com\n\
         \x20 = /x                 -> routes[0]\n\
         \x20 /                    -> routes[1]\n\
         host *.c.b.com\n\
         \x20 /y                   -> routes[2]\n\
         host *.b.com\n\
         \x20 /                    -> routes[1]\n\
         any host\n\
         \x20 /                    -> routes[1]\n"
    );
}

mod arrival;
