//! The lookup structure: hosts by hash, then paths by hash of each segment-boundary prefix.
//!
//! A request costs one hash probe for its exact host, then (only when there are wildcard
//! patterns) one probe per dot for wildcard suffixes, longest first; then, within the
//! chosen site, one probe for its exact path and one per candidate prefix length, longest
//! first. The number of routes never enters: 10 routes and 10,000 cost the same probes.
//! [`Keys`] refuses a probe whose length no key has before hashing it, so a deep path or a
//! host of many labels costs no more than the table's own keys allow.

use std::collections::HashMap;
use std::fmt;

use super::host::{host_part, lowercase, Pattern, MAX_HOST};
use super::keys::Keys;
use super::matcher::{Matcher, PathKey};
use super::{Request, RouteError, RouteSpec, Warning};

/// Routes in match order, looked up by host and path; see the [module docs](super).
#[derive(Debug, Clone)]
pub struct Table {
    exact: Keys<Site>,
    /// Keyed by the suffix after `*.`.
    wildcard: Keys<Site>,
    /// `*` and routes without hosts.
    any: Option<Site>,
    routes: Vec<Matcher>,
    names: Vec<Option<String>>,
    /// The listeners' names by index, as given to [`Table::build_for`].
    listeners: Vec<Option<String>>,
    /// Some route has a `listeners` condition: only then need a caller find the index.
    by_listener: bool,
}

/// The routes of one host pattern (nginx's server block, Envoy's virtual host): path keys
/// to route indices in file order.
#[derive(Debug, Clone, Default)]
struct Site {
    exact: Keys<Vec<u32>>,
    prefix: Keys<Vec<u32>>,
}

impl Table {
    /// Builds the table from routes in file order; route `i` is `routes[i]` and is what
    /// [`find`](Self::find) returns. Two routes with the same conditions are an error; a
    /// route that an earlier one always beats is a [`Warning`]. No listener has a name
    /// here, so a route with `listeners` is an error: see [`build_for`](Self::build_for).
    pub fn build(routes: &[RouteSpec]) -> Result<(Table, Vec<Warning>), RouteError> {
        Table::build_for(routes, &[])
    }

    /// [`build`](Self::build) for a server whose listeners, by index, carry these names
    /// (`None` for an unnamed one): what routes' `listeners` may name, and what
    /// [`Arrival::listener`](super::Arrival) indexes.
    pub fn build_for(
        routes: &[RouteSpec],
        listeners: &[Option<String>],
    ) -> Result<(Table, Vec<Warning>), RouteError> {
        let mut warnings = Vec::new();
        let mut matchers = Vec::with_capacity(routes.len());
        let mut seen: HashMap<&Matcher, usize> = HashMap::with_capacity(routes.len());
        for (i, spec) in routes.iter().enumerate() {
            matchers.push(Matcher::new(i, spec, listeners, &mut warnings)?);
        }
        for (i, m) in matchers.iter().enumerate() {
            if let Some(first) = seen.insert(m, i) {
                return Err(RouteError {
                    index: i,
                    key: String::new(),
                    reason: format!("same conditions as routes[{first}]"),
                });
            }
        }
        drop(seen);

        let mut table = Table {
            exact: Keys::default(),
            wildcard: Keys::default(),
            any: None,
            by_listener: matchers.iter().any(|m| !m.listeners.is_empty()),
            routes: matchers,
            names: routes.iter().map(|r| r.name.clone()).collect(),
            listeners: listeners.to_vec(),
        };
        for (i, m) in table.routes.iter().enumerate() {
            for host in &m.hosts {
                let site = match host {
                    Pattern::Any => table.any.get_or_insert_with(Site::default),
                    Pattern::Exact(h) => table.exact.entry(h),
                    Pattern::Wildcard(s) => table.wildcard.entry(s),
                };
                match &m.path {
                    PathKey::Exact(p) => site.exact.entry(p).push(i as u32),
                    PathKey::Prefix(p) => site.prefix.entry(p).push(i as u32),
                }
            }
        }
        table.shadowed(&mut warnings);
        warnings.sort_by_key(|w| w.index);
        Ok((table, warnings))
    }

