//! The `headers` built-in: set, add and remove request and response headers.
//!
//! ```toml
//! [[middleware]]
//! builtin = "headers"
//! config = { request = { set = { "X-Env" = "prod" }, remove = ["X-Debug"] },
//!            response = { add = { "Cache-Control" = "no-store" } } }
//! ```
//! Each side applies `remove`, then `set` (replace), then `add` (append). Names and
//! values are checked when the config loads: a value with CR, LF or NUL never gets in,
//! and framing or hop-by-hop names (Content-Length, Connection, ...) are refused.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Ctx, Flow, Hooks, Middleware};
use crate::http::headers::{check, InvalidHeader};
use crate::http::hop::is_hop_by_hop;
use crate::http::{Headers, RequestHead, ResponseHead};

/// Edits for one side (request or response).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edits {
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    #[serde(default)]
    pub add: BTreeMap<String, String>,
    #[serde(default)]
    pub remove: Vec<String>,
}

/// The `config` table of a `headers` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub request: Edits,
    #[serde(default)]
    pub response: Edits,
}

impl Edits {
    fn validate(&self) -> Result<(), InvalidHeader> {
        let names = self.set.keys().chain(self.add.keys()).chain(&self.remove);
        for n in names {
            // weir writes framing and connection headers itself; a configured one would
            // sit beside weir's own (two Content-Lengths is a smuggling hole).
            if is_hop_by_hop(n) {
                return Err(InvalidHeader {
                    name: n.clone(),
                    reason: "framing and hop-by-hop headers are managed by weir",
                });
            }
        }
        for (n, v) in self.set.iter().chain(&self.add) {
            check(n, v.as_bytes())?;
        }
        for n in &self.remove {
            check(n, b"")?;
        }
        Ok(())
    }

    fn apply(&self, h: &mut Headers) {
        for n in &self.remove {
            h.remove(n);
        }
        // Checked at load time, so these cannot fail.
        for (n, v) in &self.set {
            let _ = h.set(n, v);
        }
        for (n, v) in &self.add {
            let _ = h.add(n, v);
        }
    }
}

pub struct HeaderRewrite {
    name: String,
    config: Config,
}

impl HeaderRewrite {
    /// Validates every name and value up front.
    pub fn new(name: String, config: Config) -> Result<Self, InvalidHeader> {
        config.request.validate()?;
        config.response.validate()?;
        Ok(HeaderRewrite { name, config })
    }
}

impl Middleware for HeaderRewrite {
    fn name(&self) -> &str {
        &self.name
    }

    fn hooks(&self) -> Hooks {
        Hooks::ON_REQUEST | Hooks::ON_RESPONSE
    }

    fn on_request(&self, _cx: &mut Ctx, req: &mut RequestHead) -> Flow {
        self.config.request.apply(&mut req.headers);
        Flow::Continue
    }

    fn on_response(&self, _cx: &mut Ctx, res: &mut ResponseHead) {
        self.config.response.apply(&mut res.headers);
    }
}
