//! weir: a small, fast HTTP/1.1 reverse proxy and load balancer on smol.
//!
//! Each request runs through a chain of [`Middleware`] — access log, header rewrite,
//! balancer, and any you add — then streams to the chosen upstream over a pooled
//! keep-alive connection. Middleware sees heads only; bodies stream through bounded
//! buffers and never sit whole in memory.
//!
//! Embedding, with a middleware written in Rust:
//!
//! ```no_run
//! use weir::{Config, Ctx, Flow, Middleware, Proxy, RequestHead, Response};
//!
//! struct Deny;
//! impl Middleware for Deny {
//!     fn name(&self) -> &str { "deny-admin" }
//!     fn on_request(&self, _cx: &mut Ctx, req: &mut RequestHead) -> Flow {
//!         if req.path().starts_with("/admin") {
//!             return Flow::Respond(Response::text(403, "no\n"));
//!         }
//!         Flow::Continue
//!     }
//! }
//!
//! let config = Config::load("weir.toml".as_ref()).unwrap();
//! Proxy::new(config).middleware(Deny).bind().unwrap().run().unwrap();
//! ```
//!
//! A key design decision: only [`rt`] names the async runtime. The rest is written
//! against `futures-lite`'s I/O traits, so weir can be rebuilt on another executor and
//! measured against itself.

#![deny(unsafe_code)]

mod admin;
mod admission;
pub mod backend;
pub mod balance;
pub mod config;
mod connection;
mod discovery;
mod downstream;
mod either;
mod engine;
pub mod error;
mod exchange;
mod fds;
pub mod http;
mod idle_wait;
mod in_box;
mod listener_id;
mod listeners;
mod live;
mod metrics;
pub mod middleware;
mod open_clients;
pub mod plugin;
mod privileges;
mod proxy_protocol;
mod quiet;
mod request;
mod request_id;
pub mod route;
pub mod rt;
mod server;
mod shutdown;
mod slot_growth;
mod stream;
mod systemd;
pub mod tls;
mod tunnel;
pub mod upgrade;
pub mod upstream;

pub use config::{Config, ConfigError};
pub use error::Error;
pub use http::{Headers, RequestHead, ResponseHead};
pub use live::Source;
pub use middleware::{Chain, Ctx, Flow, Hooks, Middleware, Response, Summary};
pub use server::{Handle, Proxy, Server, StartError};
pub use upstream::{Upstream, Upstreams};
