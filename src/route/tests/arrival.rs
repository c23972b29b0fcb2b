//! Conditions on where a request came in: `scheme` and `listeners` fall through like
//! methods and headers, and shadow only what they cover.

use super::*;

/// A request over `scheme` on listener `listener`.
fn via(scheme: Scheme, listener: Option<usize>) -> Arrival {
    Arrival { scheme, listener }
}

#[test]
fn scheme_and_listeners_fall_through_like_methods() {
    let names = [Some("public".to_string()), None, Some("internal".into())];
    let mut http = route(&[], PathRule::Any);
    http.scheme = Some(Scheme::Http);
    let mut internal = route(&[], prefix("/admin"));
    internal.listeners = vec!["internal".into(), "internal".into()];
    let mut both = route(&[], prefix("/admin"));
    both.listeners = vec!["public".into()];
    both.scheme = Some(Scheme::Https);
    let (t, warnings) = Table::build_for(
        &[
            http,                         // 0
            internal,                     // 1
            both,                         // 2
            route(&[], PathRule::Any),    // 3: the catch-all after the http route
            route(&[], prefix("/admin")), // 4
        ],
        &names,
    )
    .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(t.by_listener());
    let cases = [
        ("/", via(Scheme::Http, Some(0)), Some(0)),
        ("/", via(Scheme::Https, Some(0)), Some(3)),
        ("/admin/x", via(Scheme::Http, Some(2)), Some(1)),
        ("/admin/x", via(Scheme::Https, Some(2)), Some(1)),
        ("/admin/x", via(Scheme::Https, Some(0)), Some(2)),
        ("/admin/x", via(Scheme::Https, Some(1)), Some(4)),
        ("/admin/x", via(Scheme::Https, None), Some(4)),
        // The http route has the shorter path: the /admin candidates come first.
        ("/admin/x", via(Scheme::Http, Some(0)), Some(4)),
    ];
    for (path, arrival, want) in cases {
        let got = find_from(&t, Some("h"), path, "GET", &[], arrival);
        assert_eq!(got, want, "{path} {arrival:?}");
    }
    assert!(!build(&[route(&[], PathRule::Any)]).by_listener());
}

#[test]
fn listeners_are_named_by_name_only() {
    let names = [Some("public".to_string()), None];
    for (listener, why) in [
        ("nope", "no listener named \"nope\" (named: public)"),
        ("127.0.0.1:8080", "not address"),
    ] {
        let mut spec = route(&[], PathRule::Any);
        spec.listeners = vec!["public".into(), listener.into()];
        let err = Table::build_for(&[route(&["a"], PathRule::Any), spec], &names).unwrap_err();
        assert_eq!(err.config_key(), "routes[1].listeners[1]");
        assert!(err.reason.contains(why), "{err}");
    }
    let mut spec = route(&[], PathRule::Any);
    spec.listeners = vec!["public".into()];
    let err = Table::build(&[spec]).unwrap_err();
    assert!(err.reason.contains("(named: none)"), "{err}");
}

#[test]
fn a_scheme_or_listener_route_shadows_only_what_it_covers() {
    let names = [Some("a".to_string()), Some("b".into())];
    let cond = |scheme: Option<Scheme>, listeners: &[&str]| {
        let mut r = route(&[], PathRule::Any);
        r.scheme = scheme;
        r.listeners = listeners.iter().map(|l| l.to_string()).collect();
        r
    };
    let (_, warnings) = Table::build_for(
        &[
            cond(Some(Scheme::Http), &[]),          // 0
            cond(None, &["a"]),                     // 1
            cond(Some(Scheme::Http), &["b"]),       // 2: shadowed by 0
            cond(Some(Scheme::Https), &["a", "b"]), // 3: reachable over b
            cond(Some(Scheme::Https), &["a"]),      // 4: shadowed by 1 and 3
            route(&[], PathRule::Any),              // 5: reachable
        ],
        &names,
    )
    .unwrap();
    let text: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "routes[2] can never match: routes[0] matches every request it does, first",
            "routes[4] can never match: routes[1] matches every request it does, first",
        ]
    );
}

#[test]
fn describe_shows_scheme_and_listeners() {
    let names = [Some("public".to_string()), Some("internal".into())];
    let mut http = route(&[], PathRule::Any);
    http.scheme = Some(Scheme::Http);
    let mut inside = route(&[], prefix("/admin"));
    inside.listeners = vec!["internal".into(), "public".into()];
    inside.methods = vec!["GET".into()];
    let (t, _) = Table::build_for(&[http, inside, route(&[], PathRule::Any)], &names).unwrap();
    assert_eq!(
        t.describe().to_string(),
        "any host\n\
         \x20 /admin               methods GET listeners public,internal -> routes[1]\n\
         \x20 (any path)           scheme http -> routes[0]\n\
         \x20 (any path)           -> routes[2]\n"
    );
}
