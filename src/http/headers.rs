//! A header list that is safe by construction and cheap to reuse.
//!
//! Names and values live in one byte buffer, laid out as the lines of a head
//! (`Name: value\r\n`), so a run of fields goes out in one copy; the list holds
//! offsets into it. A connection keeps its `Headers` across requests and `clear()`s
//! them, so a warmed-up connection parses and rewrites heads without allocating. Every value that enters through
//! [`Headers::set`] or [`Headers::add`] is checked: no CR, LF or NUL can ever be written
//! out, and names must be RFC 9110 tokens.

use std::fmt;
use std::ops::Range;

/// A header name that is not a token, or a value holding CR, LF or NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidHeader {
    pub name: String,
    pub reason: &'static str,
}

impl fmt::Display for InvalidHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "header {:?}: {}", self.name, self.reason)
    }
}

impl std::error::Error for InvalidHeader {}

#[derive(Clone, Debug)]
struct Entry {
    name: Range<u32>,
    value: Range<u32>,
}

/// An ordered, case-insensitive header list.
#[derive(Clone, Default)]
pub struct Headers {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
}

/// RFC 9110 §5.6.2 `token`: one or more `tchar`.
pub fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&c| TCHAR[usize::from(c)])
}

/// `tchar` by byte, looked up once per byte of every header name of every message (a
/// search of the 15 symbols cost 1,300 instructions a request).
const TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = (i as u8).is_ascii_alphanumeric();
        i += 1;
    }
    let symbols = b"!#$%&'*+-.^_`|~";
    let mut j = 0;
    while j < symbols.len() {
        table[symbols[j] as usize] = true;
        j += 1;
    }
    table
};

/// A field value a proxy may write: no CR, LF or NUL (RFC 9110 §5.5).
pub fn is_safe_value(v: &[u8]) -> bool {
    !v.iter().any(|&c| c == b'\r' || c == b'\n' || c == 0)
}

/// Checks a name/value pair the way [`Headers::add`] does, for config-time validation.
pub fn check(name: &str, value: &[u8]) -> Result<(), InvalidHeader> {
    if !is_token(name.as_bytes()) {
        return Err(InvalidHeader {
            name: name.into(),
            reason: "name is not a valid token",
        });
    }
    if !is_safe_value(value) {
        return Err(InvalidHeader {
            name: name.into(),
            reason: "value contains CR, LF or NUL",
        });
    }
    Ok(())
}

