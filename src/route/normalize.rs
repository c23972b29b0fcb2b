//! Path normalisation (RFC 3986 §6.2.2), so that one resource has one spelling when routed.
//!
//! Routing on the bytes the client sent would let `/%2e%2e/admin`, `/api/../admin` or
//! `//admin` reach a route (or skip one) that the plain spelling would not. The rules, and
//! why each, are on [`normalize_with`]; [`PathRules`] holds the two choices a deployment
//! makes: what an encoded slash is, and whether segments that some origins read as
//! another (`admin;x=1`, `admin.`, `admin%20`) are refused.

use std::fmt;

pub use super::path_rules::{AmbiguousSegments, EscapedSlashes, PathRules};

/// Why a request path cannot be normalised: each is the client's fault (400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormalizeError {
    /// Neither `*` nor a path beginning with `/`.
    NotOriginForm,
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// A `..` segment that would climb above `/`.
    AboveRoot,
    /// A raw `\` byte (or `%5C` when encoded slashes are decoded).
    Backslash,
    /// `%2F` or `%5C` under [`EscapedSlashes::Reject`].
    EncodedSlash,
    /// A `;` (raw or `%3B`) under [`AmbiguousSegments::Reject`]: path parameters, which
    /// Tomcat and Spring strip before matching (`/admin;x=1` is their `/admin`, `..;`
    /// their `..`).
    Semicolon,
    /// An encoded control character (`%00`–`%1F`, `%7F`) under
    /// [`AmbiguousSegments::Reject`]: no path holds one honestly, and origins written in
    /// C stop at `%00` (`/admin%00.png` is their `/admin`) or trim `%09` and `%0A`.
    ControlChar,
    /// An escape of an escape (`%252F` is `%2F` once decoded) under
    /// [`AmbiguousSegments::Reject`]: an origin that decodes twice reads another path
    /// (IIS's double-decoding hole); `%25` before anything but two hex digits is fine.
    DoubleEscape,
    /// A segment ending in `.` or a space under [`AmbiguousSegments::Reject`]: Windows
    /// and IIS drop both, so `/admin.` and `/admin%20` are their `/admin`.
    TrailingDotOrSpace,
}

impl fmt::Display for NormalizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotOriginForm => "path does not begin with '/'",
            Self::BadEscape => "'%' not followed by two hex digits",
            Self::AboveRoot => "'..' climbs above the root",
            Self::Backslash => "'\\' (raw or %5C) in path",
            Self::EncodedSlash => "encoded slash (%2F or %5C) in path",
            Self::Semicolon => "';' (path parameters) in path",
            Self::ControlChar => "encoded control character (%00-%1F, %7F) in path",
            Self::DoubleEscape => "an escaped escape (%25 and two hex digits) in path",
            Self::TrailingDotOrSpace => "a path segment ends in '.' or a space",
        })
    }
}

impl std::error::Error for NormalizeError {}

/// [`normalize_with`] under [`PathRules::KEEP`]: the normal form of a path as written
/// in a config, where `%2F` must stay data and `;` may be meant.
pub fn normalize(path: &[u8], out: &mut Vec<u8>) -> Result<(), NormalizeError> {
    normalize_with(path, PathRules::KEEP, out)
}

