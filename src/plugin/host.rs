//! The host services table (`weir_host`).
//!
//! A hook receives a `weir_request*` that is really a pointer to a [`Call`] on the
//! adapter's stack: the heads this phase may touch, and room for a local reply. The
//! services check the phase (a plugin cannot edit the request once it was forwarded)
//! and run every value through [`Headers`](crate::http::Headers), so CR, LF and NUL can never reach the wire.
//! Hop-by-hop and framing headers (`Content-Length`, `Transfer-Encoding`, `Connection`…)
//! are weir's alone: a plugin that could set them could desynchronise the framing.

use std::io::Write;
use std::time::Instant;

use super::abi::{self, Header, RawRequest, Str};
use super::call::{Call, Req};
use super::throttle::Verdict;
use crate::http::hop;
use crate::middleware::Response;

/// The table handed to every plugin's init; it lives for the whole process.
pub static HOST: abi::Host = abi::Host {
    struct_size: std::mem::size_of::<abi::Host>() as u32,
    abi_version: abi::VERSION,
    method,
    target,
    path,
    set_path,
    header_get,
    header_set,
    header_add,
    header_remove,
    status,
    set_status,
    respond,
    log,
    client_ip,
    upstream_count,
    route,
    upstream_group,
    original_target,
    protocol,
};

/// # Safety
/// `r` must be the pointer a hook received, during that hook.
unsafe fn call<'a>(r: *const RawRequest) -> &'a Call<'a> {
    // SAFETY: by this function's contract `r` came from `Call::raw` and the Call outlives
    // the hook; the adapter holds no other reference to it while the hook runs.
    unsafe { &*r.cast::<Call<'a>>() }
}

/// # Safety
/// As [`call`].
unsafe fn call_mut<'a>(r: *mut RawRequest) -> &'a mut Call<'a> {
    // SAFETY: as in `call`; the plugin's thread is the only one using the Call.
    unsafe { &mut *r.cast::<Call<'a>>() }
}

/// # Safety
/// `ptr` must be readable for `len` bytes (or `len` is 0).
unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if len == 0 || ptr.is_null() {
        return &[];
    }
    // SAFETY: by this function's contract.
    unsafe { std::slice::from_raw_parts(ptr, len) }
}

/// # Safety
/// As [`bytes`].
unsafe fn text<'a>(ptr: *const u8, len: usize) -> Option<&'a str> {
    // SAFETY: by this function's contract.
    std::str::from_utf8(unsafe { bytes(ptr, len) }).ok()
}

fn view(b: &[u8]) -> Str {
    Str {
        ptr: b.as_ptr(),
        len: b.len(),
    }
}

/// # Safety
/// Called by a plugin during a hook, with that hook's handle and views valid as
/// `weir_plugin.h` requires for this service.
unsafe extern "C" fn method(r: *const RawRequest) -> Str {
    // SAFETY: `r` is the hook's request (ABI rule for every service).
    let c = unsafe { call(r) };
    view(c.request().map_or(&b""[..], |q| q.method.as_bytes()))
}

/// # Safety
/// Called by a plugin during a hook, with that hook's handle and views valid as
/// `weir_plugin.h` requires for this service.
unsafe extern "C" fn target(r: *const RawRequest) -> Str {
    // SAFETY: `r` is the hook's request.
    let c = unsafe { call(r) };
    view(c.request().map_or(&b""[..], |q| q.target.as_bytes()))
}

/// # Safety
/// Called by a plugin during a hook, with that hook's handle and views valid as
/// `weir_plugin.h` requires for this service.
unsafe extern "C" fn path(r: *const RawRequest) -> Str {
    // SAFETY: `r` is the hook's request.
    let c = unsafe { call(r) };
    view(c.request().map_or(&b""[..], |q| q.path().as_bytes()))
}

/// A path a plugin may set: what a client's target may carry (see `request`'s docs),
/// without a query.
fn valid_path(p: &str) -> bool {
    p.starts_with('/')
        && p.bytes()
            .all(|b| b.is_ascii_graphic() && !b"?#\"<>".contains(&b))
}

/// # Safety
/// Called by a plugin during a hook, with that hook's handle and views valid as
/// `weir_plugin.h` requires for this service.
unsafe extern "C" fn set_path(r: *mut RawRequest, ptr: *const u8, len: usize) -> i32 {
    // SAFETY: `r` is the hook's request; `ptr` is readable for `len` (ABI).
    let (c, p) = unsafe { (call_mut(r), text(ptr, len)) };
    let Req::Write(req) = &mut c.req else {
        return abi::EPHASE;
    };
    let Some(p) = p.filter(|p| valid_path(p)) else {
        return abi::EINVAL;
    };
    let query = req.target.find('?').map(|i| req.target[i..].to_string());
    req.target.clear();
    req.target.push_str(p);
    req.target.push_str(query.as_deref().unwrap_or(""));
    abi::OK
}

