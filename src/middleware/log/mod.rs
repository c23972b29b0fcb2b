//! The `log` built-in: one access-log line per request, written in `on_complete`, so
//! local replies and failed requests are logged too.
//!
//! ```toml
//! [[middleware]]
//! builtin = "log"
//! config = { format = "combined", path = "-" }   # or format = "json", path = "/var/log/weir.log"
//! # buffer = "32k", flush = "1s"                 # the defaults; buffer = 0 writes each line at once
//! ```
//! `combined` is the nginx/Apache combined format followed by `upstream=` and `rt=`
//! (seconds), which log tools that read combined lines ignore. `json` is one object per
//! line. Lines are formatted straight into a per-thread buffer, without allocating, and
//! written out whole (see `sink` for when, and what a SIGKILL loses).

mod config;
mod format;
mod recent;
mod sink;
mod stamp;
mod text;

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::sync::Arc;

pub use config::{Config, Format};
pub use sink::flush_all;

use super::{Ctx, Hooks, Middleware, Summary};
use sink::Sink;

pub struct AccessLog {
    name: String,
    format: Format,
    sink: Arc<Sink>,
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
            sink: Sink::new(out, config.buffer, config.flush),
        })
    }
}

impl Middleware for AccessLog {
    fn name(&self) -> &str {
        &self.name
    }

    fn hooks(&self) -> Hooks {
        Hooks::ON_COMPLETE
    }

    fn on_complete(&self, cx: &Ctx, summary: &Summary<'_>) {
        self.sink.line(|line| match self.format {
            Format::Combined => format::combined(line, cx, summary),
            Format::Json => format::json(line, cx, summary),
        });
    }
}
