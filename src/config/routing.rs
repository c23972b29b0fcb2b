//! The config's upstream groups and routes: the one group `[upstream]` stands for when
//! there are no `[upstreams.NAME]`, the implicit catch-all route, and the checks that
//! routes name groups, middleware and listeners that exist.

use std::borrow::Cow;

use super::{Config, ConfigError, GroupConfig, RouteConfig, DEFAULT_GROUP};
use crate::route::{Scheme, Table, Warning};

impl Config {
    /// The upstream groups: `[upstreams.NAME]` in name order, or `[upstream]` as the
    /// one group `default`.
    pub fn upstream_groups(&self) -> Cow<'_, [GroupConfig]> {
        if !self.groups.is_empty() {
            return Cow::Borrowed(&self.groups);
        }
        Cow::Owned(vec![GroupConfig {
            name: DEFAULT_GROUP.to_string(),
            servers: self.upstreams.clone(),
            balancer: self.balancer,
            keepalive: self.keepalive,
            keepalive_timeout: self.keepalive_timeout,
            hash_key: self.hash_key.clone(),
            passive: self.passive,
            retries: self.retries,
            debug_headers: self.debug_headers,
            health: self.health.clone(),
            tls: self.upstream_tls.clone(),
        }])
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
        for (i, r) in self.routes.iter().enumerate() {
            let err = |key: &str, why: String| {
                Err(ConfigError::new(
                    &self.source,
                    format!("routes[{i}].{key}"),
                    why,
                ))
            };
            let known: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
            match r.upstream.as_deref() {
                None if groups.len() == 1 => {}
                None => {
                    return err(
                        "upstream",
                        format!("is required; known: {}", known.join(", ")),
                    )
                }
                Some(name) if known.contains(&name) => {}
                Some(name) => {
                    return err(
                        "upstream",
                        format!("no upstream group {name:?}; known: {}", known.join(", ")),
                    )
                }
            }
            for (j, name) in r.middleware.iter().enumerate() {
                let entry = self
                    .middleware
                    .iter()
                    .find(|m| m.name.as_deref() == Some(name));
                match entry {
                    Some(m) if !m.is_global() => {}
                    Some(_) => {
                        let why = format!("middleware {name:?} is global (it runs for every request already); give it `global = false` to run it per route");
                        return err(&format!("middleware[{j}]"), why);
                    }
                    None => {
                        let known: Vec<&str> = self
                            .middleware
                            .iter()
                            .filter(|m| !m.is_global())
                            .filter_map(|m| m.name.as_deref())
                            .collect();
                        let why = format!(
                            "no middleware named {name:?} with `global = false`; known: {}",
                            if known.is_empty() {
                                "none".to_string()
                            } else {
                                known.join(", ")
                            }
                        );
                        return err(&format!("middleware[{j}]"), why);
                    }
                }
            }
            if r.redirect.as_deref().is_some_and(|to| to != "https") {
                return err("redirect", "the only redirect is \"https\"".into());
            }
            if let Some(s) = r.scheme.as_deref().filter(|s| Scheme::parse(s).is_none()) {
                return err("scheme", format!("{s:?} is not \"http\" or \"https\""));
            }
            if r.path.is_some() && r.path_exact.is_some() {
                return err(
                    "path_exact",
                    "give `path` (a prefix) or `path_exact`, not both".into(),
                );
            }
            for (key, p) in [
                ("path", &r.path),
                ("path_exact", &r.path_exact),
                ("strip_prefix", &r.strip_prefix),
            ] {
                if p.as_deref().is_some_and(|p| !p.starts_with('/')) {
                    return err(
                        key,
                        format!("{:?} must start with /", p.as_deref().unwrap_or("")),
                    );
                }
            }
            if let Err(why) = r.check_strip_prefix() {
                return err("strip_prefix", why);
            }
        }
        self.route_table().map(|_| ())
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
        Table::build_for(&self.route_specs(), &self.listener_names())
            .map_err(|e| ConfigError::new(&self.source, e.config_key(), e.reason))
    }
}