/// # Safety
/// Called by a plugin during a hook, with that hook's handle and views valid as
/// `weir_plugin.h` requires for this service.
unsafe extern "C" fn header_get(
    r: *const RawRequest,
    part: u32,
    name: *const u8,
    name_len: usize,
    index: usize,
    out: *mut Str,
) -> i32 {
    // SAFETY: `r` is the hook's request; `name` is readable for `name_len` (ABI).
    let (c, name) = unsafe { (call(r), text(name, name_len)) };
    let found = match (c.headers(part), name) {
        (Some(h), Some(name)) => h.get_all(name).nth(index),
        _ => None,
    };
    match found {
        Some(v) if !out.is_null() => {
            // SAFETY: non-NULL and, per the ABI, a writable `weir_str`.
            unsafe { out.write(view(v)) };
            1
        }
        Some(_) => 1,
        None => 0,
    }
}

/// # Safety
/// The arguments of `header_set` / `header_add`.
unsafe fn edit(
    r: *mut RawRequest,
    part: u32,
    name: (*const u8, usize),
    value: (*const u8, usize),
    replace: bool,
) -> i32 {
    // SAFETY: by this function's contract.
    let (c, name, value) = unsafe { (call_mut(r), text(name.0, name.1), bytes(value.0, value.1)) };
    let Some(h) = c.headers_mut(part) else {
        return abi::EPHASE;
    };
    let Some(name) = name.filter(|n| !hop::is_hop_by_hop(n)) else {
        return abi::EINVAL;
    };
    let done = if replace {
        h.set(name, value)
    } else {
        h.add(name, value)
    };
    done.map_or(abi::EINVAL, |()| abi::OK)
}

/// # Safety
/// Called by a plugin during a hook, with that hook's handle and views valid as
/// `weir_plugin.h` requires for this service.
unsafe extern "C" fn header_set(
    r: *mut RawRequest,
    part: u32,
    name: *const u8,
    name_len: usize,
    value: *const u8,
    value_len: usize,
) -> i32 {
    // SAFETY: forwarded under the same ABI contract.
    unsafe { edit(r, part, (name, name_len), (value, value_len), true) }
}

/// # Safety
/// Called by a plugin during a hook, with that hook's handle and views valid as
/// `weir_plugin.h` requires for this service.
unsafe extern "C" fn header_add(
    r: *mut RawRequest,
    part: u32,
    name: *const u8,
    name_len: usize,
    value: *const u8,
    value_len: usize,
) -> i32 {
    // SAFETY: forwarded under the same ABI contract.
    unsafe { edit(r, part, (name, name_len), (value, value_len), false) }
}

/// # Safety
/// Called by a plugin during a hook, with that hook's handle and views valid as
/// `weir_plugin.h` requires for this service.
unsafe extern "C" fn header_remove(
    r: *mut RawRequest,
    part: u32,
    name: *const u8,
    name_len: usize,
) -> i32 {
    // SAFETY: `r` is the hook's request; `name` is readable for `name_len`.
    let (c, name) = unsafe { (call_mut(r), text(name, name_len)) };
    let Some(h) = c.headers_mut(part) else {
        return abi::EPHASE;
    };
    let Some(name) = name.filter(|n| !hop::is_hop_by_hop(n)) else {
        return abi::EINVAL;
    };
    let mut n = 0;
    h.retain(|k, _| {
        let hit = k.eq_ignore_ascii_case(name.as_bytes());
        n += i32::from(hit);
        !hit
    });
    n
}

/// # Safety
/// Called by a plugin during a hook, with that hook's handle and views valid as
/// `weir_plugin.h` requires for this service.
unsafe extern "C" fn status(r: *const RawRequest) -> u32 {
    // SAFETY: `r` is the hook's request.
    let c = unsafe { call(r) };
    u32::from(c.res.as_deref().map_or(c.status, |r| r.status))
}

/// # Safety
/// Called by a plugin during a hook, with that hook's handle and views valid as
/// `weir_plugin.h` requires for this service.
unsafe extern "C" fn set_status(r: *mut RawRequest, status: u32) -> i32 {
    // SAFETY: `r` is the hook's request.
    let c = unsafe { call_mut(r) };
    let Some(res) = c.res.as_deref_mut() else {
        return abi::EPHASE;
    };
    if !(100..=999).contains(&status) {
        return abi::EINVAL;
    }
    res.status = status as u16;
    res.reason.clear();
    abi::OK
}