impl Headers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes of memory the list holds (kept across `clear`).
    pub fn capacity(&self) -> usize {
        self.bytes.capacity() + self.entries.capacity() * std::mem::size_of::<Entry>()
    }

    /// Empties the list, keeping its memory for the next message.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn slice(&self, r: &Range<u32>) -> &[u8] {
        &self.bytes[r.start as usize..r.end as usize]
    }

    /// Whether `e` is named `name`, case-insensitively, compared as bytes (no UTF-8 check).
    fn is_named(&self, e: &Entry, name: &str) -> bool {
        super::name_eq::same_name(self.slice(&e.name), name.as_bytes())
    }

    fn name_of(&self, e: &Entry) -> &str {
        // Names are only ever stored after a token check, so they are ASCII.
        std::str::from_utf8(self.slice(&e.name)).unwrap_or("")
    }

    /// All entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.entries
            .iter()
            .map(|e| (self.name_of(e), self.slice(&e.value)))
    }

    /// All entries in order, names as bytes (ASCII tokens by construction): for callers
    /// that take bytes anyway, such as the conversions to `http` maps every h2 message
    /// goes through, without `iter`'s UTF-8 check of each name (~100 instructions a field).
    pub fn fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.entries
            .iter()
            .map(|e| (self.slice(&e.name), self.slice(&e.value)))
    }

    /// The first value of `name`, case-insensitively. Names are compared as bytes here
    /// and in `get_all`: lookups run several times per request, and the UTF-8 check
    /// `iter` makes on every name showed up in profiles.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|e| self.is_named(e, name))
            .map(|e| self.slice(&e.value))
    }

    /// The first value of `name` as text, if it is UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.entries
            .iter()
            .filter(move |e| self.is_named(e, name))
            .map(|e| self.slice(&e.value))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Appends an entry without checks; only for bytes httparse has already validated.
    pub(crate) fn push_parsed(&mut self, name: &str, value: &[u8]) {
        let start = self.bytes.len() as u32;
        self.bytes.extend_from_slice(name.as_bytes());
        let mid = self.bytes.len() as u32;
        self.bytes.extend_from_slice(b": ");
        self.bytes.extend_from_slice(value);
        let end = self.bytes.len() as u32;
        self.bytes.extend_from_slice(b"\r\n");
        self.entries.push(Entry {
            name: start..mid,
            value: mid + 2..end,
        });
    }

    /// Appends fields that already lie as wire lines (`Name: value\r\n`, one after
    /// another) in `lines`, each given by the offsets of its name and value there: one
    /// copy for the whole run instead of two per field (a request's or response's
    /// fields, straight from the read buffer). Without checks, as `push_parsed`; the
    /// caller has made sure of the layout.
    pub(crate) fn push_lines(
        &mut self,
        lines: &[u8],
        fields: impl Iterator<Item = (Range<usize>, Range<usize>)>,
    ) {
        let base = self.bytes.len();
        self.bytes.extend_from_slice(lines);
        let at = |r: Range<usize>| (base + r.start) as u32..(base + r.end) as u32;
        self.entries.extend(fields.map(|(name, value)| Entry {
            name: at(name),
            value: at(value),
        }));
    }

    /// Writes every field as a wire line, except those `skip(name)` picks. Fields that
    /// still lie one after another in the list's buffer (all that were parsed or added
    /// together and not removed since) go out in one copy: the head of a proxied
    /// message is mostly the fields it arrived with.
    pub(crate) fn write_lines(&self, out: &mut Vec<u8>, mut skip: impl FnMut(&[u8]) -> bool) {
        let mut run = 0..0;
        for e in &self.entries {
            if skip(self.slice(&e.name)) {
                continue;
            }
            // `value.end` is followed by the line's CR LF (`push_parsed`, `push_lines`).
            let line = e.name.start as usize..e.value.end as usize + 2;
            if line.start == run.end {
                run.end = line.end;
            } else {
                out.extend_from_slice(&self.bytes[run]);
                run = line;
            }
        }
        out.extend_from_slice(&self.bytes[run]);
    }

    /// Appends `name: value`, keeping any existing values.
    pub fn add(&mut self, name: &str, value: impl AsRef<[u8]>) -> Result<(), InvalidHeader> {
        let value = value.as_ref();
        check(name, value)?;
        self.push_parsed(name, value);
        Ok(())
    }

    /// Replaces every value of `name` with one.
    pub fn set(&mut self, name: &str, value: impl AsRef<[u8]>) -> Result<(), InvalidHeader> {
        let value = value.as_ref();
        check(name, value)?;
        self.remove(name);
        self.push_parsed(name, value);
        Ok(())
    }

    /// Removes every value of `name`; true if any was there.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.entries.len();
        self.retain(|stored, _| !super::name_eq::same_name(stored, name.as_bytes()));
        before != self.entries.len()
    }

    /// Keeps only the entries for which `keep(name, value)` is true. The name is given
    /// as bytes, as `get` compares it: a UTF-8 check per name per call showed up in
    /// profiles (names are tokens, ASCII, by construction).
    ///
    /// A plain loop that moves each kept entry down over the removed ones: a head has a
    /// handful of fields, and `Vec::retain`'s two-phase loop with its panic guard cost
    /// more than the work (bench/profiling.md, "Small keep-alive requests, round six").
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8], &[u8]) -> bool) {
        let mut kept = 0;
        for i in 0..self.entries.len() {
            let e = self.entries[i].clone();
            let name = &self.bytes[e.name.start as usize..e.name.end as usize];
            let value = &self.bytes[e.value.start as usize..e.value.end as usize];
            if keep(name, value) {
                self.entries[kept] = e;
                kept += 1;
            }
        }
        self.entries.truncate(kept);
    }

    /// True if any comma-separated element of any `name` value equals `token`
    /// (case-insensitive), as for `Connection: keep-alive, Upgrade`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name).any(|v| {
            v.split(|&c| c == b',')
                .any(|t| super::ows::trim(t).eq_ignore_ascii_case(token.as_bytes()))
        })
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(n, v)| (n, String::from_utf8_lossy(v))))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_and_add_appends() {
        let mut h = Headers::new();
        h.add("X-A", "1").unwrap();
        h.add("x-a", "2").unwrap();
        assert_eq!(h.get_all("X-A").count(), 2);
        h.set("X-A", "3").unwrap();
        assert_eq!(h.get_all("x-a").collect::<Vec<_>>(), vec![b"3".as_slice()]);
    }

    #[test]
    fn refuses_crlf_nul_and_bad_names() {
        let mut h = Headers::new();
        assert!(h.add("X", "a\r\nEvil: 1").is_err());
        assert!(h.add("X", "a\0").is_err());
        assert!(h.add("Bad Name", "v").is_err());
        assert!(h.add("", "v").is_err());
        assert!(h.is_empty());
    }

    #[test]
    fn a_token_is_letters_digits_and_the_fifteen_symbols() {
        let symbols = b"!#$%&'*+-.^_`|~";
        for c in 0..=255u8 {
            let want = c.is_ascii_alphanumeric() || symbols.contains(&c);
            assert_eq!(is_token(&[c]), want, "byte {c:#04x}");
        }
        assert!(is_token(b"X-Forwarded-For"));
        assert!(!is_token(b""));
        assert!(!is_token(b"a:b"));
    }

    #[test]
    fn lines_skip_removed_and_skipped_fields() {
        let mut h = Headers::new();
        h.add("A", "1").unwrap();
        h.add("B", "2").unwrap();
        h.add("C", "3").unwrap();
        h.add("D", "4").unwrap();
        h.remove("b");
        h.set("A", "5").unwrap();
        let mut out = Vec::new();
        h.write_lines(&mut out, |name| name == b"D");
        assert_eq!(out, b"C: 3\r\nA: 5\r\n");
        out.clear();
        h.write_lines(&mut out, |_| false);
        assert_eq!(out, b"C: 3\r\nD: 4\r\nA: 5\r\n");
        assert_eq!(h.get("a"), Some(&b"5"[..]));
    }

    #[test]
    fn tokens_in_lists() {
        let mut h = Headers::new();
        h.add("Connection", "keep-alive, Upgrade").unwrap();
        assert!(h.has_token("connection", "upgrade"));
        assert!(!h.has_token("connection", "close"));
    }
}
