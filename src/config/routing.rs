//! The config's upstream groups and routes: the one group `[upstream]` stands for when
//! there are no `[upstreams.NAME]`, the implicit catch-all route, the checks that
//! routes name groups, middleware and listeners that exist, and the warnings only the
//! listeners' kinds (plain or TLS) reveal.

use std::borrow::Cow;

use super::{Config, ConfigError, GroupConfig, Listener, RouteConfig};
use crate::route::{Scheme, Table, Warning};

impl Config {
    /// The upstream groups: `[upstreams.NAME]` in name order, or `[upstream]` as the
    /// one group `default`.
    pub fn upstream_groups(&self) -> &[GroupConfig] {
        match self.groups.is_empty() {
            true => std::slice::from_ref(&self.upstream),
            false => &self.groups,
        }
    }

    /// The routes in file order, or one catch-all to the only group when none are
    /// configured.
    pub fn route_list(&self) -> Cow<'_, [RouteConfig]> {
        if !self.routes.is_empty() {
            return Cow::Borrowed(&self.routes);
        }
        let groups = self.upstream_groups();
        Cow::Owned(vec![RouteConfig::catch_all(&groups[0].name)])
    }

    /// The group key prefix for messages: `upstream` or `upstreams.NAME`.
    pub(super) fn group_key(&self, g: &GroupConfig) -> String {
        if self.groups.is_empty() {
            "upstream".to_string()
        } else {
            format!("upstreams.{}", g.name)
        }
    }

    /// Routes name known groups, and a config with several groups has routes.
    pub(super) fn validate_routes(&self) -> Result<(), ConfigError> {
        let groups = self.upstream_groups();
        if self.routes.is_empty() && groups.len() > 1 {
            return Err(ConfigError::new(
                &self.source,
                "routes",
                "several [upstreams.*] groups need [[routes]] to say which requests go where",
            ));
        }
        let known: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
        for (i, r) in self.routes.iter().enumerate() {
            self.check_route(r, &known).map_err(|(key, why)| {
                ConfigError::new(&self.source, format!("routes[{i}].{key}"), why)
            })?;
        }
        // The conditions (hosts, paths, methods, headers, listeners) are the table's to
        // check, and its errors name the key.
        self.route_table().map(|_| ())
    }

    /// What one route says beyond its match conditions: its group, middleware,
    /// redirect and scheme, and that its paths fit together. `groups` are the known
    /// group names. An error is (key within the route, reason).
    fn check_route(&self, r: &RouteConfig, groups: &[&str]) -> Result<(), (String, String)> {
        let bad = |key: &str, why: String| Err((key.to_string(), why));
        match r.upstream.as_deref() {
            None if groups.len() == 1 => {}
            None => {
                return bad(
                    "upstream",
                    format!("is required; known: {}", groups.join(", ")),
                )
            }
            Some(name) if groups.contains(&name) => {}
            Some(name) => {
                let why = format!("no upstream group {name:?}; known: {}", groups.join(", "));
                return bad("upstream", why);
            }
        }
        for (j, name) in r.middleware.iter().enumerate() {
            if let Err(why) = self.check_route_middleware(name) {
                return bad(&format!("middleware[{j}]"), why);
            }
        }
        if r.redirect.as_deref().is_some_and(|to| to != "https") {
            return bad("redirect", "the only redirect is \"https\"".into());
        }
        if let Some(s) = r.scheme.as_deref().filter(|s| Scheme::parse(s).is_none()) {
            return bad("scheme", format!("{s:?} is not \"http\" or \"https\""));
        }
        if r.path.is_some() && r.path_exact.is_some() {
            let why = "give `path` (a prefix) or `path_exact`, not both";
            return bad("path_exact", why.into());
        }
        for (key, p) in [
            ("path", &r.path),
            ("path_exact", &r.path_exact),
            ("strip_prefix", &r.strip_prefix),
        ] {
            if let Some(p) = p.as_deref().filter(|p| !p.starts_with('/')) {
                return bad(key, format!("{p:?} must start with /"));
            }
            if let Some(p) = p.as_deref().filter(|p| p.contains('*')) {
                return bad(key, glob(p));
            }
        }
        r.check_strip_prefix()
            .or_else(|why| bad("strip_prefix", why))
    }

    /// A route's middleware must be a `[[middleware]]` entry of that name with
    /// `global = false`.
    fn check_route_middleware(&self, name: &str) -> Result<(), String> {
        let entry = self
            .middleware
            .iter()
            .find(|m| m.name.as_deref() == Some(name));
        match entry {
            Some(m) if !m.is_global() => Ok(()),
            Some(_) => Err(format!("middleware {name:?} is global (it runs for every request already); give it `global = false` to run it per route")),
            None => {
                let known: Vec<&str> = self
                    .middleware
                    .iter()
                    .filter(|m| !m.is_global())
                    .filter_map(|m| m.name.as_deref())
                    .collect();
                let known = match known.is_empty() {
                    true => "none".to_string(),
                    false => known.join(", "),
                };
                Err(format!(
                    "no middleware named {name:?} with `global = false`; known: {known}"
                ))
            }
        }
    }

    /// The match conditions of every route, for [`crate::route::Table::build_for`].
    pub fn route_specs(&self) -> Vec<crate::route::RouteSpec> {
        self.route_list().iter().map(RouteConfig::spec).collect()
    }

    /// Each listener's `name`, in `listen` order: what routes' `listeners` may name.
    pub fn listener_names(&self) -> Vec<Option<String>> {
        self.listen.iter().map(|l| l.name.clone()).collect()
    }

    /// The route table and its warnings; an error names the route's key.
    pub fn route_table(&self) -> Result<(Table, Vec<Warning>), ConfigError> {
        let (table, mut warnings) =
            Table::build_for(&self.route_specs(), &self.listener_names())
                .map_err(|e| ConfigError::new(&self.source, e.config_key(), e.reason))?;
        self.arrival_warnings(&mut warnings);
        warnings.sort_by_key(|w| w.index);
        Ok((table, warnings))
    }

    /// What the table cannot see, since it knows listeners by name only: a route whose
    /// `scheme` none of its listeners speaks can never match, and `redirect = "https"`
    /// on a route no plain request reaches never redirects.
    fn arrival_warnings(&self, warnings: &mut Vec<Warning>) {
        for (index, r) in self.routes.iter().enumerate() {
            let on = |l: &&Listener| {
                let named = |n: &String| r.listeners.contains(n);
                r.listeners.is_empty() || l.name.as_ref().is_some_and(named)
            };
            let kinds: Vec<Scheme> = self
                .listen
                .iter()
                .filter(on)
                .map(|l| Scheme::of_tls(l.tls.is_some()))
                .collect();
            let scheme = r.scheme.as_deref().and_then(Scheme::parse);
            if let Some(s) = scheme.filter(|s| !kinds.contains(s)) {
                let kind = if s == Scheme::Https { "TLS" } else { "plain" };
                let message = format!(
                    "can never match: it takes scheme = \"{}\" and none of its listeners is {kind}",
                    s.as_str()
                );
                warnings.push(Warning { index, message });
            } else if r.redirect.is_some()
                && (scheme == Some(Scheme::Https) || !kinds.contains(&Scheme::Http))
            {
                let message = "never redirects: redirect = \"https\" is for requests over plain HTTP, and none reach this route".into();
                warnings.push(Warning { index, message });
            }
        }
    }
}

/// Why a path with `*` is refused: it would be compared literally, so `/api/*` would
/// match only the path `/api/*` and `/api/x` would silently go to another route. Route
/// paths are prefixes already; the message says which one to write.
fn glob(p: &str) -> String {
    let before = &p[..p.find('*').unwrap_or(p.len())];
    format!(
        "{p:?}: `*` is no wildcard here (it would match only a literal '*'); a path is a \
         prefix on segment boundaries already, so write {before:?} for everything under it"
    )
}
