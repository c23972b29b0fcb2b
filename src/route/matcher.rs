//! One route's conditions, checked and stored in the form lookup compares against.
//!
//! Host and path decide *where* in the table a route sits (see [`super::table`]); what is
//! left, methods and headers, is checked here, only for the few routes that share the
//! request's host and path key.

use crate::http::headers::{is_safe_value, is_token};
use crate::http::Headers;

use super::host::Pattern;
use super::normalize::normalize;
use super::{PathRule, RouteError, RouteSpec, Warning};

/// Where a route's path puts it: an exact path, or a prefix key. `Prefix(b"")` is
/// [`PathRule::Any`]: the shortest prefix of all, which also matches `*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathKey {
    Exact(Box<[u8]>),
    Prefix(Box<[u8]>),
}

/// A route's conditions after validation: hosts and header names normalised, methods
/// and headers sorted so that equal condition sets compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Matcher {
    pub hosts: Vec<Pattern>,
    pub path: PathKey,
    pub methods: Vec<Box<str>>,
    /// Lowercased name, exact value.
    pub headers: Vec<(Box<str>, Box<[u8]>)>,
}

impl Matcher {
    /// Validates route `index`; `warnings` gathers what is legal but likely a mistake.
    pub fn new(
        index: usize,
        spec: &RouteSpec,
        warnings: &mut Vec<Warning>,
    ) -> Result<Matcher, RouteError> {
        let err = |key: String, reason: String| RouteError { index, key, reason };
        let mut hosts = Vec::with_capacity(spec.hosts.len().max(1));
        for (k, h) in spec.hosts.iter().enumerate() {
            let p = Pattern::parse(h).map_err(|why| {
                err(
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

        let path = match &spec.path {
            PathRule::Any => PathKey::Prefix(Box::default()),
            PathRule::Prefix(p) => PathKey::Prefix(path_key(p).map_err(|r| err("path".into(), r))?),
            PathRule::Exact(p) => {
                PathKey::Exact(path_key(p).map_err(|r| err("path_exact".into(), r))?)
            }
        };

        let mut methods = Vec::with_capacity(spec.methods.len());
        for (k, m) in spec.methods.iter().enumerate() {
            if !is_token(m.as_bytes()) {
                return Err(err(
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

        let mut headers = Vec::with_capacity(spec.headers.len());
        for (name, value) in &spec.headers {
            let key = || format!("headers.{name}");
            if !is_token(name.as_bytes()) {
                return Err(err(key(), format!("{name:?} is not a header name")));
            }
            if !is_safe_value(value.as_bytes()) {
                return Err(err(key(), "value contains CR, LF or NUL".into()));
            }
            headers.push((
                name.to_ascii_lowercase().into_boxed_str(),
                value.as_bytes().into(),
            ));
        }
        headers.sort();
        headers.dedup();

        Ok(Matcher {
            hosts,
            path,
            methods,
            headers,
        })
    }

    /// Whether the request's method and headers satisfy this route. A header condition
    /// holds when any field line of that name has exactly that value.
    #[inline]
    pub fn accepts(&self, method: &str, headers: &Headers) -> bool {
        (self.methods.is_empty() || self.methods.iter().any(|m| **m == *method))
            && self
                .headers
                .iter()
                .all(|(n, v)| headers.get_all(n).any(|got| got == &**v))
    }

    /// Whether every request that satisfies `later`'s methods and headers satisfies ours
    /// too: then, at the same host and path key, we always win and `later` never does.
    pub fn covers(&self, later: &Matcher) -> bool {
        let methods = self.methods.is_empty()
            || (!later.methods.is_empty()
                && later.methods.iter().all(|m| self.methods.contains(m)));
        methods && self.headers.iter().all(|h| later.headers.contains(h))
    }
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
