//! The `#[repr(C)]` mirror of `include/weir_plugin.h`, ABI 1.3, as a plugin sees it.
//!
//! The header is the contract; this file only repeats it in Rust. The assertions at
//! the bottom pin sizes and offsets on 64-bit targets, so a field moved or resized on
//! one side without the other fails the build instead of corrupting memory.

use std::ffi::{c_char, c_void};

pub const MAJOR: u32 = 1;
pub const MINOR: u32 = 3;
/// `major << 16 | minor`, as in `weir_abi_version`.
pub const VERSION: u32 = (MAJOR << 16) | MINOR;

pub const CONTINUE: i32 = 0;
pub const RESPOND: i32 = 1;
pub const FAIL: i32 = 2;

pub const PASS: i32 = -1;
pub const UPSTREAM_FAIL: i32 = -2;

pub const PART_REQUEST: u32 = 0;
pub const PART_RESPONSE: u32 = 1;

pub const LOG_ERROR: u32 = 0;
pub const LOG_WARN: u32 = 1;
pub const LOG_INFO: u32 = 2;

pub const OK: i32 = 0;
pub const EINVAL: i32 = -1;
pub const EPHASE: i32 = -2;

/// The host's per-hook request; opaque.
#[repr(C)]
pub struct RawRequest {
    _private: [u8; 0],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct Str {
    pub ptr: *const u8,
    pub len: usize,
}

#[repr(C)]
pub struct Header {
    pub name: *const u8,
    pub name_len: usize,
    pub value: *const u8,
    pub value_len: usize,
}

#[repr(C)]
pub struct Summary {
    pub struct_size: u32,
    pub status: u32,
    pub upstream: i32,
    pub reserved: u32,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub duration_us: u64,
}

type Req = *const RawRequest;
type ReqMut = *mut RawRequest;

#[repr(C)]
pub struct Host {
    pub struct_size: u32,
    pub abi_version: u32,
    pub method: unsafe extern "C" fn(Req) -> Str,
    pub target: unsafe extern "C" fn(Req) -> Str,
    pub path: unsafe extern "C" fn(Req) -> Str,
    pub set_path: unsafe extern "C" fn(ReqMut, *const u8, usize) -> i32,
    pub header_get: unsafe extern "C" fn(Req, u32, *const u8, usize, usize, *mut Str) -> i32,
    pub header_set: unsafe extern "C" fn(ReqMut, u32, *const u8, usize, *const u8, usize) -> i32,
    pub header_add: unsafe extern "C" fn(ReqMut, u32, *const u8, usize, *const u8, usize) -> i32,
    pub header_remove: unsafe extern "C" fn(ReqMut, u32, *const u8, usize) -> i32,
    pub status: unsafe extern "C" fn(Req) -> u32,
    pub set_status: unsafe extern "C" fn(ReqMut, u32) -> i32,
    pub respond: unsafe extern "C" fn(ReqMut, u32, *const Header, usize, *const u8, usize) -> i32,
    pub log: unsafe extern "C" fn(Req, u32, *const u8, usize),
    pub client_ip: unsafe extern "C" fn(Req, *mut u8, usize) -> usize,
    pub upstream_count: unsafe extern "C" fn(Req) -> usize,
    // 1.1
    pub route: unsafe extern "C" fn(Req) -> Str,
    pub upstream_group: unsafe extern "C" fn(Req) -> Str,
    // 1.2
    pub original_target: unsafe extern "C" fn(Req) -> Str,
    // 1.3
    pub protocol: unsafe extern "C" fn(Req) -> Str,
}

/// The size of the host table in ABI 1.0: a plugin checks `struct_size` against the
/// end of a 1.1 field before calling it.
pub const HOST_1_0_SIZE: usize = 120;

/// The size of the host table in ABI 1.1: a plugin checks `struct_size` against the
/// end of a 1.2 field before calling it.
pub const HOST_1_1_SIZE: usize = 136;

/// The size of the host table in ABI 1.2: a plugin checks `struct_size` against the
/// end of a 1.3 field before calling it.
pub const HOST_1_2_SIZE: usize = 144;

pub type InstanceNew = unsafe extern "C" fn(
    *const Host,
    *const u8,
    usize,
    *mut *mut c_void,
    *mut c_char,
    usize,
) -> i32;
pub type InstanceFree = unsafe extern "C" fn(*mut c_void);
pub type RequestNew = unsafe extern "C" fn(*mut c_void, ReqMut, *mut *mut c_void) -> i32;
pub type RequestFree = unsafe extern "C" fn(*mut c_void, *mut c_void);
pub type Hook = unsafe extern "C" fn(*mut c_void, *mut c_void, ReqMut) -> i32;
pub type OnComplete = unsafe extern "C" fn(*mut c_void, *mut c_void, Req, *const Summary);

/// The plugin's descriptor. Hooks are `Option` because NULL means "not implemented".
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Plugin {
    pub struct_size: u32,
    pub reserved: u32,
    pub name: *const c_char,
    pub instance_new: Option<InstanceNew>,
    pub instance_free: Option<InstanceFree>,
    pub request_new: Option<RequestNew>,
    pub request_free: Option<RequestFree>,
    pub on_request: Option<Hook>,
    pub choose_upstream: Option<Hook>,
    pub on_response: Option<Hook>,
    pub on_complete: Option<OnComplete>,
}

// SAFETY: a descriptor is an immutable static table of function pointers and a pointer
// to a static string; sharing it between threads is what the ABI intends.
unsafe impl Sync for Plugin {}

/// The smallest descriptor a 1.x plugin can hand over: the 1.0 layout.
pub const PLUGIN_1_0_SIZE: usize = 80;

#[cfg(target_pointer_width = "64")]
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<Str>() == 16);
    assert!(size_of::<Header>() == 32);
    assert!(size_of::<Summary>() == 40);
    assert!(offset_of!(Summary, bytes_in) == 16);
    assert!(offset_of!(Summary, duration_us) == 32);
    assert!(size_of::<Host>() == 152);
    assert!(offset_of!(Host, protocol) == HOST_1_2_SIZE);
    assert!(offset_of!(Host, original_target) == HOST_1_1_SIZE);
    assert!(offset_of!(Host, route) == HOST_1_0_SIZE);
    assert!(offset_of!(Host, upstream_group) == 128);
    assert!(offset_of!(Host, method) == 8);
    assert!(offset_of!(Host, header_get) == 40);
    assert!(offset_of!(Host, respond) == 88);
    assert!(offset_of!(Host, upstream_count) == 112);
    assert!(size_of::<Plugin>() == PLUGIN_1_0_SIZE);
    assert!(offset_of!(Plugin, name) == 8);
    assert!(offset_of!(Plugin, instance_new) == 16);
    assert!(offset_of!(Plugin, request_new) == 32);
    assert!(offset_of!(Plugin, on_request) == 48);
    assert!(offset_of!(Plugin, on_complete) == 72);
};
