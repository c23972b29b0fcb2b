//! The `config` table of a `log` entry, nginx's `access_log` knobs included.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// nginx's default `buffer=` size.
pub const DEFAULT_BUFFER: usize = 32 * 1024;
/// nginx's usual `flush=`.
pub const DEFAULT_FLUSH: Duration = Duration::from_secs(1);
/// The largest buffer taken: a buffer per thread is held in memory.
const MAX_BUFFER: u64 = 64 * 1024 * 1024;

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Combined,
    Json,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub format: Format,
    /// `-` for standard output, else a file opened for appending.
    #[serde(default = "stdout_path")]
    pub path: String,
    /// Bytes each thread gathers before writing: `"32k"`, `"1m"`, `4096`; 0 writes
    /// every line at once.
    #[serde(default = "default_buffer", deserialize_with = "size")]
    pub buffer: usize,
    /// The longest a line waits in a buffer: `"1s"`, `"250ms"`.
    #[serde(default = "default_flush", deserialize_with = "flush")]
    pub flush: Duration,
}

fn stdout_path() -> String {
    "-".into()
}

fn default_buffer() -> usize {
    DEFAULT_BUFFER
}

fn default_flush() -> Duration {
    DEFAULT_FLUSH
}

impl Default for Config {
    fn default() -> Self {
        Config {
            format: Format::Combined,
            path: stdout_path(),
            buffer: DEFAULT_BUFFER,
            flush: DEFAULT_FLUSH,
        }
    }
}

/// Parses a byte size the nginx way: digits, then nothing, `k` or `m`.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid size {s:?}: expected a number of bytes, then k or m"))?;
    let scale = match unit.to_ascii_lowercase().as_str() {
        "" => 1,
        "k" => 1024,
        "m" => 1024 * 1024,
        _ => return Err(format!("invalid size {s:?}: unit must be k or m")),
    };
    match n.checked_mul(scale) {
        Some(n) if n <= MAX_BUFFER => Ok(n as usize),
        _ => Err(format!("size {s:?} is over the 64m limit")),
    }
}

fn size<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = usize;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a size like \"32k\", \"1m\" or a number of bytes (0: unbuffered)")
        }
        fn visit_i64<E: de::Error>(self, n: i64) -> Result<usize, E> {
            parse_size(&n.to_string()).map_err(E::custom)
        }
        fn visit_u64<E: de::Error>(self, n: u64) -> Result<usize, E> {
            parse_size(&n.to_string()).map_err(E::custom)
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<usize, E> {
            parse_size(s).map_err(E::custom)
        }
    }
    d.deserialize_any(V)
}

fn flush<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let d = crate::config::duration::deserialize(d)?;
    if d.is_zero() {
        return Err(de::Error::custom(
            "flush must be longer than 0 (for no buffering, set buffer = 0)",
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_the_nginx_way() {
        assert_eq!(parse_size("32k"), Ok(32 * 1024));
        assert_eq!(parse_size("1M"), Ok(1024 * 1024));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("-1").is_err());
        assert!(parse_size("32kb")
            .unwrap_err()
            .contains("unit must be k or m"));
        assert!(parse_size("65m")
            .unwrap_err()
            .contains("over the 64m limit"));
    }
}
