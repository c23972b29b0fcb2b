//! A group's `resolve`, `resolve_min` and `resolve_max`: when `discovery` looks its
//! names up again.
//!
//! `resolve = "5s"` looks every name up on that fixed interval (Envoy's STRICT_DNS
//! `dns_refresh_rate`). `resolve = "ttl"` looks each name up again when its answer's
//! TTL runs out, as nginx's `resolve` does, bounded by `resolve_min` (default 5 s,
//! Envoy's `dns_min_refresh_rate`: Consul answers with a TTL of 0 by default) and
//! `resolve_max` (default 5 min, so a long TTL still notices a change the same hour).
//! A failed lookup is tried again after `resolve_min`; an answer from `/etc/hosts`,
//! which has no TTL, after `resolve_max`.

use std::time::Duration;

use serde::ser::{SerializeMap, Serializer};
use toml::Spanned;

use super::{line_of, ConfigError};

/// When names are looked up again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolve {
    /// Every name, on this fixed interval.
    Every(Duration),
    /// Each name at its answer's TTL, bounded.
    Ttl { min: Duration, max: Duration },
}

const DEFAULT_MIN: Duration = Duration::from_secs(5);
const DEFAULT_MAX: Duration = Duration::from_secs(300);

impl Resolve {
    /// How long to wait before looking a name up again: after an answer whose records'
    /// smallest TTL is `ttl` seconds (`None`: no TTL, as `/etc/hosts` gives), or after
    /// a failed lookup (`Err`).
    pub fn next(self, answer: Result<Option<u32>, ()>) -> Duration {
        let (min, max) = match self {
            Resolve::Every(every) => return every,
            Resolve::Ttl { min, max } => (min, max),
        };
        match answer {
            Err(()) => min,
            Ok(None) => max,
            Ok(Some(ttl)) => Duration::from_secs(u64::from(ttl)).clamp(min, max),
        }
    }

    /// The shortest wait between two lookups of one name.
    pub fn shortest(self) -> Duration {
        match self {
            Resolve::Every(every) => every,
            Resolve::Ttl { min, .. } => min,
        }
    }

    /// As `weir check` says it: `every 5s`, `at the TTL within 5s..5m`.
    pub fn describe(self) -> String {
        let show = super::duration::show;
        match self {
            Resolve::Every(every) => format!("every {}", show(every)),
            Resolve::Ttl { min, max } => {
                format!("at the TTL, within {}..{}", show(min), show(max))
            }
        }
    }
}

/// The three keys as the file writes them, for `/api/config` and `weir check`.
pub(super) fn show<S: Serializer>(r: &Option<Resolve>, s: S) -> Result<S::Ok, S::Error> {
    let show = super::duration::show;
    let mut map = s.serialize_map(None)?;
    match r {
        None => {}
        Some(Resolve::Every(every)) => map.serialize_entry("resolve", &show(*every))?,
        Some(Resolve::Ttl { min, max }) => {
            map.serialize_entry("resolve", "ttl")?;
            map.serialize_entry("resolve_min", &show(*min))?;
            map.serialize_entry("resolve_max", &show(*max))?;
        }
    }
    map.end()
}

/// The keys as written in the table at `key`.
pub(super) struct Written<'a> {
    pub resolve: Option<&'a Spanned<String>>,
    pub min: Option<&'a Spanned<String>>,
    pub max: Option<&'a Spanned<String>>,
}

impl Written<'_> {
    /// Validates the keys: durations above zero, `resolve_min`/`resolve_max` only with
    /// `resolve = "ttl"`, the minimum not above the maximum.
    pub(super) fn parse(
        &self,
        file: &str,
        text: &str,
        key: &str,
    ) -> Result<Option<Resolve>, ConfigError> {
        let at = |name: &str, why: String, s: &Spanned<String>| {
            let why = format!("{why}{}", line_of(text, Some(s.span())));
            ConfigError::new(file, format!("{key}.{name}"), why)
        };
        let duration = |name: &str, s: &Spanned<String>| match super::duration::parse(s.get_ref()) {
            Ok(d) if d.is_zero() => Err(at(name, "must be more than 0s".into(), s)),
            Ok(d) => Ok(d),
            Err(why) => Err(at(name, why, s)),
        };
        let Some(resolve) = self.resolve else {
            if let Some((name, s)) = self.bound() {
                let why = "is a bound for `resolve = \"ttl\"`, but the group has no `resolve`";
                return Err(at(name, why.into(), s));
            }
            return Ok(None);
        };
        if resolve.get_ref().trim() != "ttl" {
            if let Some((name, s)) = self.bound() {
                let why = "bounds the TTL, used only with `resolve = \"ttl\"` (the group looks its names up on a fixed interval)";
                return Err(at(name, why.into(), s));
            }
            let every = duration("resolve", resolve).map_err(|mut e| {
                e.reason.push_str(" (or \"ttl\": at each answer's TTL)");
                e
            })?;
            return Ok(Some(Resolve::Every(every)));
        }
        let min = self.min.map(|s| duration("resolve_min", s)).transpose()?;
        let max = self.max.map(|s| duration("resolve_max", s)).transpose()?;
        let (min, max) = (min.unwrap_or(DEFAULT_MIN), max.unwrap_or(DEFAULT_MAX));
        if min > max {
            let s = self.min.or(self.max).expect("one bound is written");
            let why = "resolve_min is above resolve_max".to_string();
            let name = if self.min.is_some() {
                "resolve_min"
            } else {
                "resolve_max"
            };
            return Err(at(name, why, s));
        }
        Ok(Some(Resolve::Ttl { min, max }))
    }

    fn bound(&self) -> Option<(&'static str, &Spanned<String>)> {
        let min = self.min.map(|s| ("resolve_min", s));
        min.or(self.max.map(|s| ("resolve_max", s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ttl_is_bounded_and_a_failure_tries_again_at_the_minimum() {
        let s = Duration::from_secs;
        let r = Resolve::Ttl {
            min: s(2),
            max: s(60),
        };
        assert_eq!(r.next(Ok(Some(0))), s(2));
        assert_eq!(r.next(Ok(Some(30))), s(30));
        assert_eq!(r.next(Ok(Some(86_400))), s(60));
        assert_eq!(r.next(Ok(None)), s(60));
        assert_eq!(r.next(Err(())), s(2));
        assert_eq!(Resolve::Every(s(5)).next(Err(())), s(5));
        assert_eq!(Resolve::Every(s(5)).next(Ok(Some(1))), s(5));
    }
}
