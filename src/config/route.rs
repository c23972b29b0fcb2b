//! `[[routes]]`: which requests go to which upstream group.
//!
//! The conditions (hosts, path, methods, headers, scheme, listeners) are matched by
//! [`crate::route`]; this file only reads and checks what the config says. Priority rules are documented
//! there and in the README's "Routing" section.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::route::{normalize, strip_prefix, PathRule, RouteSpec, Scheme};

/// One `[[routes]]` entry as written.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Shown in logs, debug headers and `weir check`; defaults to `routes[i]`.
    pub name: Option<String>,
    /// Host patterns: `example.com`, `*.example.com`, or `*`; none means any host.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// A path prefix, matched on segment boundaries (`/api` matches `/api/x`, not `/apix`).
    pub path: Option<String>,
    /// An exact path.
    pub path_exact: Option<String>,
    /// Methods (case-sensitive, as HTTP methods are); none means any.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Headers that must be present with exactly this value (names case-insensitive).
    #[serde(default, serialize_with = "super::show::redacted")]
    pub headers: BTreeMap<String, String>,
    /// `"http"` or `"https"`: only requests that came in on a plain (or TLS) listener.
    /// With `redirect = "https"`, `scheme = "http"` gives plain HTTP a redirect route of
    /// its own, and https requests go on to the routes after it.
    pub scheme: Option<String>,
    /// Names of listeners (`listen = [{ addr, name }]`): only requests that came in on
    /// one of them. Empty means any listener.
    #[serde(default)]
    pub listeners: Vec<String>,
    /// The upstream group: a `[upstreams.NAME]` name, or `default` for `[upstream]`.
    pub upstream: Option<String>,
    /// Removed from the front of the path before forwarding (on a segment boundary).
    pub strip_prefix: Option<String>,
    /// Names of `[[middleware]]` entries with `global = false`, run in this order after
    /// the global chain, for this route's requests only.
    #[serde(default)]
    pub middleware: Vec<String>,
    /// `"https"`: a request that came over plain HTTP gets a `308` to the same host
    /// (without its port) and target over https; one that came over TLS goes on to the
    /// route's upstream as usual.
    pub redirect: Option<String>,
}

impl RouteConfig {
    /// The catch-all route to `group`: what a config without `[[routes]]` gets.
    pub fn catch_all(group: &str) -> Self {
        RouteConfig {
            upstream: Some(group.to_string()),
            ..Default::default()
        }
    }

    /// The match conditions, for the route table.
    pub(crate) fn spec(&self) -> RouteSpec {
        let path = match (&self.path, &self.path_exact) {
            (_, Some(exact)) => PathRule::Exact(exact.clone()),
            (Some(prefix), None) => PathRule::Prefix(prefix.clone()),
            (None, None) => PathRule::Any,
        };
        RouteSpec {
            name: self.name.clone(),
            hosts: self.hosts.clone(),
            path,
            methods: self.methods.clone(),
            headers: self
                .headers
                .iter()
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect(),
            // Checked by `validate_routes` before any table is built.
            scheme: self.scheme.as_deref().and_then(Scheme::parse),
            listeners: self.listeners.clone(),
        }
    }

    /// Checks `strip_prefix`, given that it starts with '/': in normal form, as route
    /// paths must be (it is removed from the normalised path, so another spelling would
    /// never match), and able to apply to some path the route matches.
    pub(super) fn check_strip_prefix(&self) -> Result<(), String> {
        let Some(strip) = self.strip_prefix.as_deref() else {
            return Ok(());
        };
        let mut normal = Vec::new();
        normalize(strip.as_bytes(), &mut normal).map_err(|e| format!("{strip:?}: {e}"))?;
        if normal != strip.as_bytes() {
            return Err(format!(
                "{strip:?} is not in normal form (write {:?}): it is removed from the normalised path",
                String::from_utf8_lossy(&normal)
            ));
        }
        let applies = match (&self.path, &self.path_exact) {
            (_, Some(exact)) => strip_prefix(exact.as_bytes(), strip.as_bytes()).is_some(),
            // Under prefix `p`, `strip` applies when it is a prefix of `p` or lies under it.
            (Some(p), None) => {
                let trimmed = strip.strip_suffix('/').unwrap_or(strip);
                strip_prefix(p.as_bytes(), strip.as_bytes()).is_some()
                    || strip_prefix(trimmed.as_bytes(), p.as_bytes()).is_some()
            }
            (None, None) => true,
        };
        let path = self.path.as_deref().or(self.path_exact.as_deref());
        match (applies, path) {
            (false, Some(path)) => Err(format!(
                "{strip:?} is not a prefix of path {path:?}: it would never apply"
            )),
            _ => Ok(()),
        }
    }

    /// The route's name for logs: its `name`, or `routes[i]`.
    pub fn display_name(&self, i: usize) -> String {
        self.name.clone().unwrap_or_else(|| format!("routes[{i}]"))
    }
}