    /// The index of the route for `req`, or `None` (a 404). Allocates nothing.
    pub fn find(&self, req: &Request<'_>) -> Option<usize> {
        let accepts = |i: u32| self.routes[i as usize].accepts(req);
        self.site(req.host)?.find(req.path, accepts)
    }

    /// Whether some route has a `listeners` condition, so that [`find`](Self::find)
    /// reads [`Arrival::listener`](super::Arrival): when not, a caller need not look
    /// its listener up.
    #[inline]
    pub fn by_listener(&self) -> bool {
        self.by_listener
    }

    /// The site for a host: exact, else the longest wildcard suffix, else the catch-all.
    #[inline]
    fn site(&self, host: Option<&[u8]>) -> Option<&Site> {
        let Some(host) = host.and_then(host_part) else {
            return self.any.as_ref();
        };
        if host.iter().any(u8::is_ascii_uppercase) {
            // Only here, rarely, a stack buffer is needed (and zeroed).
            return self.site_of(lowercase(host, &mut [0; MAX_HOST]));
        }
        self.site_of(host)
    }

    /// [`site`](Self::site) for a host in pattern form.
    #[inline]
    fn site_of(&self, host: &[u8]) -> Option<&Site> {
        if let Some(site) = self.exact.get(host) {
            return Some(site);
        }
        let mut rest = host;
        while let Some(dot) = rest.iter().position(|&b| b == b'.') {
            rest = &rest[dot + 1..];
            if let Some(site) = self.wildcard.get(rest) {
                return Some(site);
            }
        }
        self.any.as_ref()
    }

    /// The number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Route `i`'s name, if the config gave one.
    pub fn name(&self, i: usize) -> Option<&str> {
        self.names.get(i)?.as_deref()
    }

    /// The routes in match order, one line each, for `weir check`.
    pub fn describe(&self) -> Describe<'_> {
        Describe(self)
    }

    /// Warns of each route that, at every host it lists, meets an earlier route with the
    /// same path key whose conditions it implies: that route always wins first.
    fn shadowed(&self, warnings: &mut Vec<Warning>) {
        let mut by: Vec<Vec<u32>> = vec![Vec::new(); self.routes.len()];
        let mut count = vec![0usize; self.routes.len()];
        for site in self.sites().map(|(_, s)| s) {
            for (_, list) in site.exact.iter().chain(site.prefix.iter()) {
                for (k, &later) in list.iter().enumerate() {
                    let m = &self.routes[later as usize];
                    if let Some(&first) = list[..k]
                        .iter()
                        .find(|&&e| self.routes[e as usize].covers(m))
                    {
                        count[later as usize] += 1;
                        by[later as usize].push(first);
                    }
                }
            }
        }
        for (i, m) in self.routes.iter().enumerate() {
            if count[i] == m.hosts.len() {
                let mut by = std::mem::take(&mut by[i]);
                by.sort();
                by.dedup();
                let by: Vec<String> = by.iter().map(|b| format!("routes[{b}]")).collect();
                warnings.push(Warning {
                    index: i,
                    message: format!(
                        "can never match: {} matches every request it does, first",
                        by.join(" and ")
                    ),
                });
            }
        }
    }

    /// Every site with its host pattern, in match order.
    fn sites(&self) -> impl Iterator<Item = (Pattern, &Site)> {
        let mut exact: Vec<_> = self.exact.iter().collect();
        exact.sort_by(|a, b| a.0.cmp(b.0));
        let mut wild: Vec<_> = self.wildcard.iter().collect();
        wild.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(b.0)));
        let exact = exact
            .into_iter()
            .map(|(h, s)| (Pattern::Exact(h.into()), s));
        let wild = wild
            .into_iter()
            .map(|(h, s)| (Pattern::Wildcard(h.into()), s));
        let any = self.any.iter().map(|s| (Pattern::Any, s));
        exact.chain(wild).chain(any)
    }
}

