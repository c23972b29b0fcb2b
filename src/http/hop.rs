//! Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection, so a proxy
//! removes them, and every header the `Connection` field names, before adding its own.
//! Framing headers go too: weir writes its own from the framing it decided.

use super::headers::Headers;

/// Always connection-specific, whatever `Connection` says.
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
    HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
}

/// Whether `name` is as long as one of [`HOP_BY_HOP`]: most fields (`host`, `accept`,
/// `date`, ...) are not, and skip the nine comparisons (~50 instructions a field).
fn might_be_hop(name: &[u8]) -> bool {
    name.len() < 32 && HOP_BY_HOP_LENGTHS & (1 << name.len()) != 0
}

/// A bit per length of the names in [`HOP_BY_HOP`].
const HOP_BY_HOP_LENGTHS: u32 = {
    let mut bits = 0;
    let mut i = 0;
    while i < HOP_BY_HOP.len() {
        bits |= 1 << HOP_BY_HOP[i].len();
        i += 1;
    }
    bits
};

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
        let hop = might_be_hop(name)
            && HOP_BY_HOP.iter().any(|h| {
                super::name_eq::same_name(name, h.as_bytes())
                    && !(keep_length && *h == "content-length")
            });
        !hop && !named
            .iter()
            .any(|n| n.as_bytes().eq_ignore_ascii_case(name))
    });
    options
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
    fn the_length_filter_passes_every_hop_by_hop_name() {
        for name in HOP_BY_HOP {
            assert!(might_be_hop(name.to_ascii_uppercase().as_bytes()), "{name}");
        }
        for name in [
            "host",
            "accept",
            "date",
            "x-forwarded-for-and-a-very-long-name",
        ] {
            assert!(!might_be_hop(name.as_bytes()), "{name}");
        }
    }
}
