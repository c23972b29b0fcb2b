//! The `log` built-in: one access-log line per request, written in `on_complete`, so
//! local replies and failed requests are logged too.
//!
//! ```toml
//! [[middleware]]
//! builtin = "log"
//! config = { format = "combined", path = "-" }   # or format = "json", path = "/var/log/weir.log"
//! ```
//! `combined` is the nginx/Apache combined format followed by `upstream=` and `rt=`
//! (seconds), which log tools that read combined lines ignore. `json` is one object per
//! line. Lines are written whole under a lock, so concurrent requests never interleave.

mod format;

use std::cell::RefCell;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::sync::Mutex;

use serde::Deserialize;

use super::{Ctx, Middleware, Summary};

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Combined,
    Json,
}

/// The `config` table of a `log` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub format: Format,
    /// `-` for standard output, else a file opened for appending.
    #[serde(default = "stdout_path")]
    pub path: String,
}

fn stdout_path() -> String {
    "-".into()
}

impl Default for Config {
    fn default() -> Self {
        Config {
            format: Format::Combined,
            path: stdout_path(),
        }
    }
}

pub struct AccessLog {
    name: String,
    format: Format,
    out: Mutex<Box<dyn Write + Send>>,
}

impl AccessLog {
    /// Opens the log's destination; a file that cannot be opened is a start-up error.
    pub fn new(name: String, config: &Config) -> io::Result<Self> {
        let out: Box<dyn Write + Send> = if config.path == "-" {
            Box::new(io::stdout())
        } else {
            Box::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&config.path)?,
            )
        };
        Ok(AccessLog {
            name,
            format: config.format,
            out: Mutex::new(out),
        })
    }
}

thread_local! {
    /// Each executor thread formats into its own buffer: no allocation per line.
    static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl Middleware for AccessLog {
    fn name(&self) -> &str {
        &self.name
    }

    fn on_complete(&self, cx: &Ctx, summary: &Summary<'_>) {
        LINE.with_borrow_mut(|line| {
            line.clear();
            match self.format {
                Format::Combined => format::combined(line, cx, summary),
                Format::Json => format::json(line, cx, summary),
            }
            line.push(b'\n');
            let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
            // A full disk or closed stdout must not fail the request; drop the line.
            let _ = out.write_all(line);
        });
    }
}