/// # Safety
/// Called by a plugin during a hook, with that hook's handle and views valid as
/// `weir_plugin.h` requires for this service.
unsafe extern "C" fn respond(
    r: *mut RawRequest,
    status: u32,
    headers: *const Header,
    n: usize,
    body: *const u8,
    body_len: usize,
) -> i32 {
    // SAFETY: `r` is the hook's request.
    let c = unsafe { call_mut(r) };
    if !matches!(c.req, Req::Write(_)) {
        return abi::EPHASE;
    }
    if !(200..=999).contains(&status) {
        return abi::EINVAL;
    }
    let mut reply = Response::new(status as u16);
    let list: &[Header] = if n == 0 || headers.is_null() {
        &[]
    } else {
        // SAFETY: the ABI says `headers` points at `n` readable entries.
        unsafe { std::slice::from_raw_parts(headers, n) }
    };
    for h in list {
        // SAFETY: each entry's views are readable for their lengths (ABI).
        let (name, value) = unsafe { (text(h.name, h.name_len), bytes(h.value, h.value_len)) };
        let name = name.filter(|n| !hop::is_hop_by_hop(n));
        match name.map(|name| reply.headers.add(name, value)) {
            Some(Ok(())) => {}
            _ => return abi::EINVAL,
        }
    }
    // SAFETY: `body` is readable for `body_len` (ABI); copied here.
    reply.body = unsafe { bytes(body, body_len) }.to_vec();
    c.reply = Some(reply);
    abi::OK
}

/// # Safety
/// Called by a plugin during a hook, with that hook's handle and views valid as
/// `weir_plugin.h` requires for this service.
unsafe extern "C" fn log(r: *const RawRequest, level: u32, msg: *const u8, len: usize) {
    let (name, throttle) = if r.is_null() {
        ("plugin", None)
    } else {
        // SAFETY: non-NULL, so the hook's request.
        let c = unsafe { call(r) };
        (c.name, c.throttle)
    };
    let mut line = String::new();
    if let (abi::LOG_ERROR, Some((throttle, hook))) = (level, throttle) {
        match throttle.admit(hook, Instant::now()) {
            Verdict::Hold => return,
            Verdict::Write { held: 0, .. } => {}
            Verdict::Write { held, over } => {
                line = format!(
                    "weir: {name}: error: {held} more error line(s) from {} held back in the last {:.1}s\n",
                    hook.name(),
                    over.as_secs_f64()
                );
            }
        }
    }
    // SAFETY: `msg` is readable for `len` (ABI).
    let msg = String::from_utf8_lossy(unsafe { bytes(msg, len) });
    let level = match level {
        abi::LOG_ERROR => "error",
        abi::LOG_WARN => "warn",
        _ => "info",
    };
    line += &format!("weir: {name}: {level}: {}\n", msg.trim_end());
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// # Safety
/// Called by a plugin during a hook, with that hook's handle and views valid as
/// `weir_plugin.h` requires for this service.
unsafe extern "C" fn client_ip(r: *const RawRequest, buf: *mut u8, cap: usize) -> usize {
    // SAFETY: `r` is the hook's request.
    let ip = unsafe { call(r) }.client;
    // The longest IPv6 text is 45 bytes; format on the stack, not the heap.
    let mut text = [0u8; 64];
    let mut cursor = &mut text[..];
    let _ = write!(cursor, "{ip}");
    let len = 64 - cursor.len();
    if len <= cap && !buf.is_null() {
        // SAFETY: `buf` is writable for `cap` bytes (ABI) and the text fits.
        unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), buf, len) };
    }
    len
}

/// # Safety
/// Called by a plugin during a hook, with that hook's handle and views valid as
/// `weir_plugin.h` requires for this service.
unsafe extern "C" fn upstream_count(r: *const RawRequest) -> usize {
    // SAFETY: `r` is the hook's request.
    unsafe { call(r) }.upstreams
}

/// # Safety
/// `r` is the hook's request.
unsafe extern "C" fn route(r: *const RawRequest) -> Str {
    // SAFETY: `r` is the hook's request.
    view(unsafe { call(r) }.route.as_bytes())
}

/// # Safety
/// `r` is the hook's request.
unsafe extern "C" fn upstream_group(r: *const RawRequest) -> Str {
    // SAFETY: `r` is the hook's request.
    view(unsafe { call(r) }.upstream_group.as_bytes())
}

/// # Safety
/// `r` is the hook's request.
unsafe extern "C" fn original_target(r: *const RawRequest) -> Str {
    // SAFETY: `r` is the hook's request.
    let c = unsafe { call(r) };
    view(
        c.request()
            .map_or(&b""[..], |q| q.client_target().as_bytes()),
    )
}

/// # Safety
/// `r` is the hook's request.
unsafe extern "C" fn protocol(r: *const RawRequest) -> Str {
    // SAFETY: `r` is the hook's request.
    let c = unsafe { call(r) };
    // A cleared head (one that never parsed) has no method: its protocol is unknown.
    let parsed = c.request().filter(|q| !q.method.is_empty());
    view(parsed.map_or(&b""[..], |q| q.protocol.as_str().as_bytes()))
}