/// Writes the normal form of `path` (a request target; anything from `?` is ignored) into
/// `out`, which is cleared first. Reusing `out` across requests means no allocation once
/// it has grown to the longest path seen. One pass:
///
/// - **Percent-decoding of unreserved characters only** (`ALPHA DIGIT - . _ ~`): `%41` is
///   `A`, `%2e` is `.`, `%7E` is `~`. Every other escape stays encoded with its hex digits
///   uppercased (`%3b` becomes `%3B`), because decoding a reserved character changes what
///   the URI means (RFC 3986 §2.2).
/// - **An encoded slash** is what `rules.escaped_slashes` says (see [`EscapedSlashes`]):
///   by default a separator like `/`, so `/api%2F..%2Fadmin` is `/admin`, as an origin
///   that decodes it will read it.
/// - **Dot segments removed** (RFC 3986 §5.2.4): `/a/./b` is `/a/b`, `/a/b/..` is `/a/`.
/// - **Empty segments merged**: `//admin` is `/admin` (nginx's `merge_slashes on`), before
///   dot segments count: `/a//../b` is `/b`.
/// - **`..` above the root is refused** ([`NormalizeError::AboveRoot`], a 400), as nginx
///   does, rather than clamped as RFC 3986 does: no honest client sends it, and clamping
///   would quietly route a probe.
/// - **A raw backslash is refused** ([`NormalizeError::Backslash`], a 400). It is not a URI
///   character (RFC 3986 §2), and some origins treat it as a separator, so `/api/..\admin`
///   could mean `/admin` to the origin while the router saw `/api/…`.
/// - **Ambiguous segments** (`;`, a trailing `.` or `%20`) are refused unless
///   `rules.ambiguous_segments` keeps them (see [`AmbiguousSegments`]).
/// - **Malformed escapes are refused** (`%4`, `%zz`), as nginx does.
/// - **The query is not part of the path**: input stops at the first `?` or `#`.
///
/// The asterisk-form target `*` (`OPTIONS *`) passes unchanged; any other target that does
/// not begin with `/` is refused: absolute-form is turned into origin-form before routing.
pub fn normalize_with(
    path: &[u8],
    rules: PathRules,
    out: &mut Vec<u8>,
) -> Result<(), NormalizeError> {
    out.clear();
    if let Some(end) = plain(path) {
        out.extend_from_slice(&path[..end]);
        return Ok(());
    }
    let end = path
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(path.len());
    let path = &path[..end];
    if path == b"*" {
        out.push(b'*');
        return Ok(());
    }
    if path.first() != Some(&b'/') {
        return Err(NormalizeError::NotOriginForm);
    }
    out.push(b'/');
    let mut i = 1;
    loop {
        // `out` ends with '/' here: copy one segment after it, decoding as we go.
        let start = out.len();
        let (at, separator) = segment(path, i, rules.escaped_slashes, out)?;
        i = at;
        let last = separator == 0;
        match &out[start..] {
            b"" => {}
            b"." => out.truncate(start),
            b".." => {
                if start == 1 {
                    return Err(NormalizeError::AboveRoot);
                }
                // Drop this segment and the one before it, keeping that one's leading '/'.
                let prev = out[..start - 1].iter().rposition(|&b| b == b'/');
                out.truncate(prev.map_or(1, |p| p + 1));
            }
            seg => {
                if rules.ambiguous_segments == AmbiguousSegments::Reject {
                    ambiguous(seg)?;
                }
                if !last {
                    out.push(b'/');
                }
            }
        }
        if last {
            return Ok(());
        }
        i += separator;
    }
}

/// Refuses a segment (not `.` or `..`) that some origins read as another one.
fn ambiguous(seg: &[u8]) -> Result<(), NormalizeError> {
    if seg.contains(&b';') || seg.windows(3).any(|w| w == b"%3B") {
        return Err(NormalizeError::Semicolon);
    }
    // Escapes are uppercased by now: `%0X`, `%1X` and `%7F` are the control characters.
    let control = |w: &[u8]| w[0] == b'%' && (matches!(w[1], b'0' | b'1') || &w[1..] == b"7F");
    if seg.windows(3).any(control) {
        return Err(NormalizeError::ControlChar);
    }
    let double = |w: &[u8]| w.starts_with(b"%25") && hex(w[3]).is_ok() && hex(w[4]).is_ok();
    if seg.windows(5).any(double) {
        return Err(NormalizeError::DoubleEscape);
    }
    if seg.ends_with(b".") || seg.ends_with(b"%20") {
        return Err(NormalizeError::TrailingDotOrSpace);
    }
    Ok(())
}

/// The length of the path part of `target` when one look shows it is already normal (most
/// are): it begins with '/' and has no escape, backslash, `;`, empty segment, or segment
/// beginning or ending with '.'. Then normalising is one scan and one copy, whatever the
/// rules.
#[inline]
fn plain(target: &[u8]) -> Option<usize> {
    if target.first() != Some(&b'/') {
        return None;
    }
    let mut prev = 0;
    for (i, &b) in target.iter().enumerate() {
        match b {
            b'?' | b'#' if prev == b'.' => return None,
            b'?' | b'#' => return Some(i),
            b'%' | b'\\' | b';' => return None,
            b'/' if prev == b'/' || prev == b'.' => return None,
            b'.' if prev == b'/' => return None,
            _ => {}
        }
        prev = b;
    }
    (prev != b'.').then_some(target.len())
}

