//! One route's conditions, checked and stored in the form lookup compares against.
//!
//! Host and path decide *where* in the table a route sits (see [`super::table`]); what is
//! left, methods, headers, scheme and listeners, is checked here, only for the few routes
//! that share the request's host and path key.

use crate::http::headers::{is_safe_value, is_token};

use super::host::Pattern;
use super::normalize::normalize;
use super::{PathRule, Request, RouteError, RouteSpec, Scheme, Warning};

/// Where a route's path puts it: an exact path, or a prefix key. `Prefix(b"")` is
/// [`PathRule::Any`]: the shortest prefix of all, which also matches `*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathKey {
    Exact(Box<[u8]>),
    Prefix(Box<[u8]>),
}

/// A route's conditions after validation: hosts and header names normalised, methods,
/// headers and listeners sorted so that equal condition sets compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Matcher {
    pub hosts: Vec<Pattern>,
    pub path: PathKey,
    pub methods: Vec<Box<str>>,
    pub headers: Vec<HeaderCondition>,
    pub scheme: Option<Scheme>,
    /// Indices into the table's listener list; empty means any.
    pub listeners: Vec<usize>,
}

/// A header condition: lowercased name, exact value.
pub type HeaderCondition = (Box<str>, Box<[u8]>);

/// A bad key within one route: (key, reason).
type Bad = (String, String);

impl Matcher {
    /// Validates route `index`; `listeners` are the names of the listeners (by index)
    /// its `listeners` may name; `warnings` gathers what is legal but likely a mistake.
    pub fn new(
        index: usize,
        spec: &RouteSpec,
        listeners: &[Option<String>],
        warnings: &mut Vec<Warning>,
    ) -> Result<Matcher, RouteError> {
        let err = |(key, reason): Bad| RouteError { index, key, reason };
        let hosts = hosts(spec).map_err(err)?;
        let path = match &spec.path {
            PathRule::Any => PathKey::Prefix(Box::default()),
            PathRule::Prefix(p) => {
                PathKey::Prefix(path_key(p).map_err(|r| err(("path".into(), r)))?)
            }
            PathRule::Exact(p) => {
                PathKey::Exact(path_key(p).map_err(|r| err(("path_exact".into(), r)))?)
            }
        };
        Ok(Matcher {
            hosts,
            path,
            methods: methods(index, spec, warnings).map_err(err)?,
            headers: headers(spec).map_err(err)?,
            scheme: spec.scheme,
            listeners: listener_indices(spec, listeners).map_err(err)?,
        })
    }

    /// Whether the request's method, headers and arrival satisfy this route. A header
    /// condition holds when any field line of that name has exactly that value. Each
    /// condition a route lacks costs one empty-check.
    #[inline]
    pub fn accepts(&self, req: &Request<'_>) -> bool {
        let arrival = req.arrival;
        self.scheme.is_none_or(|s| s == arrival.scheme)
            && (self.listeners.is_empty()
                || arrival
                    .listener
                    .is_some_and(|l| self.listeners.contains(&l)))
            && (self.methods.is_empty() || self.methods.iter().any(|m| **m == *req.method))
            && self
                .headers
                .iter()
                .all(|(n, v)| req.headers.get_all(n).any(|got| got == &**v))
    }

    /// Whether every request that satisfies `later`'s conditions (beyond host and path)
    /// satisfies ours too: then, at the same host and path key, we always win and `later`
    /// never does.
    pub fn covers(&self, later: &Matcher) -> bool {
        let scheme = self.scheme.is_none() || self.scheme == later.scheme;
        scheme
            && covers_list(&self.methods, &later.methods)
            && covers_list(&self.listeners, &later.listeners)
            && self.headers.iter().all(|h| later.headers.contains(h))
    }
}

/// Whether a list condition (empty: anything) holds for everything `later`'s does: ours
/// is empty, or theirs is not and lies within ours.
fn covers_list<T: PartialEq>(ours: &[T], later: &[T]) -> bool {
    ours.is_empty() || (!later.is_empty() && later.iter().all(|x| ours.contains(x)))
}

