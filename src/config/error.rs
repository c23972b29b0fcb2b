//! Config errors that say where and why: `weir.toml: timeouts.header: invalid duration "5x"`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, or `command line` for flags.
    pub file: String,
    /// The dotted key, e.g. `upstream.servers[1]`; empty for whole-file errors.
    pub key: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(file: &str, key: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError {
            file: file.into(),
            key: key.into(),
            reason: reason.into(),
        }
    }
}

impl ConfigError {
    /// Adds ` (line N)` for the key, when `text` writes it and the reason does not say
    /// a line already: errors found after parsing (routes, groups) then point where
    /// serde's errors do.
    pub(super) fn with_line(mut self, text: &str) -> Self {
        if self.key.is_empty() || self.reason.contains("(line ") {
            return self;
        }
        let span = super::key_path::span_of(text, &self.key);
        if span.is_some() {
            self.reason.push_str(&super::line_of(text, span));
        }
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file, self.reason)
        } else {
            write!(f, "{}: {}: {}", self.file, self.key, self.reason)
        }
    }
}

impl std::error::Error for ConfigError {}