/// Copies the segment of `path` starting at `i` into `out`, decoding unreserved escapes
/// and uppercasing the rest. Returns where it ends and the length of the separator there:
/// 1 for '/', 3 for a `%2F` that `slashes` decodes, 0 at the end of the path.
fn segment(
    path: &[u8],
    mut i: usize,
    slashes: EscapedSlashes,
    out: &mut Vec<u8>,
) -> Result<(usize, usize), NormalizeError> {
    while let Some(&b) = path.get(i) {
        match b {
            b'/' => return Ok((i, 1)),
            b'\\' => return Err(NormalizeError::Backslash),
            b'%' => {
                let (hi, lo) = match (path.get(i + 1), path.get(i + 2)) {
                    (Some(&h), Some(&l)) => (hex(h)?, hex(l)?),
                    _ => return Err(NormalizeError::BadEscape),
                };
                let c = hi << 4 | lo;
                match (c, slashes) {
                    (b'/' | b'\\', EscapedSlashes::Reject) => {
                        return Err(NormalizeError::EncodedSlash)
                    }
                    (b'/', EscapedSlashes::Decode) => return Ok((i, 3)),
                    (b'\\', EscapedSlashes::Decode) => return Err(NormalizeError::Backslash),
                    _ if is_unreserved(c) => out.push(c),
                    _ => out.extend_from_slice(&[b'%', HEX[hi as usize], HEX[lo as usize]]),
                }
                i += 3;
            }
            _ => {
                // Copy the run of plain bytes up to the next one that needs a look.
                let run = path[i..]
                    .iter()
                    .position(|&b| matches!(b, b'/' | b'\\' | b'%'))
                    .map_or(path.len(), |n| i + n);
                out.extend_from_slice(&path[i..run]);
                i = run;
            }
        }
    }
    Ok((i, 0))
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn hex(c: u8) -> Result<u8, NormalizeError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(NormalizeError::BadEscape),
    }
}

/// RFC 3986 §2.3.
fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

