//! Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection, so a proxy
//! removes them, and every header the `Connection` field names, before adding its own.
//! Framing headers go too: weir writes its own from the framing it decided.

use super::headers::Headers;

/// Whether `name` is one of the headers a proxy owns: hop-by-hop or framing. Middleware
/// that could set these could desynchronise the framing weir decided.
pub fn is_hop_by_hop(name: &str) -> bool {
    hop_by_hop(name.as_bytes()).is_some()
}

/// The name a proxy owns that `name` is, if any: always connection-specific, whatever
/// `Connection` says (`connection`, `keep-alive`, `proxy-connection`, `te`, `trailer`,
/// `transfer-encoding`, `upgrade`, `proxy-authorization`), or framing
/// (`content-length`). Compared only with the one or two such names as long as it:
/// most fields (`host`, `accept`, `date`, ...) match no length and cost a branch, and
/// a field as long as `connection` (`user-agent`) two comparisons, not nine (the
/// search of the list was ~65 instructions a field, every field of every request and
/// response).
fn hop_by_hop(name: &[u8]) -> Option<&'static str> {
    let same_length: &[&'static str] = match name.len() {
        2 => &["te"],
        7 => &["trailer", "upgrade"],
        10 => &["connection", "keep-alive"],
        14 => &["content-length"],
        16 => &["proxy-connection"],
        17 => &["transfer-encoding"],
        19 => &["proxy-authorization"],
        _ => return None,
    };
    same_length
        .iter()
        .copied()
        .find(|h| name.eq_ignore_ascii_case(h.as_bytes()))
}

/// What the client or origin said about the connection, read before stripping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectionOptions {
    pub close: bool,
    pub keep_alive: bool,
}

/// Removes hop-by-hop and framing headers (keeping `Content-Length` when `keep_length`,
/// as for HEAD and 304 responses where it describes the representation, not this
/// message) and returns the `Connection` options.
pub fn strip(headers: &mut Headers, keep_length: bool) -> ConnectionOptions {
    // One pass over the `Connection` values, before anything is removed: its options,
    // and the names it lists (most messages have no `Connection` field at all, and
    // three passes over every field were ~300 instructions a request).
    let mut options = ConnectionOptions::default();
    let mut named: Vec<String> = Vec::new();
    for value in headers.get_all("connection") {
        for token in value.split(|&c| c == b',') {
            let token = super::ows::trim(token);
            if token.eq_ignore_ascii_case(b"close") {
                options.close = true;
            } else if token.eq_ignore_ascii_case(b"keep-alive") {
                options.keep_alive = true;
            } else if !token.is_empty() {
                named.push(String::from_utf8_lossy(token).into_owned());
            }
        }
    }
    headers.retain(|name, _| {
        let hop = match hop_by_hop(name) {
            Some("content-length") => !keep_length,
            found => found.is_some(),
        };
        !hop && !named
            .iter()
            .any(|n| n.as_bytes().eq_ignore_ascii_case(name))
    });
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name `hop_by_hop` knows.
    const HOP_BY_HOP: [&str; 9] = [
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authorization",
        "content-length",
    ];

    #[test]
    fn strips_listed_and_fixed_hop_headers() {
        let mut h = Headers::new();
        for (n, v) in [
            ("Connection", "close, X-Secret"),
            ("X-Secret", "1"),
            ("Keep-Alive", "timeout=5"),
            ("TE", "trailers"),
            ("Upgrade", "h2c"),
            ("Content-Length", "3"),
            ("Accept", "*/*"),
        ] {
            h.add(n, v).unwrap();
        }
        let opts = strip(&mut h, false);
        assert!(opts.close);
        assert_eq!(h.iter().map(|(n, _)| n).collect::<Vec<_>>(), vec!["Accept"]);
    }

    #[test]
    fn every_hop_by_hop_name_is_found_in_any_case_and_others_are_not() {
        for name in HOP_BY_HOP {
            assert_eq!(hop_by_hop(name.as_bytes()), Some(name));
            assert_eq!(hop_by_hop(name.to_ascii_uppercase().as_bytes()), Some(name));
        }
        for name in [
            "host",
            "accept",
            "date",
            "user-agent",
            "content-type",
            "x-forwarded-for-and-a-very-long-name",
        ] {
            assert_eq!(hop_by_hop(name.as_bytes()), None, "{name}");
        }
    }

    #[test]
    fn content_length_stays_when_asked() {
        let mut h = Headers::new();
        h.add("Content-Length", "3").unwrap();
        h.add("TE", "trailers").unwrap();
        strip(&mut h, true);
        assert_eq!(h.get("content-length"), Some(&b"3"[..]));
        assert!(h.get("te").is_none());
    }
}