/// The host patterns, sorted; none means `*`.
fn hosts(spec: &RouteSpec) -> Result<Vec<Pattern>, Bad> {
    let mut hosts = Vec::with_capacity(spec.hosts.len().max(1));
    for (k, h) in spec.hosts.iter().enumerate() {
        let p = Pattern::parse(h).map_err(|why| {
            (
                format!("hosts[{k}]"),
                format!("invalid host pattern {h:?}: {why}"),
            )
        })?;
        hosts.push(p);
    }
    if hosts.is_empty() {
        hosts.push(Pattern::Any);
    }
    hosts.sort();
    hosts.dedup();
    Ok(hosts)
}

/// The methods, sorted; a lowercase spelling of a standard one is warned of.
fn methods(
    index: usize,
    spec: &RouteSpec,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<Box<str>>, Bad> {
    let mut methods = Vec::with_capacity(spec.methods.len());
    for (k, m) in spec.methods.iter().enumerate() {
        if !is_token(m.as_bytes()) {
            return Err((
                format!("methods[{k}]"),
                format!("{m:?} is not a method token"),
            ));
        }
        let upper = m.to_ascii_uppercase();
        if upper != *m && KNOWN_METHODS.contains(&upper.as_str()) {
            warnings.push(Warning {
                index,
                message: format!(
                    "methods[{k}] is {m:?}, which never equals {upper:?}: methods are case-sensitive"
                ),
            });
        }
        methods.push(m.as_str().into());
    }
    methods.sort();
    methods.dedup();
    Ok(methods)
}

/// The header conditions: lowercased names, sorted.
fn headers(spec: &RouteSpec) -> Result<Vec<HeaderCondition>, Bad> {
    let mut headers = Vec::with_capacity(spec.headers.len());
    for (name, value) in &spec.headers {
        let key = || format!("headers.{name}");
        if !is_token(name.as_bytes()) {
            return Err((key(), format!("{name:?} is not a header name")));
        }
        if !is_safe_value(value.as_bytes()) {
            return Err((key(), "value contains CR, LF or NUL".into()));
        }
        headers.push((
            name.to_ascii_lowercase().into_boxed_str(),
            value.as_bytes().into(),
        ));
    }
    headers.sort();
    headers.dedup();
    Ok(headers)
}

/// The listeners a route names, as indices into `known` (listener names by index). A
/// name no listener carries is an error: the route would silently never match.
fn listener_indices(spec: &RouteSpec, known: &[Option<String>]) -> Result<Vec<usize>, Bad> {
    let mut out = Vec::with_capacity(spec.listeners.len());
    for (k, name) in spec.listeners.iter().enumerate() {
        match known.iter().position(|n| n.as_deref() == Some(name)) {
            Some(i) => out.push(i),
            None => return Err((format!("listeners[{k}]"), unknown_listener(name, known))),
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Why `name` names no listener, and what would.
fn unknown_listener(name: &str, known: &[Option<String>]) -> String {
    let named: Vec<&str> = known.iter().filter_map(|n| n.as_deref()).collect();
    let named = match named.is_empty() {
        true => "none".to_string(),
        false => named.join(", "),
    };
    let hint = match name.contains(':') {
        true => "; listeners are picked by name, not address: give it one with { addr = ..., name = ... } in `listen`",
        false => "",
    };
    format!("no listener named {name:?} (named: {named}){hint}")
}

const KNOWN_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// A config path must already be in normal form, so that what the operator wrote is what
/// is matched; the error says what to write instead.
fn path_key(p: &str) -> Result<Box<[u8]>, String> {
    if !p.starts_with('/') {
        return Err(format!("{p:?} does not begin with '/'"));
    }
    if p.contains(['?', '#']) {
        return Err(format!("{p:?}: a route path has no query or fragment"));
    }
    let mut out = Vec::new();
    normalize(p.as_bytes(), &mut out).map_err(|e| format!("{p:?}: {e}"))?;
    if out != p.as_bytes() {
        return Err(format!(
            "{p:?} is not in normal form (write {:?}): requests are matched after normalising",
            String::from_utf8_lossy(&out)
        ));
    }
    Ok(out.into_boxed_slice())
}
