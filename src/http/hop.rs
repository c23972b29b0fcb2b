//! Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection, so a proxy
//! removes them, and every header the `Connection` field names, before adding its own.
//! Framing headers go too: weir writes its own from the framing it decided.

use super::headers::Headers;

/// Always connection-specific, whatever `Connection` says: the names [`is_fixed_hop`]
/// matches by length (its test checks it against this list).
#[cfg(test)]
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

/// Whether `name` is one of the headers a proxy owns: hop-by-hop or framing. Middleware
/// that could set these could desynchronise the framing weir decided.
pub fn is_hop_by_hop(name: &str) -> bool {
    is_fixed_hop(name.as_bytes(), false)
}

/// Whether `name` is one of the hop-by-hop and framing names (not `Content-Length`
/// when `keep_length`), compared only with the names of its length: one or two word
/// compares a field, where a walk over the nine names was ~65 instructions a field,
/// ~260 a proxied request (bench/profiling.md, "Small keep-alive requests, round six").
fn is_fixed_hop(name: &[u8], keep_length: bool) -> bool {
    let is = |h: &str| super::name_eq::same_name(name, h.as_bytes());
    match name.len() {
        2 => is("te"),
        7 => is("trailer") || is("upgrade"),
        10 => is("connection") || is("keep-alive"),
        14 => !keep_length && is("content-length"),
        16 => is("proxy-connection"),
        17 => is("transfer-encoding"),
        19 => is("proxy-authorization"),
        _ => false,
    }
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
    // One pass removes the fixed names and reads the `Connection` values on the way:
    // its options, and the names it lists, which a second pass removes (most messages
    // have no `Connection` field, or one with options only, and take one pass).
    let mut options = ConnectionOptions::default();
    let mut named: Vec<String> = Vec::new();
    headers.retain(|name, value| {
        if !is_fixed_hop(name, keep_length) {
            return true;
        }
        if super::name_eq::same_name(name, b"connection") {
            read_connection(value, &mut options, &mut named);
        }
        false
    });
    if !named.is_empty() {
        headers.retain(|name, _| {
            !named
                .iter()
                .any(|n| n.as_bytes().eq_ignore_ascii_case(name))
        });
    }
    options
}

/// Notes one `Connection` value's options, and the field names it lists in `named`.
fn read_connection(value: &[u8], options: &mut ConnectionOptions, named: &mut Vec<String>) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_match_by_length_knows_every_hop_by_hop_name_and_no_other() {
        for name in HOP_BY_HOP {
            assert!(
                is_fixed_hop(name.to_ascii_uppercase().as_bytes(), false),
                "{name}"
            );
            let kept = name == "content-length";
            assert_eq!(is_fixed_hop(name.as_bytes(), true), !kept, "{name}");
        }
        for name in [
            "host",
            "accept",
            "date",
            "tf",
            "trailers",
            "connectiom",
            "content-type",
            "proxy-authenticate",
            "x-forwarded-for-and-a-very-long-name",
        ] {
            assert!(!is_fixed_hop(name.as_bytes(), false), "{name}");
        }
    }

    #[test]
    fn a_connection_field_after_the_fields_it_names_still_removes_them() {
        let mut h = Headers::new();
        for (n, v) in [
            ("X-Before", "1"),
            ("Connection", "keep-alive, x-before"),
            ("Connection", "X-After"),
            ("X-After", "2"),
            ("Host", "a"),
        ] {
            h.add(n, v).unwrap();
        }
        let opts = strip(&mut h, false);
        assert!(opts.keep_alive && !opts.close);
        assert_eq!(h.iter().map(|(n, _)| n).collect::<Vec<_>>(), vec!["Host"]);
    }
}
