//! The C ABI as the host sees it.
//!
//! The `#[repr(C)]` mirror of `plugins/sdk/include/weir_plugin.h` lives once, in the SDK
//! (`weir_plugin::abi`, with its layout assertions), and host and plugins share it: a
//! second copy here could drift from the header without any test noticing. What only
//! the host needs (the init signature, the symbol names) is added below.

use std::ffi::c_char;

pub use weir_plugin::abi::*;

pub type Init = unsafe extern "C" fn(*const Host, *mut c_char, usize) -> *const Plugin;

/// The symbols every plugin exports.
pub const VERSION_SYMBOL: &str = "weir_abi_version";
pub const INIT_SYMBOL: &str = "weir_plugin_init_v1";