impl Site {
    /// The first accepted route at the exact path, else at the longest matching prefix.
    #[inline]
    fn find(&self, path: &[u8], accepts: impl Fn(u32) -> bool) -> Option<usize> {
        let pick = |list: &Vec<u32>| list.iter().copied().find(|&i| accepts(i));
        if let Some(i) = self.exact.get(path).and_then(pick) {
            return Some(i as usize);
        }
        let keys = &self.prefix;
        let longest = keys.longest()?;
        let probe = |key: &[u8]| keys.get(key).and_then(pick).map(|i| i as usize);
        // A prefix without a trailing '/' matches the path itself...
        if path.last() != Some(&b'/') && path.len() <= longest {
            if let Some(i) = probe(path) {
                return Some(i);
            }
        }
        // ...and every path it is followed by '/' in: for '/' at `s`, the prefixes
        // `path[..=s]` (written with the slash) and `path[..s]` (without), longest first.
        // The '/' at 0 gives "/" and "", the key of `PathRule::Any`.
        let mut end = path.len().min(longest + 1);
        while let Some(s) = path[..end].iter().rposition(|&b| b == b'/') {
            if s < longest {
                if let Some(i) = probe(&path[..=s]) {
                    return Some(i);
                }
            }
            if let Some(i) = probe(&path[..s]) {
                return Some(i);
            }
            end = s;
        }
        // `*` (asterisk-form) has no '/': only `PathRule::Any` matches it.
        if path.first() != Some(&b'/') {
            return probe(b"");
        }
        None
    }
}

impl Table {
    /// A route's conditions beyond host and path, as `weir check` shows them:
    /// ` methods GET,HEAD x-canary="1" scheme http listeners public,internal`.
    fn conditions(&self, f: &mut fmt::Formatter<'_>, m: &Matcher) -> fmt::Result {
        if !m.methods.is_empty() {
            write!(f, " methods {}", m.methods.join(","))?;
        }
        for (n, v) in &m.headers {
            write!(f, " {n}={:?}", String::from_utf8_lossy(v))?;
        }
        if let Some(scheme) = m.scheme {
            write!(f, " scheme {}", scheme.as_str())?;
        }
        let names = m
            .listeners
            .iter()
            .filter_map(|&l| self.listeners[l].as_deref());
        for (k, name) in names.enumerate() {
            let sep = if k == 0 { " listeners " } else { "," };
            write!(f, "{sep}{name}")?;
        }
        Ok(())
    }
}

/// [`Table::describe`]: the route table in match order.
pub struct Describe<'a>(&'a Table);

impl fmt::Display for Describe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        for (host, site) in t.sites() {
            match host {
                Pattern::Any => writeln!(f, "any host")?,
                _ => writeln!(f, "host {host}")?,
            }
            let mut exact: Vec<_> = site.exact.iter().collect();
            exact.sort();
            let mut prefix: Vec<_> = site.prefix.iter().collect();
            prefix.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(b.0)));
            let exact = exact.into_iter().map(|(p, l)| (true, p, l));
            for (is_exact, path, list) in
                exact.chain(prefix.into_iter().map(|(p, l)| (false, p, l)))
            {
                let path = String::from_utf8_lossy(path);
                let path = match (is_exact, path.is_empty()) {
                    (true, _) => format!("= {path}"),
                    (false, true) => "(any path)".into(),
                    (false, false) => path.into_owned(),
                };
                for &i in list {
                    write!(f, "  {path:<20}")?;
                    t.conditions(f, &t.routes[i as usize])?;
                    write!(f, " -> routes[{i}]")?;
                    if let Some(name) = &t.names[i as usize] {
                        write!(f, " {name:?}")?;
                    }
                    writeln!(f)?;
                }
            }
        }
        Ok(())
    }
}
