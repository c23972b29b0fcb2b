//! The grammar's own whitespace: OWS and BWS are SP and HTAB only (RFC 9110 §5.6.3).
//!
//! Why not `trim_ascii` or `is_ascii_whitespace`: std's notion of whitespace also takes
//! CR, LF and form feed (and `char::is_whitespace` vertical tab too). On the wire those
//! are not whitespace. A bare CR or a form feed that the proxy skips but the origin
//! does not (or the other way round) is how one message is read as two, so every trim
//! or split of protocol bytes goes through this module instead.

/// SP or HTAB.
pub fn is_ows(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// `bytes` without leading SP and HTAB.
pub fn trim_start(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&c| !is_ows(c))
        .unwrap_or(bytes.len());
    &bytes[start..]
}

/// `bytes` without leading or trailing SP and HTAB.
pub fn trim(bytes: &[u8]) -> &[u8] {
    let bytes = trim_start(bytes);
    let end = bytes.iter().rposition(|&c| !is_ows(c)).map_or(0, |i| i + 1);
    &bytes[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sp_and_htab_are_trimmed() {
        assert_eq!(trim(b" \t a b \t "), b"a b");
        assert_eq!(trim(b"\r;x\r"), b"\r;x\r");
        assert_eq!(trim(b"\x0ba\x0c"), b"\x0ba\x0c");
        assert_eq!(trim_start(b" \t;x "), b";x ");
        assert_eq!(trim(b" \t "), b"");
        assert_eq!(trim(b""), b"");
    }
}
