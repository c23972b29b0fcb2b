//! Dynamic middleware: shared libraries that speak the C ABI in
//! `plugins/sdk/include/weir_plugin.h`.
//!
//! A key design decision: the boundary is plain C, not Rust's unstable ABI. A plugin
//! can be written in any language that speaks C, and built with any compiler version;
//! the only lock-step is the ABI major version, checked before any plugin code runs.
//! This is the one place in weir with `unsafe`; every block says why it is sound.
//!
//! - [`abi`]: the `#[repr(C)]` mirror of the header, with layout assertions.
//! - [`load`](mod@load): open, version-check, init, validate; libraries are never unloaded.
//! - `host`: the services weir offers plugins; `call`: the per-hook view they act on.
//! - [`ffi_middleware`]: the adapter that makes a plugin instance a `Middleware`.
//! - [`RequestStates`]: per-request plugin state, balanced even when a request is
//!   abandoned.
//! - [`vet`]: a library new to this process is loaded first in a short-lived child
//!   process, so one that crashes or hangs while loading cannot take weir down.
//! - `throttle`: one instance's error lines (panics, failures) held back per hook, so
//!   a hook failing on every request cannot flood the log.

#![allow(
    unsafe_code,
    reason = "calling into foreign code is the point of this module; each block has a SAFETY note"
)]

pub mod abi;
mod call;
pub mod ffi_middleware;
mod host;
pub mod load;
mod state;
#[cfg(test)]
mod tests;
mod throttle;
pub mod vet;

pub use ffi_middleware::FfiMiddleware;
pub use load::{load, LoadError};
pub use state::RequestStates;
