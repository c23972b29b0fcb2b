//! Host patterns from the config, and the request's host in the form they are keyed by.
//!
//! Both sides are brought to one form so that lookup is a plain byte comparison: ASCII
//! lowercase (DNS names are case-insensitive, RFC 4343), no port (a route is about the
//! site, not the listener), no trailing dot (`example.com.` is the same absolute name).

/// The longest host weir will look up; a longer one cannot equal any valid pattern.
pub const MAX_HOST: usize = 255;

/// One entry of a route's `hosts`, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pattern {
    /// `*`: any host, and requests without one.
    Any,
    /// `api.example.com` or `[::1]`, lowercased.
    Exact(Box<[u8]>),
    /// `*.example.com`, stored as the suffix after `*.`: `example.com`.
    Wildcard(Box<[u8]>),
}

impl Pattern {
    /// Parses and normalises a config host pattern. The error is the reason, for
    /// [`super::RouteError`].
    pub fn parse(s: &str) -> Result<Pattern, String> {
        if s == "*" {
            return Ok(Pattern::Any);
        }
        if s.starts_with('[') {
            return ipv6(s).map(Pattern::Exact);
        }
        let name = s.strip_suffix('.').unwrap_or(s);
        let (wild, name) = match name.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, name),
        };
        if name.contains(':') {
            return Err("a host pattern has no port (the request's port is ignored)".into());
        }
        if name.is_empty() || name.len() > 253 {
            return Err("a host name has 1 to 253 characters".into());
        }
        for label in name.split('.') {
            if label.is_empty() {
                return Err("empty label".into());
            }
            if label.len() > 63 {
                return Err("a label has at most 63 characters".into());
            }
            if label.contains('*') {
                return Err(
                    "'*' may only be the whole first label, as in \"*.example.com\"".into(),
                );
            }
            if let Some(c) = label
                .chars()
                .find(|&c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            {
                return Err(format!(
                    "{c:?} is not allowed in a host name (letters, digits, '-', '_')"
                ));
            }
        }
        let key = name.to_ascii_lowercase().into_bytes().into_boxed_slice();
        Ok(if wild {
            Pattern::Wildcard(key)
        } else {
            Pattern::Exact(key)
        })
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match self {
            Pattern::Any => f.write_str("*"),
            Pattern::Exact(h) => f.write_str(&text(h)),
            Pattern::Wildcard(s) => write!(f, "*.{}", text(s)),
        }
    }
}

/// `[v6address]`, lowercased; no zone, no port.
fn ipv6(s: &str) -> Result<Box<[u8]>, String> {
    let inner = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .ok_or("an IPv6 literal is \"[address]\", with no port")?;
    if inner.parse::<std::net::Ipv6Addr>().is_err() {
        return Err(format!("{inner:?} is not an IPv6 address"));
    }
    Ok(s.to_ascii_lowercase().into_bytes().into_boxed_slice())
}

/// Brings a request's host (a `Host` value or an absolute-form authority) into pattern
/// form: port and one trailing dot removed, ASCII lowercased. `None` for an empty host or
/// one longer than [`MAX_HOST`], which can only match the catch-all.
///
/// It does not validate the host: a malformed one simply equals no pattern. A host that is
/// already lowercase (most are) is returned in place; otherwise it is lowercased into the
/// stack buffer `buf`, so lookup never allocates.
pub fn normalize_host<'a>(raw: &'a [u8], buf: &'a mut [u8; MAX_HOST]) -> Option<&'a [u8]> {
    let host = host_part(raw)?;
    if !host.iter().any(u8::is_ascii_uppercase) {
        return Some(host);
    }
    Some(lowercase(host, buf))
}

/// The host without its port and trailing dot, if it has a length a pattern can have.
#[inline]
pub(crate) fn host_part(raw: &[u8]) -> Option<&[u8]> {
    let host = if raw.first() == Some(&b'[') {
        // IPv6 literal: the port, if any, follows the ']'.
        match raw.iter().position(|&b| b == b']') {
            Some(end) => &raw[..=end],
            None => raw,
        }
    } else {
        let end = raw.iter().position(|&b| b == b':').unwrap_or(raw.len());
        let host = &raw[..end];
        host.strip_suffix(b".").unwrap_or(host)
    };
    (!host.is_empty() && host.len() <= MAX_HOST).then_some(host)
}

/// `host` (at most [`MAX_HOST`] bytes) lowercased into `buf`.
#[inline]
pub(crate) fn lowercase<'b>(host: &[u8], buf: &'b mut [u8; MAX_HOST]) -> &'b [u8] {
    let out = &mut buf[..host.len()];
    out.copy_from_slice(host);
    out.make_ascii_lowercase();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(s: &str) -> Pattern {
        Pattern::Exact(s.as_bytes().into())
    }

    #[test]
    fn patterns() {
        assert_eq!(Pattern::parse("*"), Ok(Pattern::Any));
        assert_eq!(
            Pattern::parse("Api.Example.COM"),
            Ok(exact("api.example.com"))
        );
        assert_eq!(Pattern::parse("example.com."), Ok(exact("example.com")));
        assert_eq!(
            Pattern::parse("*.Example.com"),
            Ok(Pattern::Wildcard(b"example.com"[..].into()))
        );
        assert_eq!(Pattern::parse("[::1]"), Ok(exact("[::1]")));
        assert_eq!(Pattern::parse("[FE80::1]"), Ok(exact("[fe80::1]")));
        assert_eq!(Pattern::parse("10.0.0.1"), Ok(exact("10.0.0.1")));
        assert_eq!(Pattern::parse("_srv.x-y.com"), Ok(exact("_srv.x-y.com")));
    }

    #[test]
    fn invalid_patterns() {
        for bad in [
            "",
            ".",
            "a..b",
            ".a.com",
            "a*.b",
            "*a.b",
            "a.*.b",
            "*.*.b",
            "*.",
            "**",
            "example.com:8080",
            "*.example.com:80",
            "[::1]:8080",
            "[::1",
            "[nope]",
            "a b.com",
            "a/b.com",
            "é.com",
            &"a".repeat(64),
            &["a"; 128].join("."),
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn request_hosts() {
        let mut buf = [0; MAX_HOST];
        let cases: [(&str, Option<&str>); 9] = [
            ("Api.Example.com:8080", Some("api.example.com")),
            ("api.example.com.", Some("api.example.com")),
            ("api.example.com.:443", Some("api.example.com")),
            ("[::1]:8080", Some("[::1]")),
            ("[::1]", Some("[::1]")),
            ("[FE80::1]", Some("[fe80::1]")),
            ("10.0.0.1:80", Some("10.0.0.1")),
            ("", None),
            (":80", None),
        ];
        for (raw, want) in cases {
            let got = normalize_host(raw.as_bytes(), &mut buf).map(|h| h.to_vec());
            assert_eq!(got, want.map(|s| s.as_bytes().to_vec()), "{raw}");
        }
        assert_eq!(normalize_host("a".repeat(256).as_bytes(), &mut buf), None);
    }
}
