//! weir-plugin: write weir middleware plugins in safe Rust.
//!
//! Implement [`Plugin`] and call [`export!`] once; build the crate as a `cdylib` and name
//! the library in weir's config. The SDK speaks the C ABI of `include/weir_plugin.h`, so
//! the plugin need not be built with the compiler (or even the language) weir was.
//!
//! ```
//! use weir_plugin::{Action, Part, Plugin, Request};
//!
//! #[derive(serde::Deserialize)]
//! struct Config { value: String }
//!
//! struct Hello(String);
//!
//! impl Plugin for Hello {
//!     const NAME: &'static std::ffi::CStr = c"hello";
//!     type Config = Config;
//!     type State = ();
//!     fn new(c: Config) -> Result<Self, String> { Ok(Hello(c.value)) }
//!     fn on_request(&self, _: &mut (), req: &mut Request<'_>) -> Action {
//!         let _ = req.set_header(Part::Request, "X-Hello", &self.0);
//!         Action::Continue
//!     }
//! }
//!
//! weir_plugin::export!(Hello);
//! ```
//!
//! A key design decision: every export runs inside `catch_unwind`. A panic crossing an
//! `extern "C"` boundary aborts the process, so the SDK turns a panicking hook into a
//! failed request (500), logs it once through the host, and lets everything else go on.
//! That needs unwinding, hence the compile error under `panic = "abort"`.

#[cfg(panic = "abort")]
compile_error!(
    "weir plugins must be built with panic = \"unwind\": the SDK turns a panicking hook \
     into a 500 instead of aborting the proxy"
);

pub mod abi;
mod config;
#[doc(hidden)]
pub mod ffi;
mod request;
#[cfg(feature = "testing")]
pub mod testing;

use std::ffi::CStr;
use std::time::Duration;

pub use request::{Action, HostError, Level, Part, Request, Responded};

/// Re-exported so plugin crates need no direct `serde` dependency for configs.
pub use serde;

/// A middleware plugin. One value of it is one instance: a chain entry with its config.
///
/// Hooks run concurrently on several executor threads (hence `Sync`); the hooks of one
/// request never overlap. Hooks must not block. Every hook has a no-op default.
pub trait Plugin: Sized + Send + Sync + 'static {
    /// The name weir shows for this plugin's instances unless the config names them.
    const NAME: &'static CStr;

    /// The chain entry's `config` table, deserialized from the JSON weir hands over.
    type Config: serde::de::DeserializeOwned;

    /// Per-request state, made with `Default` before the first hook of each request and
    /// dropped after `on_complete`. Use `()` for none: then weir skips it entirely.
    type State: Default + Send + 'static;

    /// Makes an instance. `Err` stops weir's start-up with this message.
    fn new(config: Self::Config) -> Result<Self, String>;

    /// Front to back, once the request head is parsed. May rewrite the request head;
    /// [`Request::respond`] answers locally; [`Action::Fail`] (or a panic) answers 500.
    fn on_request(&self, _state: &mut Self::State, _req: &mut Request<'_>) -> Action {
        Action::Continue
    }

    /// Picks an upstream by index (`0..req.upstream_count()`); the first plugin or
    /// built-in that returns `Some` decides. A panic fails the request with 500.
    fn choose_upstream(&self, _state: &mut Self::State, _req: &Request<'_>) -> Option<usize> {
        None
    }

    /// Back to front, on the response head before it is sent: read and change the
    /// status and [`Part::Response`] headers. `Err` (or a panic) sends 500 instead.
    fn on_response(&self, _state: &mut Self::State, _res: &mut Request<'_>) -> Result<(), Fail> {
        Ok(())
    }

    /// Exactly once per request, after the last byte or the failure. Read-only.
    fn on_complete(&self, _state: &mut Self::State, _req: &Request<'_>, _summary: &Summary) {}
}

/// Returned to fail the request with 500.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fail;

/// What happened to a request, for [`Plugin::on_complete`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// The status sent to the client; 0 if nothing could be sent.
    pub status: u16,
    /// The upstream index used, if any.
    pub upstream: Option<usize>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub duration: Duration,
}

/// Exports a [`Plugin`] type as this library's weir plugin. Use it exactly once.
#[macro_export]
macro_rules! export {
    ($plugin:ty) => {
        /// The ABI version weir checks before calling anything in this library.
        #[allow(non_upper_case_globals)]
        #[unsafe(no_mangle)]
        pub static weir_abi_version: u32 = $crate::abi::VERSION;

        /// Hands weir the descriptor of this plugin.
        ///
        /// # Safety
        /// Called by weir's loader as the ABI says: `err` writable for `cap` bytes.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn weir_plugin_init_v1(
            host: *const $crate::abi::Host,
            err: *mut ::std::ffi::c_char,
            cap: usize,
        ) -> *const $crate::abi::Plugin {
            static DESCRIPTOR: $crate::abi::Plugin = $crate::ffi::descriptor::<$plugin>();
            $crate::ffi::init(host, err, cap, &DESCRIPTOR)
        }
    };
}