/// Whether a normalised path holds an encoded slash (`%2F`), for an embedder that would
/// rather refuse such paths than pass them on as data.
pub fn has_encoded_slash(normalized: &[u8]) -> bool {
    normalized.windows(3).any(|w| w == b"%2F")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(p: &str) -> Result<String, NormalizeError> {
        let mut out = Vec::new();
        normalize(p.as_bytes(), &mut out).map(|()| String::from_utf8(out).unwrap())
    }

    #[test]
    fn normal_forms() {
        let cases = [
            ("/", "/"),
            ("*", "*"),
            ("/a/b", "/a/b"),
            ("/a/b/", "/a/b/"),
            ("/a/b?x=/../y", "/a/b"),
            ("/a#frag", "/a"),
            ("/%41%62%7e%2D%5f", "/Ab~-_"),
            ("/a%2fb", "/a%2Fb"),
            ("/a%2Fb", "/a%2Fb"),
            ("/%c3%a9", "/%C3%A9"),
            ("/%00", "/%00"),
            ("/a/./b", "/a/b"),
            ("/a/b/.", "/a/b/"),
            ("/a/b/..", "/a/"),
            ("/a/b/../", "/a/"),
            ("/a/b/../c", "/a/c"),
            ("/a/../..x", "/..x"),
            ("/a/.b/c.", "/a/.b/c."),
            ("/a/...", "/a/..."),
            ("//a///b//", "/a/b/"),
            ("/a//../b", "/b"),
        ];
        for (input, want) in cases {
            assert_eq!(norm(input).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn attacks() {
        let cases: [(&str, Result<&str, NormalizeError>); 14] = [
            ("/%2e%2e/admin", Err(NormalizeError::AboveRoot)),
            ("/..", Err(NormalizeError::AboveRoot)),
            ("/a/../../admin", Err(NormalizeError::AboveRoot)),
            ("/api/../admin", Ok("/admin")),
            ("//admin", Ok("/admin")),
            ("/api/%2e%2e/admin", Ok("/admin")),
            ("/api/.%2E/admin", Ok("/admin")),
            ("/api%2f..%2fadmin", Ok("/api%2F..%2Fadmin")),
            ("/./admin", Ok("/admin")),
            ("/%2e/admin", Ok("/admin")),
            ("\\admin", Err(NormalizeError::NotOriginForm)),
            ("/api/..\\admin", Err(NormalizeError::Backslash)),
            ("/api/..%5cadmin", Ok("/api/..%5Cadmin")),
            ("/api/%2", Err(NormalizeError::BadEscape)),
        ];
        for (input, want) in cases {
            assert_eq!(norm(input), want.map(String::from), "{input}");
        }
        assert_eq!(norm("/%zz"), Err(NormalizeError::BadEscape));
        assert_eq!(norm("http://a/b"), Err(NormalizeError::NotOriginForm));
        assert_eq!(norm(""), Err(NormalizeError::NotOriginForm));
    }

    fn strict(p: &str) -> Result<String, NormalizeError> {
        let mut out = Vec::new();
        normalize_with(p.as_bytes(), PathRules::default(), &mut out)
            .map(|()| String::from_utf8(out).unwrap())
    }

    /// The default rules: an encoded slash is a separator, `%5C` a backslash, and
    /// segments some origins read as another are refused.
    #[test]
    fn default_rules_decode_slashes_and_refuse_ambiguous_segments() {
        use NormalizeError::*;
        let cases: [(&str, Result<&str, NormalizeError>); 23] = [
            ("/x/..%2fadmin", Ok("/admin")),
            ("/%2fadmin", Ok("/admin")),
            ("/admin%2Fx", Ok("/admin/x")),
            ("/api%2F..%2F..%2Fadmin", Err(AboveRoot)),
            ("/a%2f", Ok("/a/")),
            ("/a/..%5cadmin", Err(Backslash)),
            ("/admin;x=1", Err(Semicolon)),
            ("/admin..;/", Err(Semicolon)),
            ("/x/..;/admin", Err(Semicolon)),
            ("/admin.", Err(TrailingDotOrSpace)),
            ("/admin%2e", Err(TrailingDotOrSpace)),
            ("/admin%20", Err(TrailingDotOrSpace)),
            ("/admin%3bx", Err(Semicolon)),
            ("/admin%00.png", Err(ControlChar)),
            ("/admin%09", Err(ControlChar)),
            ("/admin%7f/x", Err(ControlChar)),
            ("/admin%252f", Err(DoubleEscape)),
            ("/100%25/off%25of", Ok("/100%25/off%25of")),
            ("/admin./x", Err(TrailingDotOrSpace)),
            ("/admin?x=;.", Ok("/admin")),
            ("/a/./b/../c", Ok("/a/c")),
            ("/v1.2/file.txt", Ok("/v1.2/file.txt")),
            ("/a%20b/.well-known", Ok("/a%20b/.well-known")),
        ];
        for (input, want) in cases {
            assert_eq!(strict(input), want.map(String::from), "{input}");
        }
        let reject = PathRules {
            escaped_slashes: EscapedSlashes::Reject,
            ..PathRules::default()
        };
        let mut out = Vec::new();
        for p in ["/a%2fb", "/a%5Cb"] {
            let got = normalize_with(p.as_bytes(), reject, &mut out);
            assert_eq!(got, Err(EncodedSlash), "{p}");
        }
        assert_eq!(normalize_with(b"/a/b", reject, &mut out), Ok(()));
    }

    #[test]
    fn reuses_the_buffer() {
        let mut out = Vec::with_capacity(64);
        let ptr = out.as_ptr();
        for p in ["/a/b/c", "/x/../y", "//z"] {
            normalize(p.as_bytes(), &mut out).unwrap();
        }
        assert_eq!(out, b"/z");
        assert_eq!(out.as_ptr(), ptr);
    }

    #[test]
    fn encoded_slash_is_visible() {
        assert!(has_encoded_slash(b"/a%2Fb"));
        assert!(!has_encoded_slash(b"/a/b%2E"));
    }

    /// Pseudo-random paths built from the pieces attacks use: whatever comes out is in
    /// normal form, and normalising it again changes nothing.
    #[test]
    fn output_is_normal_and_stable() {
        const PIECES: [&str; 14] = [
            "/", "//", ".", "..", "%2e", "%2E", "%2f", "%5c", "%41", "%7e", "a", "B", "~", "%c3",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let (mut out, mut again) = (Vec::new(), Vec::new());
        for _ in 0..20_000 {
            let mut path = String::from("/");
            for _ in 0..(seed % 9) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                path.push_str(PIECES[(seed % PIECES.len() as u64) as usize]);
            }
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            if normalize(path.as_bytes(), &mut out).is_err() {
                continue;
            }
            normalize(&out, &mut again).unwrap();
            assert_eq!(out, again, "{path}");
            let text = String::from_utf8(out.clone()).unwrap();
            for bad in [
                "//", "/./", "/../", "%2e", "%2E", "%41", "%7e", "%7E", "%2f", "%5c", "%c3",
            ] {
                assert!(!text.contains(bad), "{path} -> {text}");
            }
            assert!(
                !text.ends_with("/.") && !text.ends_with("/.."),
                "{path} -> {text}"
            );
        }
    }
}
